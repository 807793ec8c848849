import type { Authenticator } from '../core/auth.js';
import { InvalidArgumentError } from '../core/errors.js';
import type { Output } from './commands.js';
import { type KumikiConfig, secret } from './config.js';
import { openWorkspace } from './workspace.js';

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

/**
 * `kumiki serve`: the gateway over the configured model, embedder and collection, until SIGINT or
 * SIGTERM. Without `gateway.auth` it serves anonymous callers, and only on a loopback address.
 */
export async function serve(config: KumikiConfig, out: Output): Promise<void> {
  const { hostname, port, auth, requestsPerMinute, redisUrlEnv } = config.gateway;
  if (!auth && !LOOPBACK.has(hostname)) {
    throw new InvalidArgumentError({
      argument: 'config gateway',
      issues: [
        {
          path: 'gateway.auth',
          message: `refusing to serve anonymous callers on ${hostname}: configure gateway.auth (OIDC issuer and audience) or bind to 127.0.0.1`,
        },
      ],
    });
  }
  const [{ createGateway }, { serveGateway }, workspace] = await Promise.all([
    import('../gateway/index.js'),
    import('../gateway/serve.js'),
    openWorkspace(config),
  ]);
  let authenticate: Authenticator | undefined;
  let disposeVerifier: (() => void) | undefined;
  if (auth) {
    const { createTokenVerifier } = await import('../auth/oidc/index.js');
    const verifier = createTokenVerifier({
      issuer: auth.issuer,
      audience: auth.audience,
      ...(auth.requiredScopes ? { requiredScopes: auth.requiredScopes } : {}),
    });
    authenticate = verifier.authenticate;
    disposeVerifier = () => verifier.dispose();
  }
  const rateCache = requestsPerMinute
    ? (await import('../caches/keyv/index.js')).createKeyvCache({
        namespace: 'kumiki-gateway',
        ...(redisUrlEnv ? { url: secret(redisUrlEnv) as string, strict: true } : {}),
      })
    : undefined;
  const runner = await workspace.runner();
  const retrieval = workspace.retrieval();
  const app = createGateway({
    ...(runner ? { models: { [runner.modelId]: runner } } : {}),
    ...(workspace.embedder ? { embedders: { [workspace.embedder.modelId]: workspace.embedder } } : {}),
    search: {
      collections: {
        [config.collection]: {
          store: retrieval.store,
          collection: retrieval.collection,
          ...(retrieval.embedder ? { embedder: retrieval.embedder } : {}),
          ...(retrieval.sparseEmbedder ? { sparseEmbedder: retrieval.sparseEmbedder } : {}),
          ...(retrieval.mmr ? { mmr: retrieval.mmr } : {}),
          ...(retrieval.minScore !== undefined ? { minScore: retrieval.minScore } : {}),
        },
      },
    },
    ...(authenticate ? { authenticate } : { allowAnonymous: true }),
    ...(rateCache && requestsPerMinute ? { rateLimit: { cache: rateCache, requestsPerMinute } } : {}),
    logger: (entry) => {
      if (!out.json) out.error(JSON.stringify(entry));
    },
  });
  const served = await serveGateway(app, { hostname, port });
  out.write(
    out.json
      ? JSON.stringify({ url: served.url, models: runner ? [runner.modelId] : [], collections: [config.collection] })
      : `kumiki gateway on ${served.url}/v1 — models: ${runner ? runner.modelId : 'none'}; search: ${config.collection}; ` +
          `auth: ${auth ? auth.issuer : 'anonymous (loopback only)'}. Ctrl-C stops it.`,
  );
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await served.close();
  await Promise.all([workspace.close(), disposeVerifier?.(), rateCache?.dispose?.()]);
}
