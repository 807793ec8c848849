/**
 * `kumiki/gateway`: an embeddable OpenAI-compatible API gateway (a Hono app) in front of kumiki
 * runners, embedders and retrieval, on any fetch runtime. `serveGateway` (Node's http server) is in
 * `kumiki/gateway/node`. See docs/gateway.md.
 */
export { createGateway, type Gateway } from './app.js';
export type { OpenAIErrorBody } from './errors.js';
export type { GatewayLogEntry, GatewayOptions, GatewayRateLimit, RetrieveConfig } from './options.js';
