import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { createClientCredentialsProvider, createTokenVerifier, type TokenVerifier } from '../src/auth/oidc/index.js';
import { ForbiddenError, InvalidArgumentError, UnauthorizedError } from '../src/core/errors.js';
import { createOpenAICompatibleRunner } from '../src/runners/openai-compatible/index.js';
import { type StartedOidcProvider, startOidcProvider } from './helpers/oidc-provider.js';

let op: StartedOidcProvider;
let verifier: TokenVerifier;
/** Every string passed to console.* during the tests, to check that no token or secret is logged. */
const logged: string[] = [];

beforeAll(async () => {
  for (const method of ['log', 'info', 'warn', 'error', 'debug'] as const) {
    const original = console[method].bind(console);
    vi.spyOn(console, method).mockImplementation((...args: unknown[]) => {
      logged.push(args.map(String).join(' '));
      original(...args);
    });
  }
  op = await startOidcProvider();
  verifier = createTokenVerifier({ issuer: op.issuer, audience: op.audience });
});

afterAll(async () => {
  verifier?.dispose();
  await op?.close();
  vi.restoreAllMocks();
});

/** Secrets that must never appear in an error message or log line. */
const secrets = () => Object.values(op.clients).map((client) => client.clientSecret);

/** Runs `fn`, expects it to throw an error of `type` whose message matches `reason` and leaks nothing. */
async function rejects(
  fn: () => Promise<unknown>,
  type: typeof UnauthorizedError | typeof ForbiddenError,
  reason: RegExp,
  token?: string,
) {
  let caught: unknown;
  try {
    await fn();
  } catch (error) {
    caught = error;
  }
  expect(type.isInstance(caught), `expected ${type.name}, got ${String(caught)}`).toBe(true);
  const message = (caught as Error).message;
  expect(message).toMatch(reason);
  for (const secret of [
    ...secrets(),
    ...(token ? [token, ...token.split('.').filter((part) => part.length > 20)] : []),
  ]) {
    expect(message).not.toContain(secret);
  }
  return caught as Error;
}

describe('token verifier against a real oidc-provider', () => {
  test('accepts a real client-credentials JWT (RS256) and maps the principal', async () => {
    const token = await op.getToken('service', { scope: 'chat embed' });
    const principal = await verifier.verify(token);
    expect(principal.subject).toBe('service');
    expect(principal.clientId).toBe('service');
    expect(principal.tenant).toBe('acme');
    expect(principal.roles).toEqual(['reader', 'writer']);
    expect(principal.scopes).toEqual(['chat', 'embed']);
    expect(principal.claims.aud).toBe(op.audience);
  });

  test('accepts an ES256 token from a client_secret_post client', async () => {
    const token = await op.getToken('servicePost');
    const principal = await verifier.verify(token);
    expect(principal).toMatchObject({ subject: 'service-post', tenant: 'globex', roles: ['reader'] });
    expect(principal.scopes).toEqual(['chat', 'embed', 'search']);
  });

  test('authenticate reads the Bearer header', async () => {
    const token = await op.getToken('service');
    const request = new Request('http://gateway.test/v1/chat', { headers: { authorization: `Bearer ${token}` } });
    expect((await verifier.authenticate(request)).tenant).toBe('acme');
    await rejects(
      () => verifier.authenticate(new Request('http://gateway.test/')),
      UnauthorizedError,
      /no Authorization/,
    );
    const basic = new Request('http://gateway.test/', { headers: { authorization: `Basic ${token}` } });
    await rejects(() => verifier.authenticate(basic), UnauthorizedError, /Bearer <access token>/, token);
  });

  test('rejects an expired token, with the reason', async () => {
    const now = Math.floor(Date.now() / 1000);
    const token = await op.mint({ iat: now - 600, exp: now - 60 });
    await rejects(() => verifier.verify(token), UnauthorizedError, /expired at/, token);
  });

  test('rejects a token not yet valid, but accepts it within the clock tolerance', async () => {
    const now = Math.floor(Date.now() / 1000);
    const token = await op.mint({ nbf: now + 120 });
    await rejects(() => verifier.verify(token), UnauthorizedError, /not valid before/, token);
    const tolerant = createTokenVerifier({ issuer: op.issuer, audience: op.audience, clockToleranceSeconds: 300 });
    expect((await tolerant.verify(token)).subject).toBe('minted-subject');
    tolerant.dispose();
  });

  test('rejects a wrong issuer and a wrong audience', async () => {
    const wrongIssuer = await op.mint({ iss: 'https://evil.example' });
    await rejects(
      () => verifier.verify(wrongIssuer),
      UnauthorizedError,
      /issued by "https:\/\/evil.example"/,
      wrongIssuer,
    );
    const wrongAudience = await op.mint({ aud: 'https://other.example' });
    await rejects(
      () => verifier.verify(wrongAudience),
      UnauthorizedError,
      /audience .*does not include/,
      wrongAudience,
    );
  });

  test('rejects alg none, a tampered signature, HS256 keyed with the public key and a missing exp', async () => {
    const none = await op.mint({}, { algNone: true });
    await rejects(() => verifier.verify(none), UnauthorizedError, /unsigned \(alg "none"\)/, none);
    const tampered = await op.mint({}, { tamper: true });
    await rejects(() => verifier.verify(tampered), UnauthorizedError, /signature is not valid/, tampered);
    const confused = await op.mint({}, { hs256WithPublicKey: true });
    await rejects(() => verifier.verify(confused), UnauthorizedError, /algorithm "HS256" is not allowed/, confused);
    const noExp = await op.mint({ exp: undefined });
    await rejects(() => verifier.verify(noExp), UnauthorizedError, /no expiry/, noExp);
    // A correctly signed minted token passes, so the rejections above are about what was changed.
    expect((await verifier.verify(await op.mint())).subject).toBe('minted-subject');
  });

  test('algorithms: HS* and none cannot be enabled; a narrowed list rejects the others', async () => {
    expect(() => createTokenVerifier({ issuer: op.issuer, audience: op.audience, algorithms: ['HS256'] })).toThrow(
      InvalidArgumentError,
    );
    expect(() => createTokenVerifier({ issuer: op.issuer, audience: op.audience, algorithms: ['none'] })).toThrow(
      InvalidArgumentError,
    );
    const esOnly = createTokenVerifier({ issuer: op.issuer, audience: op.audience, algorithms: ['ES256'] });
    const rsa = await op.getToken('service');
    await rejects(() => esOnly.verify(rsa), UnauthorizedError, /algorithm "RS256" is not allowed/, rsa);
    expect((await esOnly.verify(await op.getToken('servicePost'))).tenant).toBe('globex');
    esOnly.dispose();
  });

  test('unknown kid is rejected; after key rotation new tokens verify (JWKS refetched, with a cooldown)', async () => {
    const own = await startOidcProvider();
    let jwksFetches = 0;
    const counting: typeof fetch = (input, init) => {
      if (String(input instanceof Request ? input.url : input).includes('/jwks')) jwksFetches += 1;
      return fetch(input, init);
    };
    const cooled = createTokenVerifier({ issuer: own.issuer, audience: own.audience, fetch: counting });
    const eager = createTokenVerifier({ issuer: own.issuer, audience: own.audience, jwksCooldownMs: 0 });
    try {
      const oldKeyToken = await own.getToken('service');
      expect((await cooled.verify(oldKeyToken)).tenant).toBe('acme');
      expect((await eager.verify(oldKeyToken)).tenant).toBe('acme');
      expect(jwksFetches).toBe(1);

      const unknown = await own.mint({}, { kid: 'no-such-key' });
      await rejects(() => cooled.verify(unknown), UnauthorizedError, /unknown key \(kid "no-such-key"\)/, unknown);
      await rejects(() => cooled.verify(unknown), UnauthorizedError, /unknown key/, unknown);
      // Within the (default 30 s) cooldown, unknown kids do not make the verifier refetch the JWKS.
      expect(jwksFetches).toBe(1);

      await own.rotateKeys();
      const rotated = await own.getToken('service');
      // The cooling-down verifier still has only the old keys ...
      await rejects(() => cooled.verify(rotated), UnauthorizedError, /unknown key/, rotated);
      expect(jwksFetches).toBe(1);
      // ... the one without cooldown refetches on the unknown kid and accepts the new keys (RSA and EC).
      expect((await eager.verify(rotated)).tenant).toBe('acme');
      expect((await eager.verify(await own.getToken('servicePost'))).tenant).toBe('globex');
      // Tokens signed with the retired key no longer verify.
      await rejects(() => eager.verify(oldKeyToken), UnauthorizedError, /unknown key/, oldKeyToken);
    } finally {
      cooled.dispose();
      eager.dispose();
      await own.close();
    }
  });

  test('missing required scope gives ForbiddenError naming the scope', async () => {
    const needsSearch = createTokenVerifier({ issuer: op.issuer, audience: op.audience, requiredScopes: ['search'] });
    const token = await op.getToken('service', { scope: 'chat embed' });
    await rejects(() => needsSearch.verify(token), ForbiddenError, /required scope "search"/, token);
    expect((await needsSearch.verify(await op.getToken('service', { scope: 'search' }))).scopes).toEqual(['search']);
    needsSearch.dispose();
  });

  test('opaque tokens via introspection: active accepted, revoked refused, unconfigured refused', async () => {
    const introspecting = createTokenVerifier({
      issuer: op.issuer,
      audience: op.audience,
      introspection: { clientId: 'introspector', clientSecret: op.clients.introspector.clientSecret },
    });
    const opaque = await op.getToken('service', { resource: op.opaqueResource, scope: 'chat' });
    expect(opaque.split('.')).toHaveLength(1);
    const principal = await introspecting.verify(opaque);
    expect(principal).toMatchObject({ subject: 'service', clientId: 'service', tenant: 'acme', scopes: ['chat'] });
    await rejects(() => verifier.verify(opaque), UnauthorizedError, /not a JWT and no introspection/, opaque);
    await op.revoke('service', opaque);
    await rejects(() => introspecting.verify(opaque), UnauthorizedError, /not active/, opaque);
    await rejects(() => introspecting.verify('made-up-token'), UnauthorizedError, /not active/);
    introspecting.dispose();

    const badIntrospector = createTokenVerifier({
      issuer: op.issuer,
      audience: op.audience,
      introspection: { clientId: 'introspector', clientSecret: 'wrong-introspection-secret' },
    });
    const error = await rejects(
      () => badIntrospector.verify(opaque),
      UnauthorizedError,
      /rejected client "introspector"/,
    );
    expect(error.message).not.toContain('wrong-introspection-secret');
    badIntrospector.dispose();
  });
});

describe('introspection answers the verifier must not trust', () => {
  /** The real provider's introspection answers, changed by `edit` on the way back. */
  const editingIntrospection =
    (edit: (body: Record<string, unknown>) => void): typeof fetch =>
    async (input, init) => {
      const response = await fetch(input, init);
      const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
      if (!new URL(url).pathname.endsWith('/introspection')) return response;
      const body = (await response.json()) as Record<string, unknown>;
      edit(body);
      return new Response(JSON.stringify(body), {
        status: response.status,
        headers: { 'content-type': 'application/json' },
      });
    };
  const introspectingWith = (edit: (body: Record<string, unknown>) => void) =>
    createTokenVerifier({
      issuer: op.issuer,
      audience: op.audience,
      introspection: { clientId: 'introspector', clientSecret: op.clients.introspector.clientSecret },
      fetch: editingIntrospection(edit),
    });

  test('an active token whose introspection names no audience is refused (audience null)', async () => {
    const opaque = await op.getToken('service', { resource: op.opaqueResource, scope: 'chat' });
    const untouched = introspectingWith(() => {});
    expect((await untouched.verify(opaque)).subject).toBe('service');
    untouched.dispose();
    let edited = 0;
    const noAudience = introspectingWith((body) => {
      expect(body.active).toBe(true);
      delete body.aud;
      edited++;
    });
    await rejects(() => noAudience.verify(opaque), UnauthorizedError, /audience null does not include/, opaque);
    expect(edited).toBe(1);
    noAudience.dispose();
    const emptyList = introspectingWith((body) => {
      body.aud = [];
    });
    await rejects(() => emptyList.verify(opaque), UnauthorizedError, /audience \[\] does not include/, opaque);
    emptyList.dispose();
    const otherAudience = introspectingWith((body) => {
      body.aud = ['https://other.example'];
    });
    await rejects(() => otherAudience.verify(opaque), UnauthorizedError, /does not include/, opaque);
    otherAudience.dispose();
  });
});

describe('client-credentials token provider', () => {
  test('caches the token and shares one request among 50 concurrent callers', async () => {
    const provider = createClientCredentialsProvider({
      issuer: op.issuer,
      clientId: 'service',
      clientSecret: op.clients.service.clientSecret,
      scope: 'chat',
      resource: op.audience,
    });
    const before = op.tokenRequests;
    const tokens = await Promise.all(Array.from({ length: 50 }, () => provider()));
    expect(op.tokenRequests - before).toBe(1);
    expect(new Set(tokens).size).toBe(1);
    expect(await provider()).toBe(tokens[0]);
    expect(op.tokenRequests - before).toBe(1);
    expect((await verifier.verify(tokens[0] as string)).scopes).toEqual(['chat']);
    provider.invalidate();
    const fresh = await provider();
    expect(op.tokenRequests - before).toBe(2);
    expect(fresh).not.toBe(tokens[0]);
    provider.dispose();
    await expect(provider()).rejects.toThrow(/disposed/);
  });

  test('refreshes a token that is within refreshBeforeSeconds of expiry', async () => {
    // The provider issues 300 s tokens; with a 300 s margin every token is already due for refresh.
    const provider = createClientCredentialsProvider({
      issuer: op.issuer,
      clientId: 'service-post',
      clientSecret: op.clients.servicePost.clientSecret,
      authMethod: 'client_secret_post',
      refreshBeforeSeconds: 300,
    });
    const before = op.tokenRequests;
    const first = await provider();
    const second = await provider();
    expect(op.tokenRequests - before).toBe(2);
    expect(first).not.toBe(second);
    expect((await verifier.verify(second)).tenant).toBe('globex');
    provider.dispose();
  });

  test('a bad client secret gives UnauthorizedError without the secret', async () => {
    const provider = createClientCredentialsProvider({
      issuer: op.issuer,
      clientId: 'service',
      clientSecret: 'definitely-not-the-secret',
    });
    const error = await rejects(async () => provider(), UnauthorizedError, /rejected client "service"/);
    expect(error.message).not.toContain('definitely-not-the-secret');
    expect(JSON.stringify(logged)).not.toContain('definitely-not-the-secret');
  });

  test('plugged into the OpenAI-compatible runner, the server sees verified bearer tokens', async () => {
    const seen: string[] = [];
    const server = createServer(async (req, res) => {
      const headers = new Headers();
      for (const [name, value] of Object.entries(req.headers)) if (typeof value === 'string') headers.set(name, value);
      for await (const _chunk of req) {
        // drain the request body
      }
      try {
        const principal = await verifier.authenticate(new Request(`http://127.0.0.1${req.url}`, { headers }));
        seen.push(`${principal.subject}@${principal.tenant}`);
      } catch (error) {
        res.writeHead(401, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { message: (error as Error).message } }));
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          id: 'chatcmpl-1',
          object: 'chat.completion',
          created: 0,
          model: 'tiny',
          choices: [{ index: 0, message: { role: 'assistant', content: 'hello' }, finish_reason: 'stop' }],
          usage: { prompt_tokens: 3, completion_tokens: 1, total_tokens: 4 },
        }),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    try {
      const provider = createClientCredentialsProvider({
        issuer: op.issuer,
        clientId: 'service',
        clientSecret: op.clients.service.clientSecret,
        resource: op.audience,
      });
      const runner = createOpenAICompatibleRunner({
        baseURL: `http://127.0.0.1:${port}/v1`,
        model: 'tiny',
        apiKey: provider,
        retries: 0,
      });
      const before = op.tokenRequests;
      const results = await Promise.all(
        Array.from({ length: 5 }, () => runner.generate({ messages: [{ role: 'user', content: 'hi' }] })),
      );
      expect(results.map((result) => result.text)).toEqual(Array(5).fill('hello'));
      expect(seen).toEqual(Array(5).fill('service@acme'));
      expect(op.tokenRequests - before).toBe(1);

      const unauthenticated = createOpenAICompatibleRunner({
        baseURL: `http://127.0.0.1:${port}/v1`,
        model: 'tiny',
        retries: 0,
      });
      await expect(unauthenticated.generate({ messages: [{ role: 'user', content: 'hi' }] })).rejects.toThrow(
        UnauthorizedError,
      );
      provider.dispose();
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  test('nothing logged during the tests contains a client secret', () => {
    const all = logged.join('\n');
    for (const secret of secrets()) expect(all).not.toContain(secret);
  });
});
