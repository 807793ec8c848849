/**
 * `POST /v1/completions`: legacy text completions (a prompt, no chat), whole or streamed; chat
 * models only.
 */
import { Hono } from 'hono';
import type { Usage } from '../../core/runner.js';
import { parseArgument } from '../../core/validate.js';
import type { Env } from '../context.js';
import { invalidRequest, shownName } from '../errors.js';
import { clientSignal } from '../middleware/request.js';
import type { Served } from '../served.js';
import { sseData, streamResponse } from '../sse.js';
import {
  completionOptions,
  completionRequestSchema,
  nowSeconds,
  randomId,
  wireFinishReason,
  wireUsage,
} from '../wire.js';

export function completions(served: Served): Hono<Env> {
  const { readJson, prepare, admitted, collected } = served;
  const app = new Hono<Env>();
  app.post('/v1/completions', async (c) => {
    const state = c.get('state');
    const request = parseArgument(completionRequestSchema, await readJson(c), 'completion request');
    const { target, options } = prepare(state, {
      model: request.model,
      stream: request.stream === true,
      options: completionOptions(request),
      maxTokensParam: 'max_tokens',
    });
    if (target.knowledge) {
      throw invalidRequest(
        `The knowledge model "${shownName(target.name)}" answers chats; use /v1/chat/completions or /v1/responses.`,
        'model',
        'unsupported_parameter',
      );
    }
    const id = `cmpl-${randomId()}`;
    const created = nowSeconds();
    const echo = request.echo === true ? (options.prompt ?? '') : '';
    const choice = (text: string, finishReason: string | null) => ({
      text,
      index: 0,
      logprobs: null,
      finish_reason: finishReason,
    });
    if (!request.stream) {
      const result = await collected(c, state, target, options);
      return c.json({
        id,
        object: 'text_completion',
        created,
        model: request.model,
        choices: [choice(echo + result.text, wireFinishReason(result.finish.finishReason))],
        ...(result.finish.usage ? { usage: wireUsage(result.finish.usage) } : {}),
      });
    }
    const includeUsage = request.stream_options?.include_usage === true;
    const chunk = (choices: unknown[], usage?: Usage) =>
      sseData({
        id,
        object: 'text_completion',
        created,
        model: request.model,
        choices,
        ...(includeUsage ? { usage: usage ? wireUsage(usage) : null } : {}),
      });
    const client = clientSignal(c);
    return streamResponse(state, admitted(c, state, target, options, true, client), client, {
      start: () => (echo ? chunk([choice(echo, null)]) : ''),
      event: (event) => {
        if (event.type === 'text-delta') return event.text ? chunk([choice(event.text, null)]) : '';
        if (event.type !== 'finish') return '';
        return (
          chunk([choice('', wireFinishReason(event.finishReason))]) +
          (includeUsage && event.usage ? chunk([], event.usage) : '')
        );
      },
      end: () => sseData('[DONE]'),
      error: (body) => sseData(body),
    });
  });
  return app;
}
