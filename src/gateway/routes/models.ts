/**
 * The models and their state: `GET /v1/models` and `GET /v1/models/{model}` (the chat, knowledge and
 * embedding models the caller may use), and, unauthenticated, `GET /healthz` (the process answers),
 * `GET /readyz` (every model loaded; a model not loaded yet, or that failed to load, is loaded again)
 * and `GET /metrics` (Prometheus text).
 */
import { Hono } from 'hono';
import type { Principal } from '../../core/auth.js';
import type { Env } from '../context.js';
import { modelNotFound } from '../errors.js';
import type { Served } from '../served.js';

export function modelsAndHealth(served: Served): Hono<Env> {
  const { models, knowledge, embedders, access, createdAt, load, metrics, serveMetrics } = served;
  const app = new Hono<Env>();
  app.get('/healthz', (c) => {
    return c.json({ status: 'ok' });
  });

  app.get('/readyz', (c) => {
    const checks: Record<string, string> = {};
    for (const entry of models.values()) {
      if (entry.readiness.state === 'idle' || entry.readiness.state === 'failed') load(entry);
      const { state, error } = entry.readiness;
      checks[entry.name] = state === 'ready' ? 'ok' : state === 'loading' ? 'loading' : (error ?? 'error');
    }
    const ready = Object.values(checks).every((result) => result === 'ok');
    return c.json({ status: ready ? 'ready' : 'unready', models: checks }, ready ? 200 : 503);
  });

  if (serveMetrics) {
    app.get('/metrics', (c) => {
      return c.body(metrics.render(), 200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
    });
  }

  const modelEntry = (id: string, ownedBy: string) => ({ id, object: 'model', created: createdAt, owned_by: ownedBy });
  const visibleModels = (principal: Principal | undefined) => {
    const may = (action: 'generate' | 'embed', name: string) => access.may(principal, action, 'model', name);
    return [
      ...[...models.values()]
        .filter((entry) => may('generate', entry.name))
        .map((entry) => modelEntry(entry.name, entry.runner.provider)),
      ...[...knowledge.keys()].filter((name) => may('generate', name)).map((name) => modelEntry(name, 'kumiki')),
      ...[...embedders.entries()]
        .filter(([name]) => may('embed', name))
        .map(([name, embedder]) => modelEntry(name, embedder.provider)),
    ];
  };

  app.get('/v1/models', (c) => {
    const state = c.get('state');
    return c.json({ object: 'list', data: visibleModels(state.principal) });
  });

  app.get('/v1/models/:model{.+}', (c) => {
    const state = c.get('state');
    const name = c.req.param('model');
    const found = visibleModels(state.principal).find((entry) => entry.id === name);
    if (!found) throw modelNotFound(name, 'chat and embedding');
    return c.json(found);
  });
  return app;
}
