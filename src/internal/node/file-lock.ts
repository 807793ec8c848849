/**
 * A writer lock on a data file, shared by the file-backed parts (ledger journal, memory-store
 * snapshot, local catalog). Node only.
 *
 * The lock is a file `<path>.lock` holding its holder's pid, host, start time and a per-process
 * token, written to a temporary file and hard-linked into place (which fails when a lock exists), so
 * no process ever sees a half-written lock. While held, its modification time is refreshed every few
 * seconds. A lock is taken over when its holder is gone: on the same host, when no process has its
 * pid (or the pid belongs to a process that is not the one that took it); on another host, when the
 * file has not been refreshed for `staleMs`. Taking over renames the dead lock away first, so two
 * processes breaking the same dead lock cannot both end up holding it.
 */
import { randomBytes } from 'node:crypto';
import { link, readFile, rename, stat, unlink, utimes } from 'node:fs/promises';
import { hostname } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { LockedError, type LockHolder, throwIfAborted, UnavailableError } from '../../core/errors.js';
import { openCreatingFolder, processExists, removeLeftovers } from './atomic-file.js';

/** Identifies this process among processes that happen to reuse its pid. */
const PROCESS_TOKEN = randomBytes(8).toString('hex');
const HOST = hostname();
let counter = 0;

type StoredHolder = LockHolder & { token: string; lock: string };

export type FileLockOptions = {
  /** Component named in errors (`ledger`, `memory`, `catalog`). */
  component: string;
  /** A lock not refreshed for this long is stale even if its holder's host cannot be checked. Default 30 s. */
  staleMs?: number;
  /** How often a held lock is refreshed. Default staleMs / 6. */
  heartbeatMs?: number;
};

export type FileLock = {
  readonly path: string;
  /** Waits up to `timeoutMs` (0: not at all) for the lock, then throws `LockedError` naming the holder. */
  acquire(options?: { timeoutMs?: number; abortSignal?: AbortSignal }): Promise<void>;
  /** Releases the lock if this object holds it. */
  release(): Promise<void>;
  /** Throws `LockedError` if the lock was taken from this holder (it looked dead to another process). */
  assertHeld(): void;
  readonly held: boolean;
};

export function createFileLock(target: string, options: FileLockOptions): FileLock {
  const path = `${target}.lock`;
  const staleMs = options.staleMs ?? 30_000;
  const heartbeatMs = options.heartbeatMs ?? Math.max(50, Math.floor(staleMs / 6));
  const component = options.component;
  let mine: StoredHolder | undefined;
  let lost: StoredHolder | undefined;
  let heartbeat: ReturnType<typeof setInterval> | undefined;

  const failure = (action: string, error: unknown) =>
    new UnavailableError({
      message: `Cannot ${action} lock file ${path}: ${(error as Error).message}`,
      cause: error,
      isRetryable: false,
      component,
    });

  const tryCreate = async (): Promise<boolean> => {
    const holder: StoredHolder = {
      pid: process.pid,
      host: HOST,
      since: new Date().toISOString(),
      token: PROCESS_TOKEN,
      lock: randomBytes(8).toString('hex'),
    };
    // Written whole to a temporary file, then linked into place: the link fails if a lock exists, and
    // a lock file is never seen half written (a writer killed in between leaves only the temporary file).
    const temporary = join(dirname(path), `.${basename(path)}.${process.pid}.${Date.now()}.${counter++}.tmp`);
    try {
      const handle = await openCreatingFolder(temporary, 'w');
      try {
        await handle.writeFile(JSON.stringify(holder));
      } finally {
        await handle.close();
      }
      await link(temporary, path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw failure('create', error);
    } finally {
      await unlink(temporary).catch(() => undefined);
    }
    mine = holder;
    lost = undefined;
    heartbeat = setInterval(() => void refresh(), heartbeatMs);
    heartbeat.unref?.();
    return true;
  };

  const refresh = async () => {
    if (!mine) return;
    const current = await readHolder(path);
    if (current?.lock !== mine.lock) {
      lost = mine;
      stopHeartbeat();
      mine = undefined;
      return;
    }
    const now = new Date();
    await utimes(path, now, now).catch(() => undefined);
  };

  const stopHeartbeat = () => {
    if (heartbeat) clearInterval(heartbeat);
    heartbeat = undefined;
  };

  /** Whether the lock file describes a holder that can no longer release it. */
  const isDead = async (holder: StoredHolder | undefined): Promise<boolean> => {
    if (holder && holder.host === HOST) {
      if (holder.pid === process.pid) return holder.token !== PROCESS_TOKEN;
      return !processExists(holder.pid);
    }
    // Another host, or a file being written right now: only its age tells.
    const info = await stat(path).catch(() => undefined);
    return info !== undefined && Date.now() - info.mtimeMs > staleMs;
  };

  /** Moves a dead lock out of the way, unless someone replaced it meanwhile. */
  const breakDead = async (observed: string) => {
    const grave = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.dead`;
    try {
      await rename(path, grave);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw failure('take over', error);
    }
    const moved = await readFile(grave, 'utf8').catch(() => undefined);
    if (moved !== observed) {
      // We moved a lock taken in the meantime: put it back unless yet another one exists now.
      await link(grave, path).catch(() => undefined);
    }
    await unlink(grave).catch(() => undefined);
  };

  return {
    path,
    get held() {
      return mine !== undefined;
    },
    async acquire(acquireOptions = {}) {
      if (mine) return;
      const timeoutMs = acquireOptions.timeoutMs ?? 0;
      const started = Date.now();
      let delay = 10;
      await removeLeftovers(path);
      for (;;) {
        throwIfAborted(acquireOptions.abortSignal, `lock ${path}`);
        if (await tryCreate()) return;
        const raw = await readFile(path, 'utf8').catch(() => undefined);
        if (raw === undefined) continue; // released between our attempts
        const holder = parseHolder(raw);
        if (await isDead(holder)) {
          await breakDead(raw);
          continue;
        }
        const waited = Date.now() - started;
        if (waited >= timeoutMs) {
          throw new LockedError({
            location: target,
            holder: holder ? { pid: holder.pid, host: holder.host, since: holder.since } : undefined,
            waitedMs: waited,
            component,
          });
        }
        await new Promise((resolve) => setTimeout(resolve, Math.min(delay, timeoutMs - waited)));
        delay = Math.min(delay * 2, 250);
      }
    },
    async release() {
      stopHeartbeat();
      const held = mine;
      mine = undefined;
      lost = undefined;
      if (!held) return;
      const current = await readHolder(path);
      if (current?.lock === held.lock) await unlink(path).catch(() => undefined);
    },
    assertHeld() {
      if (mine) return;
      throw new LockedError({
        location: target,
        holder: lost ? { pid: lost.pid, host: lost.host, since: lost.since } : undefined,
        waitedMs: 0,
        isRetryable: false,
        component,
      });
    },
  };
}

async function readHolder(path: string): Promise<StoredHolder | undefined> {
  const raw = await readFile(path, 'utf8').catch(() => undefined);
  return raw === undefined ? undefined : parseHolder(raw);
}

function parseHolder(raw: string): StoredHolder | undefined {
  try {
    const value = JSON.parse(raw) as Partial<StoredHolder>;
    if (
      typeof value.pid === 'number' &&
      typeof value.host === 'string' &&
      typeof value.since === 'string' &&
      typeof value.token === 'string' &&
      typeof value.lock === 'string'
    ) {
      return value as StoredHolder;
    }
  } catch {
    // Being written, or not a lock file of ours: judged by its age.
  }
  return undefined;
}
