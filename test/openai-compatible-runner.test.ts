import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, onTestFinished, test } from 'vitest';
import { z } from 'zod';
import type { StreamPart } from '../src/core/runner.js';
import {
  AbortedError,
  ConflictError,
  InvalidArgumentError,
  type KumikiError,
  NotFoundError,
  TimeoutError,
  UnauthorizedError,
  UnavailableError,
} from '../src/index.js';
import {
  createOpenAICompatibleRunner,
  createSseParser,
  httpDetails,
  type OpenAICompatibleRunnerOptions,
  type SseEvent,
} from '../src/runners/openai-compatible/index.js';
import { runnerConformance } from '../src/testing/index.js';
import { type FakeVllm, type FakeVllmOptions, startFakeVllm } from './helpers/fake-vllm-server.js';
import { strictFetch } from './helpers/strict-fetch.js';

let shared: FakeVllm;
beforeAll(async () => {
  shared = await startFakeVllm();
});
afterAll(() => shared.close());

const runnerOn = (server: FakeVllm, options: Partial<OpenAICompatibleRunnerOptions> = {}) =>
  createOpenAICompatibleRunner({ baseURL: server.url, model: 'fake-vllm', retries: 0, ...options });

runnerConformance(test, () => runnerOn(shared, { flavor: 'vllm' }), {
  name: 'OpenAI-compatible runner (vllm, guided decoding)',
  timeoutMs: 20_000,
});
runnerConformance(test, () => runnerOn(shared, { flavor: 'openai', reproducibleSeed: true, endpoint: 'chat' }), {
  name: 'OpenAI-compatible runner (openai, response_format, prompts over chat)',
  timeoutMs: 20_000,
});
runnerConformance(test, () => runnerOn(shared, { flavor: 'llama-server', structuredOutput: 'validate-and-repair' }), {
  name: 'OpenAI-compatible runner (llama-server, validate-and-repair)',
  timeoutMs: 20_000,
});

/** A server of its own for one test, closed when the test ends. */
async function serve(options: FakeVllmOptions = {}): Promise<FakeVllm> {
  const server = await startFakeVllm(options);
  onTestFinished(() => server.close());
  return server;
}

async function failure(promise: Promise<unknown>): Promise<KumikiError> {
  try {
    await promise;
  } catch (error) {
    return error as KumikiError;
  }
  throw new Error('expected the call to fail, but it succeeded');
}

async function collect(stream: AsyncIterable<StreamPart>): Promise<StreamPart[]> {
  const parts: StreamPart[] = [];
  for await (const part of stream) parts.push(part);
  return parts;
}

async function waitFor(predicate: () => boolean, what: string): Promise<void> {
  for (let i = 0; !predicate(); i++) {
    if (i > 500) throw new Error(`gave up waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const ANSWER = z.object({ mood: z.enum(['happy', 'sad']), count: z.number().int().min(0).max(9) }).strict();
const body = (server: FakeVllm, index = -1) => server.requests.at(index)?.body as Record<string, unknown>;

describe('SSE parser', () => {
  const encoder = new TextEncoder();
  const parse = (chunks: (string | Uint8Array)[]): SseEvent[] => {
    const parser = createSseParser();
    const events = chunks.flatMap((chunk) => parser.push(typeof chunk === 'string' ? encoder.encode(chunk) : chunk));
    return [...events, ...parser.end()];
  };

  test('LF, CRLF and CR line ends, comments, several data lines, event names', () => {
    expect(
      parse([': keep-alive\n\ndata: a\n\r\ndata: b\r\ndata:  c\r\n\r\nevent: error\rdata:{"x":1}\r\r', 'data\n\n']),
    ).toEqual([{ data: 'a' }, { data: 'b\n c' }, { event: 'error', data: '{"x":1}' }, { data: '' }]);
  });

  test('a CR at the end of a chunk waits for a possible LF', () => {
    expect(parse(['data: a\r', '\ndata: b\r', '\r'])).toEqual([{ data: 'a\nb' }]);
  });

  test('a multi-byte character split between chunks, and a last event without its empty line', () => {
    const bytes = encoder.encode('data: 猫🐈\n\ndata: end');
    expect(parse([bytes.slice(0, 8), bytes.slice(8, 11), bytes.slice(11)])).toEqual([
      { data: '猫🐈' },
      { data: 'end' },
    ]);
  });

  test('events without data are not dispatched', () => {
    expect(parse(['event: ping\n\n: comment\n\nid: 3\nretry: 10\n\n'])).toEqual([]);
  });
});

/** A recorded vLLM stream with everything a parser can trip on. */
const RECORDED = [
  ': keep-alive',
  '',
  'data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}],"usage":null}',
  '',
  'data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"Grüße, "},"finish_reason":null}],"usage":null}',
  '',
  'data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"猫 🐈 "},"finish_reason":null}],"usage":null}',
  '',
  'data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,',
  'data: "delta":{"content":"two lines"},"finish_reason":null}],"usage":null}',
  '',
  'data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"look","arguments":"{\\"q\\":"}}]},"finish_reason":null}],"usage":null}',
  '',
  'data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\\"é\\"}"}}]},"finish_reason":"tool_calls"}],"usage":null}',
  '',
  'data: {"id":"c1","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":7,"completion_tokens":5,"total_tokens":12}}',
  '',
  'data: [DONE]',
  '',
  '',
];
const EXPECTED_PARTS: StreamPart[] = [
  { type: 'text-delta', text: 'Grüße, ' },
  { type: 'text-delta', text: '猫 🐈 ' },
  { type: 'text-delta', text: 'two lines' },
  { type: 'tool-call', toolCall: { id: 'call_1', name: 'look', arguments: { q: 'é' } } },
  { type: 'finish', finishReason: 'tool-calls', usage: { promptTokens: 7, completionTokens: 5 } },
];

/** A fetch answering every request with `bytes`, delivered in the given pieces. */
function recordedFetch(bytes: Uint8Array, cuts: number[]): typeof fetch {
  return async () => {
    const bounds = [0, ...[...new Set(cuts)].sort((a, b) => a - b), bytes.length];
    const pieces = bounds.slice(1).map((end, i) => bytes.slice(bounds[i], end));
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        for (const piece of pieces) if (piece.length > 0) controller.enqueue(piece);
        controller.close();
      },
    });
    return new Response(stream, { status: 200, headers: { 'content-type': 'text/event-stream' } });
  };
}

describe('streaming through adversarial chunking', () => {
  for (const [name, lineEnd] of [
    ['LF', '\n'],
    ['CRLF', '\r\n'],
  ] as const) {
    test(`a recorded stream (${name}) cut at random byte positions gives the same parts`, async () => {
      const bytes = new TextEncoder().encode(RECORDED.join(lineEnd));
      await fc.assert(
        fc.asyncProperty(fc.array(fc.integer({ min: 1, max: bytes.length - 1 }), { maxLength: 40 }), async (cuts) => {
          const runner = createOpenAICompatibleRunner({
            baseURL: 'http://127.0.0.1:1/v1',
            model: 'recorded',
            fetch: recordedFetch(bytes, cuts),
          });
          expect(await collect(runner.stream({ messages: [{ role: 'user', content: 'hi' }] }))).toEqual(EXPECTED_PARTS);
        }),
        { numRuns: 150 },
      );
    });
  }

  test('one byte at a time', async () => {
    const bytes = new TextEncoder().encode(RECORDED.join('\n'));
    const runner = createOpenAICompatibleRunner({
      baseURL: 'http://127.0.0.1:1/v1',
      model: 'recorded',
      fetch: recordedFetch(
        bytes,
        Array.from({ length: bytes.length - 1 }, (_, i) => i + 1),
      ),
    });
    expect(await collect(runner.stream({ prompt: 'hi' }))).toEqual(EXPECTED_PARTS);
  });
});

test('fetch is called unbound, as the platform fetch of Workers and browsers requires', async () => {
  const server = await serve();
  const runner = runnerOn(server, { fetch: strictFetch, retries: 0 });
  expect((await runner.generate({ prompt: 'hi', maxTokens: 4 })).text.length).toBeGreaterThan(0);
  expect(await collect(runner.stream({ prompt: 'hi', maxTokens: 4 }))).toContainEqual(
    expect.objectContaining({ type: 'finish' }),
  );
});

describe('the vLLM wire format', () => {
  test('vllm sends structured_outputs.json; openai sends response_format json_schema strict', async () => {
    const server = await serve();
    const vllm = await runnerOn(server, { flavor: 'vllm' }).generate({ prompt: 'JSON:', schema: ANSWER, seed: 1 });
    expect(vllm.structuredOutput).toBe('guided-decoding');
    expect(ANSWER.parse(vllm.object)).toEqual(vllm.object);
    expect(server.requests[0]?.path).toBe('/v1/completions');
    expect(body(server)).toMatchObject({
      model: 'fake-vllm',
      prompt: 'JSON:',
      seed: 1,
      structured_outputs: { json: { type: 'object', required: ['mood', 'count'] } },
    });
    expect(body(server)).not.toHaveProperty('response_format');
    expect(body(server)).not.toHaveProperty('guided_json');

    const openai = await runnerOn(server, { flavor: 'openai' }).generate({
      messages: [{ role: 'user', content: 'JSON please' }],
      schema: { jsonSchema: z.toJSONSchema(ANSWER) as Record<string, unknown>, name: 'mood_report' },
      maxTokens: 50,
      temperature: 0.5,
      topP: 0.9,
      stop: ['\n\n'],
    });
    expect(openai.structuredOutput).toBe('response-format');
    expect(server.requests[1]?.path).toBe('/v1/chat/completions');
    expect(body(server)).toMatchObject({
      messages: [{ role: 'user', content: 'JSON please' }],
      max_tokens: 50,
      temperature: 0.5,
      top_p: 0.9,
      stop: ['\n\n'],
      response_format: { type: 'json_schema', json_schema: { name: 'mood_report', strict: true, schema: {} } },
    });
    expect(body(server)).not.toHaveProperty('structured_outputs');
  });

  test('any JSON object (json_object) is sent as JSON mode on every flavor, not as a schema', async () => {
    const server = await serve();
    for (const flavor of ['vllm', 'openai'] as const) {
      const result = await runnerOn(server, { flavor }).generate({
        messages: [{ role: 'user', content: 'Reply in JSON.' }],
        schema: { jsonSchema: { type: 'object' } },
        seed: 2,
      });
      expect(body(server)).toMatchObject({ response_format: { type: 'json_object' } });
      expect(body(server)).not.toHaveProperty('structured_outputs');
      expect(Object.keys(result.object as object).length).toBeGreaterThan(0);
    }
  });

  test('validate-and-repair sends no structured-output parameter, and adds the instruction to the system message', async () => {
    const server = await serve();
    const runner = runnerOn(server, { flavor: 'ollama', structuredOutput: 'validate-and-repair' });
    const result = await runner.generate({
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'How is the cat?' },
      ],
      schema: ANSWER,
    });
    expect(result.structuredOutput).toBe('validate-and-repair');
    expect(ANSWER.safeParse(result.object).success).toBe(true);
    const sent = body(server);
    expect(sent).not.toHaveProperty('response_format');
    expect(sent).not.toHaveProperty('structured_outputs');
    const messages = sent.messages as { role: string; content: string }[];
    expect(messages).toHaveLength(2);
    expect(messages[0]?.content).toMatch(/^Be brief\.\n\nAnswer with only a JSON value/);
  });

  test('streams send stream_options.include_usage and read the usage chunk with empty choices', async () => {
    const server = await serve();
    const parts = await collect(runnerOn(server).stream({ prompt: 'Once', maxTokens: 5, seed: 9 }));
    expect(body(server)).toMatchObject({ stream: true, stream_options: { include_usage: true }, max_tokens: 5 });
    expect(parts.at(-1)).toEqual({
      type: 'finish',
      finishReason: 'length',
      usage: { promptTokens: 1, completionTokens: 5 },
    });
    expect(parts.filter((part) => part.type === 'text-delta')).toHaveLength(5);
  });

  test('tool calls: definitions and choice on the wire, calls with parsed arguments, generated and streamed', async () => {
    const server = await serve();
    const runner = runnerOn(server);
    const tools = [
      {
        name: 'get_weather',
        description: 'The weather in a city',
        parameters: z.object({ city: z.string(), days: z.number().int().min(1).max(3) }),
      },
    ];
    const result = await runner.generate({
      messages: [{ role: 'user', content: 'Weather?' }],
      tools,
      toolChoice: { name: 'get_weather' },
    });
    expect(body(server)).toMatchObject({
      tools: [
        {
          type: 'function',
          function: { name: 'get_weather', description: 'The weather in a city', parameters: { type: 'object' } },
        },
      ],
      tool_choice: { type: 'function', function: { name: 'get_weather' } },
    });
    expect(result.finishReason).toBe('tool-calls');
    expect(result.toolCalls).toHaveLength(1);
    const call = result.toolCalls?.[0];
    expect(call?.name).toBe('get_weather');
    expect(z.object({ city: z.string(), days: z.number().int() }).safeParse(call?.arguments).success).toBe(true);

    const parts = await collect(
      runner.stream({ messages: [{ role: 'user', content: 'Weather?' }], tools, toolChoice: 'required' }),
    );
    expect(parts).toEqual([
      { type: 'tool-call', toolCall: call },
      { type: 'finish', finishReason: 'tool-calls', usage: expect.any(Object) },
    ]);

    await runner.generate({
      messages: [
        { role: 'user', content: 'Weather?' },
        { role: 'assistant', content: '', toolCalls: [call!] },
        { role: 'tool', content: '{"sky":"clear"}', toolCallId: call!.id },
      ],
      tools,
      toolChoice: 'none',
    });
    expect((body(server).messages as unknown[]).slice(1)).toEqual([
      {
        role: 'assistant',
        content: null,
        tool_calls: [
          {
            id: call!.id,
            type: 'function',
            function: { name: 'get_weather', arguments: JSON.stringify(call!.arguments) },
          },
        ],
      },
      { role: 'tool', content: '{"sky":"clear"}', tool_call_id: call!.id },
    ]);
  });

  test('error bodies become typed errors carrying the status and an excerpt', async () => {
    const server = await serve();
    const wrongModel = await failure(
      createOpenAICompatibleRunner({ baseURL: server.url, model: 'nope', retries: 0 }).generate({ prompt: 'x' }),
    );
    expect(NotFoundError.isInstance(wrongModel)).toBe(true);
    expect(httpDetails(wrongModel)?.status).toBe(404);
    expect(httpDetails(wrongModel)?.bodyExcerpt).toContain('The model `nope` does not exist.');

    server.queueFaults({
      kind: 'status',
      status: 400,
      body: {
        error: { message: "This model's maximum context length is 2048 tokens.", type: 'BadRequestError', code: 400 },
      },
    });
    const invalid = await failure(runnerOn(server).generate({ prompt: 'x' }));
    expect(InvalidArgumentError.isInstance(invalid)).toBe(true);
    expect(invalid.message).toContain('maximum context length is 2048 tokens');
    expect(httpDetails(invalid)?.status).toBe(400);
  });
});

describe('faults', () => {
  test('429 with Retry-After and 500 are retried; without retries they surface as retryable UnavailableError', async () => {
    const server = await serve();
    server.queueFaults({ kind: 'status', status: 429, retryAfterSeconds: 0 }, { kind: 'status', status: 500 });
    const result = await runnerOn(server, { retries: 2 }).generate({ prompt: 'Once', maxTokens: 4 });
    expect(result.text.length).toBeGreaterThan(0);
    expect(server.requests).toHaveLength(3);

    server.queueFaults({ kind: 'status', status: 429, retryAfterSeconds: 7 });
    const limited = await failure(runnerOn(server).generate({ prompt: 'Once' }));
    expect(UnavailableError.isInstance(limited)).toBe(true);
    expect(limited).toMatchObject({ statusCode: 429, retryAfterMs: 7000, isRetryable: true });
  });

  test('a dropped connection is retried, and reported as a retryable UnavailableError', async () => {
    const server = await serve();
    server.queueFaults({ kind: 'drop' });
    expect((await runnerOn(server, { retries: 1 }).generate({ prompt: 'Once' })).text.length).toBeGreaterThan(0);
    server.queueFaults({ kind: 'drop' });
    const dropped = await failure(runnerOn(server).generate({ prompt: 'Once' }));
    expect(UnavailableError.isInstance(dropped) && dropped.isRetryable).toBe(true);
    expect(dropped.message).toContain('connection broke');
  });

  test('malformed JSON is a non-retryable UnavailableError quoting the body', async () => {
    const server = await serve();
    server.setFault({ kind: 'malformed' });
    const malformed = await failure(runnerOn(server, { retries: 3 }).generate({ prompt: 'Once' }));
    expect(UnavailableError.isInstance(malformed)).toBe(true);
    expect(malformed.isRetryable).toBe(false);
    expect(malformed.message).toContain('is not valid JSON');
    expect(malformed.message).toContain('"chatcmpl-broken"');
    expect(server.requests).toHaveLength(1);
  });

  test('a response slower than timeoutMs is a TimeoutError', async () => {
    const server = await serve();
    server.queueFaults({ kind: 'delay', ms: 2_000 });
    const slow = await failure(runnerOn(server, { timeoutMs: 100 }).generate({ prompt: 'Once' }));
    expect(TimeoutError.isInstance(slow)).toBe(true);
    expect((slow as TimeoutError).timeoutMs).toBe(100);
  });

  test('streams: an error event mid-stream, a broken event, a dropped connection', async () => {
    const server = await serve();
    const runner = runnerOn(server, { retries: 3 });
    server.queueFaults({ kind: 'stream-error', afterTokens: 2, message: 'CUDA out of memory' });
    const parts: StreamPart[] = [];
    const midStream = await failure(
      (async () => {
        for await (const part of runner.stream({ prompt: 'Once', maxTokens: 10 })) parts.push(part);
      })(),
    );
    expect(parts).toHaveLength(2);
    expect(UnavailableError.isInstance(midStream)).toBe(true);
    expect(midStream).toMatchObject({ statusCode: 500 });
    expect(midStream.message).toContain('in the middle of the stream (code 500): CUDA out of memory');

    server.queueFaults({ kind: 'malformed' });
    const broken = await failure(collect(runner.stream({ prompt: 'Once', maxTokens: 10 })));
    expect(broken.message).toContain('a stream event is not valid JSON');

    server.queueFaults({ kind: 'drop' });
    const dropped = await failure(collect(runner.stream({ prompt: 'Once', maxTokens: 10 })));
    expect(UnavailableError.isInstance(dropped)).toBe(true);
    // Output had started: nothing was retried.
    expect(server.requests).toHaveLength(3);
  });

  test('abort during a stream and during a slow response closes the connection', async () => {
    const server = await serve({ chunkDelayMs: 5 });
    const runner = runnerOn(server);
    const controller = new AbortController();
    const streamed = await failure(
      (async () => {
        for await (const part of runner.stream({ prompt: 'Once', maxTokens: 400, abortSignal: controller.signal })) {
          if (part.type === 'text-delta') controller.abort();
        }
      })(),
    );
    expect(AbortedError.isInstance(streamed)).toBe(true);
    await waitFor(() => server.requests[0]?.closedEarly === true, 'the server to see the stream closed');

    server.queueFaults({ kind: 'delay', ms: 5_000 });
    const slow = new AbortController();
    const pending = failure(runner.generate({ prompt: 'Once', abortSignal: slow.signal }));
    await waitFor(() => server.requests.length === 2, 'the second request');
    slow.abort();
    expect(AbortedError.isInstance(await pending)).toBe(true);
    await waitFor(() => server.requests[1]?.closedEarly === true, 'the server to see the request closed');
  });

  test('a consumer that stops reading closes the connection', async () => {
    const server = await serve({ chunkDelayMs: 5 });
    for await (const part of runnerOn(server).stream({ prompt: 'Once', maxTokens: 400 })) {
      if (part.type === 'text-delta') break;
    }
    await waitFor(() => server.requests[0]?.closedEarly === true, 'the server to see the stream closed');
  });
});

describe('structured output repair', () => {
  const ask = { messages: [{ role: 'user' as const, content: 'How does the cat feel?' }], schema: ANSWER };

  test('an invalid answer is repaired in a second round', async () => {
    const server = await serve({ jsonMistakes: 1 });
    const result = await runnerOn(server, { structuredOutput: 'validate-and-repair' }).generate(ask);
    expect(result.structuredOutput).toBe('validate-and-repair');
    expect(ANSWER.safeParse(result.object).success).toBe(true);
    expect(result.warnings).toEqual([
      expect.stringContaining('answer 1 did not match the schema (the answer is not JSON)'),
    ]);
    expect(server.requests).toHaveLength(2);
    const repair = body(server).messages as { role: string; content: string }[];
    expect(repair.map((message) => message.role)).toEqual(['system', 'user', 'assistant', 'user']);
    expect(repair[2]?.content).toBe('I think the answer is happy, with three fish.');
    expect(repair[3]?.content).toContain('does not match the required JSON Schema (the answer is not JSON)');
    expect(result.usage?.promptTokens).toBeGreaterThan(0);
  });

  test('prompts are repaired as text', async () => {
    const server = await serve({ jsonMistakes: 1 });
    const result = await runnerOn(server, { structuredOutput: 'validate-and-repair' }).generate({
      prompt: 'The cat:',
      schema: ANSWER,
    });
    expect(ANSWER.safeParse(result.object).success).toBe(true);
    expect(server.requests).toHaveLength(2);
    const first = body(server, 0).prompt as string;
    expect(first).toMatch(/^The cat:\n\nAnswer with only a JSON value[\s\S]*\n$/);
    expect(body(server).prompt).toMatch(
      /^The cat:[\s\S]*\nI think the answer is happy, with three fish\.\n\nThat answer does not match/,
    );
    expect((body(server).prompt as string).startsWith(first)).toBe(true);
  });

  test('after maxRepairs failed rounds: a non-retryable UnavailableError naming the problem', async () => {
    const server = await serve({ jsonMistakes: 10 });
    const error = await failure(
      runnerOn(server, { structuredOutput: 'validate-and-repair', maxRepairs: 2 }).generate(ask),
    );
    expect(UnavailableError.isInstance(error)).toBe(true);
    expect(error.isRetryable).toBe(false);
    expect(error.message).toContain('did not produce an answer matching the "answer" schema after 2 repair rounds');
    expect(error.message).toContain('the answer is not JSON');
    expect(server.requests).toHaveLength(3);
  });

  test('a native answer that fails validation falls back to repair; native-only mode does not', async () => {
    const server = await serve();
    const wrong = {
      id: 'chatcmpl-x',
      object: 'chat.completion',
      model: 'fake-vllm',
      choices: [
        { index: 0, message: { role: 'assistant', content: '{"mood":"angry","count":3}' }, finish_reason: 'stop' },
      ],
      usage: { prompt_tokens: 10, completion_tokens: 8, total_tokens: 18 },
    };
    server.queueFaults({ kind: 'status', status: 200, body: wrong });
    const repaired = await runnerOn(server, { flavor: 'vllm' }).generate(ask);
    expect(repaired.structuredOutput).toBe('validate-and-repair');
    expect(ANSWER.safeParse(repaired.object).success).toBe(true);
    expect(repaired.usage?.promptTokens).toBeGreaterThan(10);
    expect(body(server)).toHaveProperty('structured_outputs');
    expect(server.requests).toHaveLength(2);

    server.queueFaults({ kind: 'status', status: 200, body: wrong });
    const error = await failure(runnerOn(server, { flavor: 'vllm', structuredOutput: 'native' }).generate(ask));
    expect(error.message).toContain('mood: Invalid option');
    expect(server.requests).toHaveLength(3);
  });

  test('a truncated stream answer is an error, not a silent drop', async () => {
    const server = await serve();
    const error = await failure(collect(runnerOn(server, { flavor: 'vllm' }).stream({ ...ask, maxTokens: 3 })));
    expect(UnavailableError.isInstance(error)).toBe(true);
    expect(error.message).toContain('the answer is not JSON');
  });
});

describe('credentials', () => {
  test('a token provider is called before every request', async () => {
    const server = await serve({ apiKey: 'token-2' });
    let calls = 0;
    const runner = runnerOn(server, { apiKey: () => `token-${++calls}`, retries: 1 });
    // The first token is refused (401, not retried); the next call gets a fresh one.
    expect(UnauthorizedError.isInstance(await failure(runner.generate({ prompt: 'x' })))).toBe(true);
    expect((await runner.generate({ prompt: 'x' })).text.length).toBeGreaterThan(0);
    expect(server.requests.map((request) => request.headers.authorization)).toEqual([
      'Bearer token-1',
      'Bearer token-2',
    ]);
    const broken = runnerOn(server, {
      apiKey: () => {
        throw new Error('vault sealed');
      },
    });
    const error = await failure(broken.generate({ prompt: 'x' }));
    expect(UnauthorizedError.isInstance(error)).toBe(true);
    expect(error.message).toContain('vault sealed');
  });

  test('secrets never appear in errors, even when the server echoes them', async () => {
    const server = await serve({ apiKey: 'right-key' });
    const secret = 'sk-super-secret-0123456789';
    const runner = runnerOn(server, { apiKey: secret, headers: { 'x-api-key': 'header-secret-987654' } });
    const error = await failure(runner.generate({ prompt: 'x' }));
    expect(UnauthorizedError.isInstance(error)).toBe(true);
    expect(error.message).toContain('[redacted]');
    const everything = JSON.stringify([error.message, httpDetails(error)?.message, String(error.cause)]);
    expect(everything).not.toContain(secret);
    expect(everything).not.toContain('header-secret');
    const description = await runner.describeModel();
    expect(JSON.stringify(description)).not.toContain(secret);
  });
});

describe('the runner object', () => {
  test('describeModel names the model, the server and the flavor', async () => {
    const runner = createOpenAICompatibleRunner({
      baseURL: 'http://gpu-1.internal:8000/v1/?token=abc',
      model: 'Qwen/Qwen2.5-7B-Instruct',
      flavor: 'vllm',
      revision: 'a1b2c3',
    });
    expect(await runner.describeModel()).toEqual({
      provider: 'openai-compatible',
      model: 'Qwen/Qwen2.5-7B-Instruct',
      revision: 'a1b2c3',
      extra: { baseURL: 'http://gpu-1.internal:8000/v1/?token=%5Bredacted%5D', flavor: 'vllm' },
    });
    expect(runner.capabilities).toEqual({
      streaming: true,
      structuredOutput: ['guided-decoding', 'validate-and-repair'],
      tools: true,
      seed: true,
    });
  });

  test('bad options are InvalidArgumentError naming the option; a disposed runner refuses work', async () => {
    const bad = (options: unknown) => () => createOpenAICompatibleRunner(options as OpenAICompatibleRunnerOptions);
    expect(bad({ baseURL: 'ftp://x', model: 'm' })).toThrow(/baseURL must be an http\(s\) URL/);
    expect(bad({ baseURL: 'http://u:p@x/v1', model: 'm' })).toThrow(/must not contain credentials/);
    expect(bad({ baseURL: 'http://x/v1', model: 'm', flavor: 'tgi' })).toThrow(/flavor must be/);
    expect(bad({ baseURL: 'http://x/v1', model: 'm', maxRepairs: -1 })).toThrow(InvalidArgumentError);
    const runner = runnerOn(shared);
    await runner.dispose();
    expect(ConflictError.isInstance(await failure(runner.generate({ prompt: 'x' })))).toBe(true);
  });
});
