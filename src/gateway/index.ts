/**
 * `kumiki/gateway`: an embeddable OpenAI-compatible API gateway (a Hono app) in front of kumiki
 * runners, embedders and retrieval. See docs/gateway.md.
 */
export { createGateway, type Gateway } from './app.js';
export type { OpenAIErrorBody } from './errors.js';
export type { GatewayLogEntry, GatewayOptions, GatewayRateLimit, RetrieveConfig } from './options.js';
export { type ServedGateway, type ServeGatewayOptions, serveGateway } from './serve.js';
