/**
 * The gateway's OpenAI endpoints beyond chat (Responses, legacy completions), knowledge models,
 * status codes that mean what clients think, and hardening against hostile input — through the
 * official `openai` client and raw HTTP, in front of the OpenAI-compatible runner on the fake vLLM
 * server.
 */
import { request as httpRequest } from 'node:http';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { UnauthorizedError } from '../src/core/errors.js';
import { createGateway, type GatewayLogEntry, type ServedGateway, serveGateway } from '../src/gateway/index.js';
import { createOpenAICompatibleRunner } from '../src/runners/openai-compatible/index.js';
import { CITED, citingRunner, knowledgeBase } from './helpers/fake-knowledge.js';
import { type FakeVllm, startFakeVllm } from './helpers/fake-vllm-server.js';

let vllm: FakeVllm;
let served: ServedGateway;
let client: OpenAI;
const logs: GatewayLogEntry[] = [];

const runner = () =>
  createOpenAICompatibleRunner({ baseURL: vllm.url, model: 'fake-vllm', flavor: 'vllm', retries: 0 });

beforeAll(async () => {
  vllm = await startFakeVllm();
  const kb = await knowledgeBase();
  const app = createGateway({
    models: { chat: runner(), capped: { runner: runner(), maxTokens: 8 }, citing: citingRunner() },
    knowledge: {
      'kb-qa': { model: 'chat', collection: 'kb', limit: 2 },
      'kb-cited': { model: 'citing', collection: 'kb', limit: 2 },
    },
    search: { collections: { kb } },
    authenticate: async (request) => {
      const key = request.headers.get('authorization')?.replace(/^Bearer\s*/i, '');
      if (!key) throw new UnauthorizedError({ message: 'Send "Authorization: Bearer <key>".' });
      return { subject: key, tenant: undefined, roles: [], scopes: [], claims: {} };
    },
    logger: (entry) => logs.push(entry),
  });
  served = await serveGateway(app);
  client = new OpenAI({ baseURL: `${served.url}/v1`, apiKey: 'alice', maxRetries: 0 });
});

afterAll(async () => {
  await served?.close();
  await vllm?.close();
});

const lastBody = () => vllm.requests.at(-1)?.body as Record<string, unknown>;

describe('/v1/responses', () => {
  test('text input and instructions → a response object with output_text and usage', async () => {
    const response = await client.responses.create({
      model: 'chat',
      instructions: 'Be brief.',
      input: 'Tell me about the moon.',
      max_output_tokens: 12,
    });
    expect(response.object).toBe('response');
    expect(response.status).toMatch(/^(completed|incomplete)$/);
    expect(response.output_text.length).toBeGreaterThan(0);
    expect(response.usage?.output_tokens).toBeGreaterThan(0);
    expect(response.usage?.total_tokens).toBe(
      (response.usage?.input_tokens ?? 0) + (response.usage?.output_tokens ?? 0),
    );
    expect(lastBody()).toMatchObject({
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Tell me about the moon.' },
      ],
      max_tokens: 12,
    });
    // The same request through chat completions gives the same text.
    const chat = await client.chat.completions.create({
      model: 'chat',
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Tell me about the moon.' },
      ],
      max_tokens: 12,
    });
    expect(response.output_text).toBe(chat.choices[0]?.message.content);
    expect(response.status).toBe(chat.choices[0]?.finish_reason === 'length' ? 'incomplete' : 'completed');
  });

  test('streaming gives the documented events in order, and the text equals the non-streamed one', async () => {
    const request = { model: 'chat', input: [{ role: 'user' as const, content: 'A story about stars.' }] };
    const whole = await client.responses.create(request);
    const types: string[] = [];
    let text = '';
    let completed: OpenAI.Responses.Response | undefined;
    const numbers: number[] = [];
    for await (const event of await client.responses.create({ ...request, stream: true })) {
      types.push(event.type);
      numbers.push(event.sequence_number);
      if (event.type === 'response.output_text.delta') text += event.delta;
      if (event.type === 'response.completed') completed = event.response;
    }
    expect(types.slice(0, 4)).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.content_part.added',
    ]);
    expect(types.slice(-4)).toEqual([
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.completed',
    ]);
    expect(numbers).toEqual(numbers.map((_, index) => index));
    expect(text).toBe(whole.output_text);
    expect(completed?.output_text ?? completed?.output.length).toBeTruthy();
    expect(completed?.usage).toEqual(whole.usage);
  });

  test('text.format json_schema and json_object; a function call comes back as a function_call item', async () => {
    const structured = await client.responses.create({
      model: 'chat',
      input: 'Describe a pet.',
      text: {
        format: {
          type: 'json_schema',
          name: 'pet',
          schema: { type: 'object', properties: { name: { type: 'string' } }, required: ['name'] },
        },
      },
    });
    expect(typeof JSON.parse(structured.output_text).name).toBe('string');
    const jsonMode = await client.responses.create({
      model: 'chat',
      input: 'Reply in JSON.',
      text: { format: { type: 'json_object' } },
    });
    expect(lastBody()).toMatchObject({ response_format: { type: 'json_object' } });
    expect(Object.keys(JSON.parse(jsonMode.output_text)).length).toBeGreaterThan(0);
    const called = await client.responses.create({
      model: 'chat',
      input: 'What is the weather in Kyoto?',
      tools: [
        {
          type: 'function',
          name: 'weather',
          parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
          strict: false,
        },
      ],
      tool_choice: 'required',
    });
    const call = called.output.find((item) => item.type === 'function_call');
    expect(call).toMatchObject({ type: 'function_call', name: 'weather', status: 'completed' });
    expect(typeof JSON.parse((call as { arguments: string }).arguments).city).toBe('string');
    // The call and its output go back as input items: a tool message on the wire.
    await client.responses.create({
      model: 'chat',
      input: [
        { role: 'user', content: 'What is the weather in Kyoto?' },
        { type: 'function_call', call_id: 'call_1', name: 'weather', arguments: '{"city":"Kyoto"}' },
        { type: 'function_call_output', call_id: 'call_1', output: 'sunny' },
      ],
    });
    expect(lastBody()).toMatchObject({
      messages: [
        { role: 'user' },
        { role: 'assistant', tool_calls: [{ id: 'call_1', function: { name: 'weather' } }] },
        { role: 'tool', content: 'sunny', tool_call_id: 'call_1' },
      ],
    });
  });

  test('what is not supported is refused by name: stored responses, images, hosted tools', async () => {
    const refused = async (body: Record<string, unknown>) => {
      const error = await client.responses.create(body as never).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(OpenAI.BadRequestError);
      return (error as InstanceType<typeof OpenAI.BadRequestError>).message;
    };
    expect(await refused({ model: 'chat', input: 'hi', previous_response_id: 'resp_1' })).toMatch(
      /stores no responses/,
    );
    expect(
      await refused({
        model: 'chat',
        input: [{ role: 'user', content: [{ type: 'input_image', image_url: 'https://x/y.png' }] }],
      }),
    ).toMatch(/input_image content parts are not supported.*not images/);
    expect(await refused({ model: 'chat', input: 'hi', tools: [{ type: 'web_search' }] })).toMatch(
      /web_search tools are not supported/,
    );
  });
});

describe('/v1/completions (legacy)', () => {
  test('a prompt is completed on /v1/completions upstream; streamed text equals it; echo', async () => {
    const completion = await client.completions.create({ model: 'chat', prompt: 'Once upon a time', seed: 4 });
    expect(completion.object).toBe('text_completion');
    expect(lastBody()).toMatchObject({ prompt: 'Once upon a time', max_tokens: 16, seed: 4 });
    expect(vllm.requests.at(-1)?.path).toBe('/v1/completions');
    let streamed = '';
    for await (const chunk of await client.completions.create({
      model: 'chat',
      prompt: 'Once upon a time',
      seed: 4,
      stream: true,
    })) {
      streamed += chunk.choices[0]?.text ?? '';
    }
    expect(streamed).toBe(completion.choices[0]?.text);
    const echoed = await client.completions.create({ model: 'chat', prompt: 'Once upon a time', seed: 4, echo: true });
    expect(echoed.choices[0]?.text).toBe(`Once upon a time${completion.choices[0]?.text}`);
  });
});

describe('knowledge models', () => {
  test('chat completions retrieve, ground and cite; the extra fields carry sources and citations', async () => {
    const completion = (await client.chat.completions.create({
      model: 'kb-qa',
      messages: [{ role: 'user', content: 'How does a lighthouse warn ships?' }],
      max_tokens: 12,
    })) as OpenAI.ChatCompletion & { sources: { n: number; source: string }[]; grounded: boolean };
    expect(completion.sources[0]?.source).toBe('file:///kb/lighthouse.md');
    expect(completion.grounded).toBe(true);
    const prompt = (lastBody().messages as { content: string }[]).map((m) => m.content).join('\n');
    expect(prompt).toContain('[1] Lighthouses (file:///kb/lighthouse.md)');
    expect(prompt).toContain('Question: How does a lighthouse warn ships?');
    const models = await client.models.list();
    expect(models.data.find((model) => model.id === 'kb-qa')?.owned_by).toBe('kumiki');
  });

  test('a conversation: earlier turns reach the model, retrieval uses the last question', async () => {
    await client.chat.completions.create({
      model: 'kb-qa',
      messages: [
        { role: 'system', content: 'Answer in one sentence.' },
        { role: 'user', content: 'Tell me about bread.' },
        { role: 'assistant', content: 'Bread rises.' },
        { role: 'user', content: 'Why does bread rise?' },
      ],
      max_tokens: 8,
    });
    const messages = lastBody().messages as { role: string; content: string }[];
    expect(messages.map((m) => m.role)).toEqual(['system', 'user', 'assistant', 'user']);
    expect(messages[0]?.content).toContain('Answer in one sentence.');
    expect(messages[3]?.content).toMatch(/^Sources:\n\n\[1\] Bread/);
  });

  test('citations: an extra field of chat completions, url_citation annotations of Responses, streamed too', async () => {
    const question = 'How does a lighthouse warn ships?';
    const marker = { start_index: CITED.indexOf('[1]'), end_index: CITED.indexOf('[1]') + 3 };
    const annotation = { type: 'url_citation', ...marker, url: 'file:///kb/lighthouse.md', title: 'Lighthouses' };
    const chat = (await client.chat.completions.create({
      model: 'kb-cited',
      messages: [{ role: 'user', content: question }],
    })) as OpenAI.ChatCompletion & { citations: { n: number; source: string }[] };
    expect(chat.choices[0]?.message.content).toBe(CITED);
    expect(chat.citations).toMatchObject([{ n: 1, source: 'file:///kb/lighthouse.md', heading: 'Lighthouses' }]);
    let streamedCitations: unknown;
    for await (const chunk of await client.chat.completions.create({
      model: 'kb-cited',
      messages: [{ role: 'user', content: question }],
      stream: true,
    })) {
      const extra = chunk as unknown as { citations?: unknown };
      if (extra.citations) streamedCitations = extra.citations;
    }
    expect(streamedCitations).toEqual(chat.citations);

    const response = await client.responses.create({ model: 'kb-cited', input: question });
    expect(response.output_text).toBe(CITED);
    const part = response.output[0]?.type === 'message' ? response.output[0].content[0] : undefined;
    expect(part?.type === 'output_text' ? part.annotations : []).toEqual([annotation]);
    const added: unknown[] = [];
    let done: OpenAI.Responses.Response | undefined;
    for await (const event of await client.responses.create({ model: 'kb-cited', input: question, stream: true })) {
      if (event.type === 'response.output_text.annotation.added') added.push(event.annotation);
      if (event.type === 'response.completed') done = event.response;
    }
    expect(added).toEqual([annotation]);
    const item = done?.output[0];
    expect(item?.type === 'message' ? item.content : undefined).toEqual(
      response.output[0]?.type === 'message' ? response.output[0].content : 'missing',
    );
  });

  test('tools are refused for knowledge models; legacy completions too', async () => {
    const error = await client.chat.completions
      .create({
        model: 'kb-qa',
        messages: [{ role: 'user', content: 'hi' }],
        tools: [{ type: 'function', function: { name: 'x', parameters: { type: 'object' } } }],
      })
      .catch((e: unknown) => e);
    expect((error as InstanceType<typeof OpenAI.BadRequestError>).code).toBe('unsupported_parameter');
    const legacy = await client.completions.create({ model: 'kb-qa', prompt: 'hi' }).catch((e: unknown) => e);
    expect(legacy).toBeInstanceOf(OpenAI.BadRequestError);
  });
});

describe('status codes that mean what clients think', () => {
  test('max_tokens above the model cap → 400; without max_tokens the cap is sent', async () => {
    const error = await client.chat.completions
      .create({ model: 'capped', messages: [{ role: 'user', content: 'hi' }], max_tokens: 2_147_483_647 })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect((error as Error).message).toMatch(/max_tokens is too large: 2147483647. This model supports at most 8/);
    await client.chat.completions.create({ model: 'capped', messages: [{ role: 'user', content: 'hi' }] });
    expect(lastBody()).toMatchObject({ max_tokens: 8 });
  });

  test('an answer cut at max_tokens is 200 with finish_reason length', async () => {
    const completion = await client.chat.completions.create({
      model: 'chat',
      messages: [{ role: 'user', content: 'A long story please.' }],
      max_tokens: 2,
    });
    expect(completion.choices[0]?.finish_reason).toBe('length');
  });

  test('a backend answer that cannot be used → 502 (not "retry later"); unreachable → 503', async () => {
    vllm.queueFaults({ kind: 'malformed' });
    const bad = await client.chat.completions
      .create({ model: 'chat', messages: [{ role: 'user', content: 'hi' }] })
      .catch((e: unknown) => e);
    expect((bad as InstanceType<typeof OpenAI.APIError>).status).toBe(502);
    expect((bad as InstanceType<typeof OpenAI.APIError>).code).toBe('bad_gateway');
    vllm.queueFaults({ kind: 'status', status: 503 });
    const down = await client.chat.completions
      .create({ model: 'chat', messages: [{ role: 'user', content: 'hi' }] })
      .catch((e: unknown) => e);
    expect((down as InstanceType<typeof OpenAI.APIError>).status).toBe(503);
  });
});

describe('hostile input', () => {
  test('names of Object.prototype members are unknown models and collections, not 500s', async () => {
    for (const name of ['__proto__', 'constructor', 'toString', 'hasOwnProperty']) {
      const error = await client.chat.completions
        .create(
          { model: name, messages: [{ role: 'user', content: 'hi' }] },
          { headers: { 'x-request-id': `proto-${name}` } },
        )
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(OpenAI.NotFoundError);
      const search = await fetch(`${served.url}/v1/search`, {
        method: 'POST',
        headers: {
          authorization: 'Bearer alice',
          'content-type': 'application/json',
          'x-request-id': `proto-s-${name}`,
        },
        body: JSON.stringify({ collection: name, query: 'x' }),
      });
      expect(search.status).toBe(404);
      expect(await search.text()).not.toMatch(/store|embedder|RetrieveConfig/i);
    }
    await vi.waitFor(() => expect(logs.filter((entry) => entry.requestId.startsWith('proto-'))).toHaveLength(8));
    expect(logs.filter((entry) => entry.requestId.startsWith('proto-')).map((entry) => entry.status)).toEqual(
      Array(8).fill(404),
    );
  });

  test('a 1 MB model name is cut in the answer and the log', async () => {
    const name = 'm'.repeat(1_000_000);
    const response = await fetch(`${served.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: 'Bearer alice', 'content-type': 'application/json', 'x-request-id': 'long-name' },
      body: JSON.stringify({ model: name, messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(response.status).toBe(404);
    const text = await response.text();
    expect(text.length).toBeLessThan(1_000);
    expect(text).toContain('(1000000 characters)');
    await vi.waitFor(() => expect(logs.find((entry) => entry.requestId === 'long-name')).toBeDefined());
    expect(JSON.stringify(logs.find((entry) => entry.requestId === 'long-name')).length).toBeLessThan(5_000);
  });

  test('specific messages: image parts, 17 stop sequences, logprobs, "Bearer" without a token', async () => {
    const image = await client.chat.completions
      .create({
        model: 'chat',
        messages: [
          {
            role: 'user',
            content: [
              { type: 'text', text: 'What is this?' },
              { type: 'image_url', image_url: { url: 'https://example.com/cat.png' } },
            ],
          },
        ],
      })
      .then(
        () => undefined as never,
        (e: unknown) => e as InstanceType<typeof OpenAI.BadRequestError>,
      );
    expect(image.param).toBe('messages.0.content.1.type');
    expect(image.message).toMatch(/image_url content parts are not supported: .*not images/);
    const stops = await client.chat.completions
      .create({
        model: 'chat',
        messages: [{ role: 'user', content: 'hi' }],
        stop: Array.from({ length: 17 }, (_, i) => `s${i}`),
      })
      .then(
        () => undefined as never,
        (e: unknown) => e as InstanceType<typeof OpenAI.BadRequestError>,
      );
    expect(stops.message).toMatch(/stop holds at most 16 sequences/);
    const logprobs = await client.chat.completions
      .create({ model: 'chat', messages: [{ role: 'user', content: 'hi' }], logprobs: true })
      .then(
        () => undefined as never,
        (e: unknown) => e as InstanceType<typeof OpenAI.BadRequestError>,
      );
    expect(logprobs.code).toBe('unsupported_parameter');
    expect(logprobs.param).toBe('logprobs');
    const bare = await fetch(`${served.url}/v1/models`, { headers: { authorization: 'Bearer' } });
    expect(bare.status).toBe(401);
    expect(((await bare.json()) as { error: { message: string } }).error.message).toBe(
      'Send "Authorization: Bearer <key>".',
    );
  });

  test('a client that drops mid-upload is logged 499, not 500', async () => {
    await new Promise<void>((resolve) => {
      const req = httpRequest(`${served.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: 'Bearer alice', 'content-type': 'application/json', 'x-request-id': 'upload-drop' },
      });
      req.on('error', () => resolve());
      req.write('{"model": "chat", "messages": [{"role": "user", "content": "');
      req.write('x'.repeat(10_000));
      setTimeout(() => {
        req.destroy();
        resolve();
      }, 50);
    });
    await vi.waitFor(() => expect(logs.find((entry) => entry.requestId === 'upload-drop')?.status).toBe(499), {
      timeout: 10_000,
    });
  });

  test('a filter nested 10,000 deep → 400, not a stack overflow', async () => {
    let filter = '{"op":"eq","field":"x","value":1}';
    for (let i = 0; i < 10_000; i++) filter = `{"op":"not","filter":${filter}}`;
    const response = await fetch(`${served.url}/v1/search`, {
      method: 'POST',
      headers: { authorization: 'Bearer alice', 'content-type': 'application/json' },
      body: `{"collection":"kb","query":"lighthouse","filter":${filter}}`,
    });
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe('too_deep');
    // Within the body's limit, the filter language's own checks answer (InvalidArgumentError → 400).
    const invalid = await fetch(`${served.url}/v1/search`, {
      method: 'POST',
      headers: { authorization: 'Bearer alice', 'content-type': 'application/json' },
      body: JSON.stringify({ collection: 'kb', query: 'lighthouse', filter: { op: 'not', filter: { op: 'near' } } }),
    });
    expect(invalid.status).toBe(400);
    expect(((await invalid.json()) as { error: { message: string } }).error.message).toMatch(/filter/);
    // Deeper than the filter language allows (32) but well within the body's limit: still 400, naming the limit.
    let deep = '{"op":"eq","field":"x","value":1}';
    for (let i = 0; i < 40; i++) deep = `{"op":"not","filter":${deep}}`;
    const tooDeep = await fetch(`${served.url}/v1/search`, {
      method: 'POST',
      headers: { authorization: 'Bearer alice', 'content-type': 'application/json' },
      body: `{"collection":"kb","query":"lighthouse","filter":${deep}}`,
    });
    expect(tooDeep.status).toBe(400);
    expect(((await tooDeep.json()) as { error: { message: string } }).error.message).toMatch(/32/);
  });
});
