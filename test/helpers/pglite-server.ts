/**
 * A real Postgres with pgvector for tests and benchmarks: PGlite (Postgres compiled to WebAssembly)
 * with its pgvector extension, served over the wire protocol on a free loopback port, so the real
 * `pg` client talks to it exactly as to a server.
 *
 * PGlite is one backend session: statements from several connections are queued one at a time,
 * but the extended-protocol messages of two connections could interleave. Clients should keep one
 * connection in use at a time (a pool with `max: 1`).
 */
import { PGlite } from '@electric-sql/pglite';
import { vector } from '@electric-sql/pglite-pgvector';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';

export type PgliteServer = {
  /** `postgres://postgres@127.0.0.1:<port>/postgres` */
  connectionString: string;
  stop(): Promise<void>;
};

/** Starts a server; `pgvector: false` leaves the extension out, to test the error for a server without it. */
export async function startPgliteServer(options: { pgvector?: boolean } = {}): Promise<PgliteServer> {
  const db = await PGlite.create(options.pgvector === false ? {} : { extensions: { vector } });
  const server = new PGLiteSocketServer({ db, host: '127.0.0.1', port: 0, maxConnections: 16 });
  await server.start();
  return {
    connectionString: `postgres://postgres@${server.getServerConn()}/postgres`,
    async stop() {
      await server.stop();
      await db.close();
    },
  };
}
