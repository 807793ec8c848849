/**
 * A real Postgres with pgvector for tests and benchmarks: PGlite (Postgres compiled to WebAssembly)
 * with its pgvector extension, served over the wire protocol on a free loopback port, so the real
 * `pg` client talks to it exactly as to a server.
 *
 * PGlite is one backend session: statements from several connections are queued one at a time,
 * but the extended-protocol messages of two connections could interleave. Clients should keep one
 * connection in use at a time (a pool with `max: 1`). Where several processes share the server
 * (distributed ingest), `serializeClients: true` puts a loopback proxy in front of it that lets one
 * connection at a time talk to it, from its first message until the server is idle again (outside
 * a transaction), as a connection pooler in session-serial mode would.
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { PGlite } from '@electric-sql/pglite';
import { vector } from '@electric-sql/pglite-pgvector';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';

export type PgliteServer = {
  /** `postgres://postgres@127.0.0.1:<port>/postgres` */
  connectionString: string;
  stop(): Promise<void>;
};

/** Starts a server; `pgvector: false` leaves the extension out, to test the error for a server without it. */
export async function startPgliteServer(
  options: { pgvector?: boolean; serializeClients?: boolean } = {},
): Promise<PgliteServer> {
  const db = await PGlite.create(options.pgvector === false ? {} : { extensions: { vector } });
  const server = new PGLiteSocketServer({ db, host: '127.0.0.1', port: 0, maxConnections: 64 });
  await server.start();
  const address = server.getServerConn();
  const proxy = options.serializeClients ? await serialProxy(Number(address.split(':').at(-1))) : undefined;
  return {
    connectionString: `postgres://postgres@${proxy ? `127.0.0.1:${proxy.port}` : address}/postgres`,
    async stop() {
      await proxy?.close();
      await server.stop();
      await db.close();
    },
  };
}

/**
 * A proxy that gives one client connection at a time the server: a connection takes its turn when
 * it sends, and keeps it until the server answers ReadyForQuery with status idle (`Z` … `I`), i.e.
 * for a whole query or a whole transaction. Others' bytes wait in order. A connection that closes
 * gives its turn up (the server rolls back its open transaction).
 */
async function serialProxy(target: number): Promise<{ port: number; close(): Promise<void> }> {
  type Client = { socket: Socket; upstream: Socket; pending: Buffer[] };
  let holder: Client | undefined;
  const waiting: Client[] = [];
  const sockets = new Set<Socket>();
  const grant = () => {
    while (!holder && waiting.length > 0) {
      const next = waiting.shift() as Client;
      if (next.socket.destroyed) continue;
      holder = next;
      for (const chunk of next.pending.splice(0)) next.upstream.write(chunk);
    }
  };
  const server: Server = createServer((socket) => {
    const upstream = createConnection({ host: '127.0.0.1', port: target });
    const client: Client = { socket, upstream, pending: [] };
    sockets.add(socket);
    sockets.add(upstream);
    let buffered = Buffer.alloc(0);
    socket.on('data', (chunk) => {
      if (holder === client) upstream.write(chunk);
      else {
        client.pending.push(chunk);
        if (!waiting.includes(client)) waiting.push(client);
        grant();
      }
    });
    upstream.on('data', (chunk) => {
      socket.write(chunk);
      // Find the server's ReadyForQuery messages: type byte, int32 length, body.
      buffered = Buffer.concat([buffered, chunk]);
      let idle = false;
      while (buffered.length >= 5) {
        const length = buffered.readInt32BE(1);
        if (buffered.length < 1 + length) break;
        if (buffered[0] === 0x5a) idle = buffered[5] === 0x49;
        buffered = buffered.subarray(1 + length);
      }
      if (idle && holder === client && client.pending.length === 0) {
        holder = undefined;
        grant();
      }
    });
    const close = () => {
      socket.destroy();
      upstream.destroy();
      sockets.delete(socket);
      sockets.delete(upstream);
      const index = waiting.indexOf(client);
      if (index >= 0) waiting.splice(index, 1);
      if (holder === client) {
        holder = undefined;
        grant();
      }
    };
    for (const end of [socket, upstream]) {
      end.on('close', close);
      end.on('error', close);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('the PGlite proxy has no port');
  return {
    port: address.port,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
