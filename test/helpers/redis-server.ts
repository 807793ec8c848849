/**
 * A real `redis-server` for tests and benchmarks: started from PATH on a free loopback port with a
 * temporary directory and no persistence, stopped afterwards. When it cannot start, `startRedisServer`
 * throws an error that says why and how to install it; tests must not skip silently.
 *
 * Also a minimal RESP client (to read `INFO commandstats` without a Redis library) and a loopback
 * proxy that counts request/response round trips between a client and the server.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export type RedisServer = {
  readonly port: number;
  readonly url: string;
  /** Sends one command and returns its reply (strings, integers, arrays, null). */
  command(...args: (string | number)[]): Promise<RespReply>;
  /** Calls of each command since the last `CONFIG RESETSTAT`, from `INFO commandstats` (e.g. `{ mget: 1 }`). */
  commandCalls(): Promise<Record<string, number>>;
  stop(): Promise<void>;
};

export type RespReply = string | number | null | RespReply[];

const INSTALL_HINT =
  'Install it so that `redis-server` is on PATH (Debian/Ubuntu: `apt-get install redis-server`; macOS: `brew install redis`).';

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('could not find a free loopback port');
  return address.port;
}

function encodeCommand(args: readonly (string | number)[]): Buffer {
  const parts = [`*${args.length}\r\n`];
  for (const arg of args) {
    const text = String(arg);
    parts.push(`$${Buffer.byteLength(text)}\r\n${text}\r\n`);
  }
  return Buffer.from(parts.join(''));
}

/** Parses one RESP2 reply at `offset`; returns undefined when the buffer holds only part of it. */
function parseReply(buffer: Buffer, offset: number): { value: RespReply; next: number } | undefined {
  const lineEnd = buffer.indexOf('\r\n', offset);
  if (lineEnd < 0) return undefined;
  const type = String.fromCharCode(buffer[offset] as number);
  const line = buffer.toString('utf8', offset + 1, lineEnd);
  const after = lineEnd + 2;
  if (type === '+') return { value: line, next: after };
  if (type === '-') throw new Error(`Redis replied with an error: ${line}`);
  if (type === ':') return { value: Number(line), next: after };
  if (type === '$') {
    const length = Number(line);
    if (length < 0) return { value: null, next: after };
    if (buffer.length < after + length + 2) return undefined;
    return { value: buffer.toString('utf8', after, after + length), next: after + length + 2 };
  }
  if (type === '*') {
    const count = Number(line);
    if (count < 0) return { value: null, next: after };
    const items: RespReply[] = [];
    let next = after;
    for (let i = 0; i < count; i++) {
      const item = parseReply(buffer, next);
      if (item === undefined) return undefined;
      items.push(item.value);
      next = item.next;
    }
    return { value: items, next };
  }
  throw new Error(`unexpected RESP reply type ${JSON.stringify(type)}`);
}

/** Opens a connection, sends one command, reads one reply, closes. */
export function redisCommand(port: number, args: readonly (string | number)[]): Promise<RespReply> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    let received = Buffer.alloc(0);
    socket.once('error', reject);
    socket.on('connect', () => socket.write(encodeCommand(args)));
    socket.on('data', (chunk) => {
      received = Buffer.concat([received, chunk]);
      try {
        const reply = parseReply(received, 0);
        if (reply === undefined) return;
        socket.end();
        resolve(reply.value);
      } catch (error) {
        socket.destroy();
        reject(error);
      }
    });
  });
}

async function waitUntilReady(port: number, child: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) {
      throw new Error(`redis-server exited with code ${child.exitCode} before accepting connections:\n${output()}`);
    }
    try {
      if ((await redisCommand(port, ['PING'])) === 'PONG') return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      throw new Error(`redis-server did not accept connections on port ${port} within 15 s:\n${output()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Starts `redis-server` on a free loopback port, without persistence, in a temporary directory. */
export async function startRedisServer(): Promise<RedisServer> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'kumiki-redis-'));
  let output = '';
  const child = spawn(
    'redis-server',
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--dir',
      dir,
      '--save',
      '',
      '--appendonly',
      'no',
      '--daemonize',
      'no',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stdout?.on('data', (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-4000);
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-4000);
  });
  const spawnError = new Promise<never>((_, reject) =>
    child.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        new Error(
          error.code === 'ENOENT'
            ? `redis-server is not installed (not found on PATH). ${INSTALL_HINT}`
            : `redis-server could not be started: ${error.message}. ${INSTALL_HINT}`,
        ),
      ),
    ),
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    await Promise.race([waitUntilReady(port, child, () => output), spawnError]);
  } catch (error) {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  let stopped = false;
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    command: (...args) => redisCommand(port, args),
    async commandCalls() {
      const info = String(await redisCommand(port, ['INFO', 'commandstats']));
      const calls: Record<string, number> = {};
      for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) calls[match[1] as string] = Number(match[2]);
      return calls;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export type RoundTripCounter = {
  readonly port: number;
  readonly url: string;
  /** Request/response round trips seen since the last `reset()`: client bytes after server bytes start a new one. */
  roundTrips(): number;
  reset(): void;
  close(): Promise<void>;
};

/**
 * A loopback TCP proxy in front of `targetPort` that counts round trips: each time the client sends
 * after the server has answered (or for the first time), a new round trip begins. A pipelined batch
 * written at once counts as one however many commands it holds.
 */
export async function startRoundTripCounter(targetPort: number): Promise<RoundTripCounter> {
  let trips = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = createConnection({ host: '127.0.0.1', port: targetPort });
    sockets.add(client);
    sockets.add(upstream);
    let lastFromClient = false;
    client.on('data', (chunk) => {
      if (!lastFromClient) trips++;
      lastFromClient = true;
      upstream.write(chunk);
    });
    upstream.on('data', (chunk) => {
      lastFromClient = false;
      client.write(chunk);
    });
    const close = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('close', close);
    upstream.on('close', close);
    client.on('error', close);
    upstream.on('error', close);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('round-trip proxy has no port');
  return {
    port: address.port,
    url: `redis://127.0.0.1:${address.port}`,
    roundTrips: () => trips,
    reset() {
      trips = 0;
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
