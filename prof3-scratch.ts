import { mkdtemp, open, rm } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createFilePersistence } from './src/node/snapshot-file.js';
import { createMemoryStore } from './src/stores/memory/memory-store.js';
import { unitVectors } from './bench/util.js';
const rows = 200000, dims = 384;
const dir = await mkdtemp(join(tmpdir(), 'prof-'));
const path = join(dir, 's.kmk');
const data = unitVectors(rows, dims, 9);
const store = createMemoryStore({ persistence: createFilePersistence(path), durability: 'manual' });
await store.createCollection({ name: 'b', dimensions: dims });
for (let from = 0; from < rows; from += 10_000) await store.upsert({ collection: 'b', records: Array.from({ length: Math.min(10_000, rows - from) }, (_, j) => ({ id: from + j, vector: data.subarray((from + j) * dims, (from + j + 1) * dims), payload: { i: from + j } })) });
const raw = randomBytes(297 * 2 ** 20);
const t = () => performance.now();
const out: string[] = [];
for (let rep = 0; rep < 4; rep++) {
  await store.upsert({ collection: 'b', records: [{ id: rep, vector: data.subarray(0, dims), payload: { i: rep } }] });
  let s = t(); await store.flush(); const save = t() - s;
  s = t(); const h = await open(join(dir, 'raw.bin'), 'w'); await h.writeFile(raw); await h.sync(); await h.close(); const w = t() - s;
  out.push(`${save.toFixed(0)}/${w.toFixed(0)}`);
}
console.log(process.env.PIECE ?? 'default', out.join(' '));
await store.dispose();
await rm(dir, { recursive: true, force: true });
