/**
 * `POST /v1/chat/completions`: OpenAI chat completions, answered by a chat model or a knowledge
 * model (with its sources, citations and whether it was grounded), whole or streamed.
 */
import { Hono } from 'hono';
import type { Usage } from '../../core/runner.js';
import { parseArgument } from '../../core/validate.js';
import type { Env } from '../context.js';
import { type Collected, contentOf, groundedFields } from '../generation.js';
import { clientSignal } from '../middleware/request.js';
import type { Served } from '../served.js';
import { sseData, streamResponse } from '../sse.js';
import {
  chatRequestSchema,
  nowSeconds,
  randomId,
  toGenerateOptions,
  wireFinishReason,
  wireToolCalls,
  wireUsage,
} from '../wire.js';

export function chatCompletions(served: Served): Hono<Env> {
  const { readJson, prepare, admitted, collected } = served;
  const app = new Hono<Env>();
  app.post('/v1/chat/completions', async (c) => {
    const state = c.get('state');
    const request = parseArgument(chatRequestSchema, await readJson(c), 'chat completion request');
    const { target, options } = prepare(state, {
      model: request.model,
      stream: request.stream === true,
      options: toGenerateOptions(request),
      maxTokensParam: request.max_completion_tokens != null ? 'max_completion_tokens' : 'max_tokens',
    });
    const id = `chatcmpl-${randomId()}`;
    const created = nowSeconds();
    if (!request.stream) {
      const result = await collected(c, state, target, options);
      return c.json({
        id,
        object: 'chat.completion',
        created,
        model: request.model,
        choices: [
          {
            index: 0,
            message: {
              role: 'assistant',
              content: contentOf(result),
              refusal: null,
              ...(result.toolCalls.length > 0
                ? { tool_calls: wireToolCalls(result.toolCalls).map(({ index: _index, ...call }) => call) }
                : {}),
            },
            logprobs: null,
            finish_reason: wireFinishReason(result.finish.finishReason),
          },
        ],
        ...(result.finish.usage ? { usage: wireUsage(result.finish.usage) } : {}),
        ...groundedFields(result.sources, result.finish),
      });
    }
    const includeUsage = request.stream_options?.include_usage === true;
    const chunk = (choice: Record<string, unknown> | undefined, usage?: Usage, extra: Record<string, unknown> = {}) =>
      sseData({
        id,
        object: 'chat.completion.chunk',
        created,
        model: request.model,
        choices: choice ? [{ index: 0, logprobs: null, finish_reason: null, ...choice }] : [],
        ...(includeUsage ? { usage: usage ? wireUsage(usage) : null } : {}),
        ...extra,
      });
    let toolIndex = 0;
    let sources: Collected['sources'];
    const client = clientSignal(c);
    return streamResponse(state, admitted(c, state, target, options, true, client), client, {
      start: () => chunk({ delta: { role: 'assistant', content: '' } }),
      event: (event) => {
        if (event.type === 'sources') {
          sources = event.sources;
          return '';
        }
        if (event.type === 'text-delta') return event.text ? chunk({ delta: { content: event.text } }) : '';
        if (event.type === 'tool-call') {
          const [call] = wireToolCalls([event.toolCall]);
          return chunk({ delta: { tool_calls: [{ ...call, index: toolIndex++ }] } });
        }
        return (
          chunk(
            { delta: {}, finish_reason: wireFinishReason(event.finishReason) },
            undefined,
            groundedFields(sources, event),
          ) + (includeUsage && event.usage ? chunk(undefined, event.usage) : '')
        );
      },
      end: () => sseData('[DONE]'),
      error: (body) => sseData(body),
    });
  });
  return app;
}
