import type { IngestProgress } from '../pipeline/ingest.js';
import type { LoadProgress } from '../pipeline/loaders-node.js';

const WIDTH = 24;

/**
 * Shows ingest progress on stderr: a redrawn bar on a terminal, a line every few seconds otherwise
 * (CI logs), nothing when `quiet`. It follows both the loader (files read and skipped, against
 * `totalFiles` when known) and ingest (sources, chunks embedded and written).
 */
export function createProgressReporter(options: { quiet: boolean; stream?: NodeJS.WriteStream }) {
  const stream = options.stream ?? process.stderr;
  const tty = stream.isTTY === true;
  const started = performance.now();
  let lastLine = 0;
  let drawn = false;
  let totalFiles: number | undefined;
  let files: LoadProgress | undefined;
  let ingest: IngestProgress | undefined;
  const describe = () => {
    const seconds = (performance.now() - started) / 1000;
    const loaded = files
      ? `${files.files}${totalFiles !== undefined ? `/${totalFiles}` : ''} files (${files.skipped} skipped) · `
      : '';
    const counts =
      `${ingest?.sources ?? 0} sources (${ingest?.unchanged ?? 0} unchanged) · ${loaded}` +
      `${ingest?.chunksEmbedded ?? 0} chunks embedded · ${ingest?.chunksWritten ?? 0} written · ${seconds.toFixed(1)} s`;
    if (totalFiles === undefined || totalFiles === 0) return `${(ingest?.phase ?? 'scan').padEnd(7)} ${counts}`;
    const done = ingest?.phase === 'done' ? totalFiles : (files?.files ?? 0);
    const filled = Math.min(WIDTH, Math.round((done / totalFiles) * WIDTH));
    return `[${'#'.repeat(filled)}${'-'.repeat(WIDTH - filled)}] ${counts}`;
  };
  const draw = (final: boolean) => {
    if (options.quiet) return;
    const now = performance.now();
    if (tty) {
      if (now - lastLine < 50 && !final) return;
      stream.write(`\r\x1b[2K${describe()}`);
      drawn = true;
    } else if (now - lastLine >= 2000 || final) {
      stream.write(`${describe()}\n`);
    } else {
      return;
    }
    lastLine = now;
  };
  return {
    /** The number of files the loader will handle, for the bar. */
    setTotalFiles(total: number) {
      totalFiles = total;
    },
    /** The loader's progress (after each file). */
    load(progress: LoadProgress) {
      files = progress;
      draw(false);
    },
    update(progress: IngestProgress) {
      ingest = progress;
      draw(progress.phase === 'done');
    },
    finish() {
      if (drawn) stream.write('\n');
    },
  };
}
