/** `POST /v1/responses`: OpenAI's Responses API, as a response object or its stream of events. */
import { Hono } from 'hono';
import { parseArgument } from '../../core/validate.js';
import type { Env } from '../context.js';
import { contentOf } from '../generation.js';
import { clientSignal } from '../middleware/request.js';
import {
  functionCallItem,
  messageItem,
  outputText,
  type ResponseState,
  responseObject,
  responsesOptions,
  responsesRequestSchema,
} from '../responses.js';
import type { Served } from '../served.js';
import { sseEvent, streamResponse } from '../sse.js';
import { nowSeconds, randomId } from '../wire.js';

export function responses(served: Served): Hono<Env> {
  const { readJson, prepare, admitted, collected } = served;
  const app = new Hono<Env>();
  app.post('/v1/responses', async (c) => {
    const state = c.get('state');
    const request = parseArgument(responsesRequestSchema, await readJson(c), 'responses request');
    const { target, options } = prepare(state, {
      model: request.model,
      stream: request.stream === true,
      options: responsesOptions(request),
      maxTokensParam: 'max_output_tokens',
    });
    const response: ResponseState = {
      id: `resp_${randomId()}`,
      createdAt: nowSeconds(),
      model: request.model,
      request,
      messageId: `msg_${randomId()}`,
      text: '',
      toolCalls: [],
      finishReason: undefined,
      usage: undefined,
      sources: undefined,
      citations: undefined,
    };
    const callItem = (call: { id: string; name: string; arguments: unknown }) => ({
      id: `fc_${randomId()}`,
      callId: call.id,
      name: call.name,
      arguments: typeof call.arguments === 'string' ? call.arguments : JSON.stringify(call.arguments ?? {}),
    });
    if (!request.stream) {
      const result = await collected(c, state, target, options);
      response.text = contentOf(result) ?? '';
      response.toolCalls = result.toolCalls.map(callItem);
      response.finishReason = result.finish.finishReason;
      response.usage = result.finish.usage;
      response.sources = result.sources;
      response.citations = result.finish.citations;
      return c.json(responseObject(response, 'done'));
    }
    let sequence = 0;
    const emit = (data: Record<string, unknown> & { type: string }) =>
      sseEvent({ ...data, sequence_number: sequence++ });
    // The message item is opened at the first text (a tool-call-only answer has none).
    let messageIndex: number | undefined;
    let outputs = 0;
    const openMessage = () => {
      if (messageIndex !== undefined) return '';
      messageIndex = outputs++;
      return (
        emit({
          type: 'response.output_item.added',
          output_index: messageIndex,
          item: messageItem(response, 'in_progress'),
        }) +
        emit({
          type: 'response.content_part.added',
          item_id: response.messageId,
          output_index: messageIndex,
          content_index: 0,
          part: { type: 'output_text', text: '', annotations: [], logprobs: [] },
        })
      );
    };
    const client = clientSignal(c);
    return streamResponse(state, admitted(c, state, target, options, true, client), client, {
      start: () =>
        emit({ type: 'response.created', response: responseObject(response, 'in_progress') }) +
        emit({ type: 'response.in_progress', response: responseObject(response, 'in_progress') }),
      event: (event) => {
        if (event.type === 'sources') {
          response.sources = event.sources;
          return '';
        }
        if (event.type === 'text-delta') {
          if (!event.text) return '';
          response.text += event.text;
          return (
            openMessage() +
            emit({
              type: 'response.output_text.delta',
              item_id: response.messageId,
              output_index: messageIndex,
              content_index: 0,
              delta: event.text,
              logprobs: [],
            })
          );
        }
        if (event.type === 'tool-call') {
          const call = callItem(event.toolCall);
          response.toolCalls.push(call);
          const index = outputs++;
          return (
            emit({
              type: 'response.output_item.added',
              output_index: index,
              item: functionCallItem(call, 'in_progress'),
            }) +
            emit({
              type: 'response.function_call_arguments.delta',
              item_id: call.id,
              output_index: index,
              delta: call.arguments,
            }) +
            emit({
              type: 'response.function_call_arguments.done',
              item_id: call.id,
              output_index: index,
              arguments: call.arguments,
            }) +
            emit({ type: 'response.output_item.done', output_index: index, item: functionCallItem(call, 'completed') })
          );
        }
        response.finishReason = event.finishReason;
        response.usage = event.usage;
        response.citations = event.citations;
        if (event.object !== undefined) response.text = JSON.stringify(event.object);
        let text = response.toolCalls.length === 0 ? openMessage() : '';
        if (messageIndex !== undefined) {
          const part = outputText(response);
          part.annotations.forEach((annotation, annotationIndex) => {
            text += emit({
              type: 'response.output_text.annotation.added',
              item_id: response.messageId,
              output_index: messageIndex,
              content_index: 0,
              annotation_index: annotationIndex,
              annotation,
            });
          });
          const status = event.finishReason === 'length' ? 'incomplete' : 'completed';
          text +=
            emit({
              type: 'response.output_text.done',
              item_id: response.messageId,
              output_index: messageIndex,
              content_index: 0,
              text: response.text,
              logprobs: [],
            }) +
            emit({
              type: 'response.content_part.done',
              item_id: response.messageId,
              output_index: messageIndex,
              content_index: 0,
              part,
            }) +
            emit({
              type: 'response.output_item.done',
              output_index: messageIndex,
              item: messageItem(response, status),
            });
        }
        const done = responseObject(response, 'done');
        return (
          text +
          emit({ type: done.status === 'incomplete' ? 'response.incomplete' : 'response.completed', response: done })
        );
      },
      end: () => '',
      error: (body) =>
        emit({ type: 'error', code: body.error.code, message: body.error.message, param: body.error.param }),
    });
  });
  return app;
}
