/** Serves a gateway (or any fetch handler) with Node's http server through `@hono/node-server`, loaded lazily. */
import { z } from 'zod';
import { parseArgument } from '../core/validate.js';
import { importOptional } from '../internal/optional.js';

export type ServeGatewayOptions = {
  /** Port to listen on; default 0 (a free port). */
  port?: number;
  /** Interface to bind; default `127.0.0.1` (loopback only). Use `0.0.0.0` to accept remote clients. */
  hostname?: string;
  /** How long `close()` lets open requests and streams finish before cutting them; default 5,000 ms. */
  closeGraceMs?: number;
};

export type ServedGateway = {
  /** `http://host:port`, without a trailing slash; the OpenAI client's baseURL is `url + '/v1'`. */
  url: string;
  port: number;
  /** Stops accepting connections, lets open ones finish (up to `closeGraceMs`), then closes them. */
  close(): Promise<void>;
};

const optionsSchema = z
  .object({
    port: z.number().int().min(0).max(65_535, 'port must be between 0 and 65535').optional(),
    hostname: z.string().min(1, 'hostname must not be empty').optional(),
    closeGraceMs: z.number().int().min(0).optional(),
  })
  .strict();

type Fetchable = { fetch: (request: Request) => Response | Promise<Response> };

export async function serveGateway(app: Fetchable, options: ServeGatewayOptions = {}): Promise<ServedGateway> {
  const parsed = parseArgument(optionsSchema, options, 'serveGateway options');
  if (typeof app?.fetch !== 'function') {
    parseArgument(z.never({ error: 'app must have a fetch(request) method (a Hono app)' }), app, 'serveGateway app');
  }
  const { serve } = await importOptional('@hono/node-server', 'gateway', () => import('@hono/node-server'));
  const hostname = parsed.hostname ?? '127.0.0.1';
  const server = await new Promise<ReturnType<typeof serve>>((resolve, reject) => {
    const started = serve({ fetch: app.fetch, port: parsed.port ?? 0, hostname }, () => resolve(started));
    started.once('error', reject);
  });
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : (parsed.port ?? 0);
  const host = hostname.includes(':') ? `[${hostname}]` : hostname;
  const grace = parsed.closeGraceMs ?? 5_000;
  return {
    url: `http://${host}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        const http = server as unknown as {
          closeIdleConnections?: () => void;
          closeAllConnections?: () => void;
        };
        const timer = setTimeout(() => http.closeAllConnections?.(), grace);
        server.close((error) => {
          clearTimeout(timer);
          if (error) reject(error);
          else resolve();
        });
        http.closeIdleConnections?.();
      }),
  };
}
