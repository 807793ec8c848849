/**
 * A ledger in Redis (or Valkey) that many processes share: the coordinator of a distributed ingest
 * and its workers on any number of machines. One ledger holds one collection.
 *
 * Keys, all under `<namespace>:{<collection>}` (one Redis Cluster slot):
 * - `:entries`, a hash of source → ledger entry (JSON);
 * - `:mark`, the collection's last mark (JSON);
 * - `:lock`, the writer lease: a hash with the holder's token, pid, host and start time, with a time
 *   to live that the holder's heartbeat renews;
 * - `:owners`, a hash of source → the job attempt that may write it now (workers' fences).
 *
 * Every write is one Lua script, so it is atomic: all of its puts, removes and its mark, or none. It
 * checks, in the same step, that the writer may write: the lease holder (the coordinator, or a
 * single-process `ingest`) by its lease token; a worker by the run's lease token and, for each
 * source it writes, its attempt's token in `:owners`. A worker that lost its job to another (its
 * lease ran out while it was stalled) is fenced off from then on: its writes fail with
 * `LockedError` and change nothing.
 */
import { hostname } from 'node:os';
import { randomHex } from '../core/bytes.js';
import { CorruptDataError, InvalidArgumentError, LockedError, type LockHolder } from '../core/errors.js';
import { sleep } from '../internal/abort.js';
import {
  type Ledger,
  type LedgerChanges,
  type LedgerEntry,
  type LedgerMark,
  ledgerEntrySchema,
  ledgerMarkSchema,
} from '../pipeline/ledger.js';
import {
  COMPONENT,
  collectionKey,
  DEFAULT_NAMESPACE,
  describeRedis,
  type RedisSource,
  redisCall,
  useRedis,
} from './redis.js';

export type RedisLedgerOptions = {
  /** A `redis://` URL (the ledger opens and closes its connection) or an ioredis client you own. */
  redis: RedisSource;
  /** The collection this ledger records. */
  collection: string;
  /** Key prefix, default `kumiki`. */
  namespace?: string;
  /** How long the writer lease lasts without a heartbeat, in ms (renewed every third of it). Default 30 000. */
  leaseMs?: number;
};

export type RedisLedger = Ledger & {
  readonly collection: string;
  /** The token of the writer lease this ledger holds, while it holds one. */
  readonly lease: string | undefined;
  /**
   * A view of the ledger for one attempt of one job: it reads and writes only `sources`, and only
   * while the run holding `lease` still holds the collection and no later attempt has claimed them.
   * `undefined` when the run no longer holds the collection (it ended or died).
   */
  claim(options: { lease: string; attempt: string; sources: readonly string[] }): Promise<JobLedger | undefined>;
  /** Gives up the lease if held and closes the connection if the ledger opened it. */
  dispose(): Promise<void>;
};

/** A job attempt's view of the ledger (`RedisLedger.claim`). */
export type JobLedger = Ledger & {
  /** Throws `LockedError` unless this attempt still owns every source of the job (checked before each store write). */
  assertOwner(): Promise<void>;
};

const WRITE = `
local holder = redis.call('HGET', KEYS[3], 'token')
if ARGV[1] ~= '' then
  if holder ~= ARGV[1] then return {'lost'} end
elseif holder then
  return {'locked'}
end
local puts = tonumber(ARGV[4])
local removes = tonumber(ARGV[5 + 2 * puts])
local first = 6 + 2 * puts
if ARGV[2] ~= '' then
  for k = 0, puts - 1 do
    local source = ARGV[5 + 2 * k]
    if redis.call('HGET', KEYS[4], source) ~= ARGV[2] then return {'fenced', source} end
  end
  for k = 0, removes - 1 do
    local source = ARGV[first + k]
    if redis.call('HGET', KEYS[4], source) ~= ARGV[2] then return {'fenced', source} end
  end
end
for k = 0, puts - 1 do redis.call('HSET', KEYS[1], ARGV[5 + 2 * k], ARGV[6 + 2 * k]) end
for k = 0, removes - 1 do redis.call('HDEL', KEYS[1], ARGV[first + k]) end
if ARGV[3] ~= '' then redis.call('SET', KEYS[2], ARGV[3]) end
return {'ok'}
`;

const ACQUIRE = `
if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('HGETALL', KEYS[1]) end
redis.call('HSET', KEYS[1], 'token', ARGV[1], 'pid', ARGV[2], 'host', ARGV[3], 'since', ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
redis.call('DEL', KEYS[2])
return {}
`;

const RENEW = `
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`;

const RELEASE = `
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1], KEYS[2])
return 1
`;

const OWNS = `
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[1] then return 'lost' end
for k = 3, #ARGV do
  if redis.call('HGET', KEYS[2], ARGV[k]) ~= ARGV[2] then return 'fenced' end
end
return 'ok'
`;

const CLAIM = `
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[1] then return 0 end
for k = 3, #ARGV do redis.call('HSET', KEYS[2], ARGV[k], ARGV[2]) end
return 1
`;

/**
 * A ledger for one collection in Redis or Valkey, shared by processes on any number of machines
 * (see docs/distributed.md). `ingest` works with it as with any ledger; `ingestDistributed` and its
 * workers write it concurrently, each source under the fence of the job attempt that owns it.
 *
 * A write is acknowledged once Redis has applied it; it survives a Redis restart as far as Redis's
 * own persistence does (use `appendonly yes`).
 */
export async function createRedisLedger(options: RedisLedgerOptions): Promise<RedisLedger> {
  if (typeof options.collection !== 'string' || options.collection === '') {
    throw new InvalidArgumentError({
      argument: 'ledger options',
      issues: [{ path: 'collection', message: 'collection must be a non-empty string' }],
    });
  }
  const leaseMs = options.leaseMs ?? 30_000;
  if (!Number.isInteger(leaseMs) || leaseMs < 100) {
    throw new InvalidArgumentError({
      argument: 'ledger options',
      issues: [{ path: 'leaseMs', message: `leaseMs must be an integer of at least 100, got ${leaseMs}` }],
    });
  }
  const { collection } = options;
  const connection = await useRedis(options.redis);
  const client = connection.client;
  const base = collectionKey(options.namespace ?? DEFAULT_NAMESPACE, collection);
  const keys = { entries: `${base}:entries`, mark: `${base}:mark`, lock: `${base}:lock`, owners: `${base}:owners` };
  const location = `${describeRedis(client)} ${base}`;
  let lease: string | undefined;
  let lost = false;
  let heartbeat: ReturnType<typeof setInterval> | undefined;

  const call = <T>(action: string, run: () => Promise<T>) => redisCall(client, action, run);
  const evalScript = (script: string, keyNames: string[], args: (string | number)[]) =>
    call('run a ledger script', () => client.eval(script, keyNames.length, ...keyNames, ...args)) as Promise<unknown>;

  const holder = async (): Promise<LockHolder | undefined> => {
    const fields = await call('read the ledger lease', () => client.hgetall(keys.lock));
    return fields.token ? toHolder(fields) : undefined;
  };

  const parseEntry = (source: string, text: string): LedgerEntry => {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      value = undefined;
    }
    const parsed = ledgerEntrySchema.safeParse(value);
    if (!parsed.success || parsed.data.source !== source || parsed.data.collection !== collection) {
      throw new CorruptDataError({
        location: `${location}:entries`,
        reason: `the entry for source ${JSON.stringify(source)} is not a ledger entry of collection "${collection}"`,
        component: 'ledger',
      });
    }
    return parsed.data;
  };

  const readMarks = async (): Promise<LedgerMark[]> => {
    const text = await call('read the ledger mark', () => client.get(keys.mark));
    if (text === null) return [];
    const parsed = ledgerMarkSchema.safeParse(safeParse(text));
    if (!parsed.success || parsed.data.collection !== collection) {
      throw new CorruptDataError({
        location: keys.mark,
        reason: `it does not hold a mark of collection "${collection}"`,
        component: 'ledger',
      });
    }
    return [parsed.data];
  };

  /** Applies changes under a fence: the lease token the writer acts for and, for a job, its attempt. */
  const apply = async (changes: LedgerChanges, fence: { lease: string; attempt: string } | undefined) => {
    const puts = changes.put ?? [];
    const removes = changes.remove ?? [];
    const foreign = [...puts, ...removes, ...(changes.mark ? [changes.mark] : [])].find(
      (change) => change.collection !== collection,
    );
    if (foreign) {
      throw new InvalidArgumentError({
        argument: 'ledger changes',
        issues: [
          {
            path: 'collection',
            message: `this Redis ledger records collection "${collection}", not "${foreign.collection}" (create one ledger per collection)`,
          },
        ],
      });
    }
    const args: string[] = [
      fence?.lease ?? lease ?? '',
      fence?.attempt ?? '',
      changes.mark ? JSON.stringify(changes.mark) : '',
      String(puts.length),
      ...puts.flatMap((entry) => [entry.source, JSON.stringify(ledgerEntrySchema.parse(entry))]),
      String(removes.length),
      ...removes.map((entry) => entry.source),
    ];
    const [outcome, source] = (await evalScript(
      WRITE,
      [keys.entries, keys.mark, keys.lock, keys.owners],
      args,
    )) as string[];
    if (outcome === 'ok') return;
    if (outcome === 'fenced') {
      throw new LockedError({
        location,
        holder: undefined,
        heldBy: `a later attempt of the job that writes source ${JSON.stringify(source)} (this worker lost its job lease)`,
        waitedMs: 0,
        isRetryable: false,
        component: COMPONENT,
      });
    }
    if (outcome === 'lost' && fence === undefined) lost = true;
    throw new LockedError({
      location,
      holder: await holder(),
      heldBy:
        outcome === 'lost'
          ? fence
            ? 'no run (the run this job belongs to has ended or its coordinator died)'
            : 'another writer (this one lost its lease: its heartbeat did not reach Redis in time)'
          : undefined,
      waitedMs: 0,
      isRetryable: outcome !== 'lost',
      component: COMPONENT,
    });
  };

  const stopHeartbeat = () => {
    if (heartbeat) clearInterval(heartbeat);
    heartbeat = undefined;
  };

  return {
    location,
    collection,
    get lease() {
      return lost ? undefined : lease;
    },
    async entries() {
      const entries: LedgerEntry[] = [];
      let cursor = '0';
      do {
        const [next, fields] = await call('read the ledger', () => client.hscan(keys.entries, cursor, 'COUNT', 1000));
        for (let i = 0; i + 1 < fields.length; i += 2) {
          entries.push(parseEntry(fields[i] as string, fields[i + 1] as string));
        }
        cursor = next;
      } while (cursor !== '0');
      // HSCAN may return a field twice; the last copy read is as current as any.
      return [...new Map(entries.map((entry) => [entry.source, entry])).values()];
    },
    marks: readMarks,
    write: (changes) => apply(changes, undefined),
    async acquire({ timeoutMs, abortSignal }) {
      if (lease && !lost) return;
      const started = Date.now();
      const token = randomHex(16);
      for (;;) {
        const reply = (await evalScript(
          ACQUIRE,
          [keys.lock, keys.owners],
          [token, process.pid, hostname(), new Date().toISOString(), leaseMs],
        )) as string[];
        if (reply.length === 0) break;
        const waited = Date.now() - started;
        if (waited >= timeoutMs) {
          throw new LockedError({
            location,
            holder: toHolder(pairs(reply)),
            waitedMs: waited,
            component: COMPONENT,
          });
        }
        await sleep(Math.min(250, timeoutMs - waited), abortSignal, 'waiting for the ledger lease');
      }
      lease = token;
      lost = false;
      heartbeat = setInterval(
        () => {
          evalScript(RENEW, [keys.lock], [token, leaseMs]).then(
            (renewed) => {
              if (renewed === 0 && lease === token) {
                lost = true;
                stopHeartbeat();
              }
            },
            // Redis unreachable for now: the next beat tries again, and the lease may run out.
            () => undefined,
          );
        },
        Math.max(30, Math.floor(leaseMs / 3)),
      );
      heartbeat.unref?.();
    },
    async release() {
      stopHeartbeat();
      const token = lease;
      lease = undefined;
      lost = false;
      if (token) await evalScript(RELEASE, [keys.lock, keys.owners], [token]);
    },
    async claim({ lease: runLease, attempt, sources }) {
      const claimed = await evalScript(CLAIM, [keys.lock, keys.owners], [runLease, attempt, ...sources]);
      if (claimed === 0) return undefined;
      const fence = { lease: runLease, attempt };
      const mine = new Set(sources);
      return {
        location: `${location} (job attempt ${attempt})`,
        async entries() {
          if (sources.length === 0) return [];
          const texts = await call('read the ledger', () => client.hmget(keys.entries, ...sources));
          return texts.flatMap((text, i) => (text === null ? [] : [parseEntry(sources[i] as string, text)]));
        },
        marks: readMarks,
        async assertOwner() {
          const outcome = await evalScript(OWNS, [keys.lock, keys.owners], [runLease, attempt, ...sources]);
          if (outcome === 'ok') return;
          throw new LockedError({
            location,
            holder: undefined,
            heldBy:
              outcome === 'fenced'
                ? 'a later attempt of this job (this worker lost its job lease)'
                : 'no run (the run this job belongs to has ended or its coordinator died)',
            waitedMs: 0,
            isRetryable: false,
            component: COMPONENT,
          });
        },
        async write(changes) {
          const outside = [...(changes.put ?? []), ...(changes.remove ?? [])].find((c) => !mine.has(c.source));
          if (outside) {
            throw new InvalidArgumentError({
              argument: 'ledger changes',
              issues: [{ path: 'source', message: `source ${JSON.stringify(outside.source)} is not in this job` }],
            });
          }
          await apply(changes, fence);
        },
      };
    },
    async dispose() {
      stopHeartbeat();
      if (lease) await evalScript(RELEASE, [keys.lock, keys.owners], [lease]).catch(() => undefined);
      lease = undefined;
      await connection.close();
    },
  };
}

function safeParse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function pairs(flat: string[]): Record<string, string> {
  const fields: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) fields[flat[i] as string] = flat[i + 1] as string;
  return fields;
}

function toHolder(fields: Record<string, string>): LockHolder {
  return { pid: Number(fields.pid), host: fields.host ?? 'unknown', since: fields.since ?? 'unknown' };
}
