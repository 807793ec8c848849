import type { IngestProgress } from '../pipeline/ingest.js';

const WIDTH = 24;

/**
 * Shows ingest progress on stderr: a redrawn bar on a terminal, a line every few seconds otherwise
 * (CI logs), nothing when `quiet`.
 */
export function createProgressReporter(options: { quiet: boolean; stream?: NodeJS.WriteStream }) {
  const stream = options.stream ?? process.stderr;
  const tty = stream.isTTY === true;
  const started = performance.now();
  let lastLine = 0;
  let drawn = false;
  const describe = (p: IngestProgress) => {
    const seconds = (performance.now() - started) / 1000;
    const counts = `${p.sources}${p.total !== undefined ? `/${p.total}` : ''} sources (${p.unchanged} unchanged) · ${p.chunksEmbedded} chunks embedded · ${p.chunksWritten} written · ${seconds.toFixed(1)} s`;
    if (p.total === undefined || p.total === 0) return `${p.phase.padEnd(7)} ${counts}`;
    const filled = Math.min(WIDTH, Math.round((p.sources / p.total) * WIDTH));
    return `[${'#'.repeat(filled)}${'-'.repeat(WIDTH - filled)}] ${counts}`;
  };
  return {
    update(progress: IngestProgress) {
      if (options.quiet) return;
      const now = performance.now();
      if (tty) {
        if (now - lastLine < 50 && progress.phase !== 'done') return;
        stream.write(`\r\x1b[2K${describe(progress)}`);
        drawn = true;
      } else if (now - lastLine >= 2000 || progress.phase === 'done') {
        stream.write(`${describe(progress)}\n`);
      } else {
        return;
      }
      lastLine = now;
    },
    finish() {
      if (drawn) stream.write('\n');
    },
  };
}
