/**
 * The OIDC verifier and client-credentials provider at their edges: transport and issuer checks,
 * every way the issuer can fail or refuse, malformed tokens and headers, introspection answers at
 * the clock tolerance, and the exact errors each gives. Against a real oidc-provider; a `fetch`
 * wrapper changes its answers where a provider misbehaving is the point.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createClientCredentialsProvider, createTokenVerifier } from '../src/auth/oidc/index.js';
import {
  ForbiddenError,
  InvalidArgumentError,
  KumikiError,
  UnauthorizedError,
  UnavailableError,
} from '../src/core/errors.js';
import { type StartedOidcProvider, startOidcProvider } from './helpers/oidc-provider.js';

let op: StartedOidcProvider;

beforeAll(async () => {
  op = await startOidcProvider();
});

afterAll(async () => {
  await op?.close();
});

/** Runs `fn` and returns what it threw (fails the test when it does not throw). */
async function thrown(fn: () => unknown): Promise<KumikiError> {
  try {
    await fn();
  } catch (error) {
    expect(KumikiError.isInstance(error), `expected a kumiki error, got ${String(error)}`).toBe(true);
    return error as KumikiError;
  }
  throw new Error('expected an error, but nothing was thrown');
}

const urlOf = (input: Parameters<typeof fetch>[0]) =>
  new URL(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url);

/** A fetch that answers requests to `path` with `answer` and passes everything else to the provider. */
const answering =
  (path: string, answer: () => Response | Promise<Response>): typeof fetch =>
  async (input, init) =>
    urlOf(input).pathname === path ? answer() : fetch(input, init);

const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });

const secretOf = () => op.clients.service.clientSecret;

describe('transport and issuer checks (no request is made)', () => {
  test('plain HTTP to a non-loopback issuer is refused unless allowInsecureRequests is set', async () => {
    for (const [create, name] of [
      [
        (issuer: string, allow?: boolean) =>
          createTokenVerifier({ issuer, audience: 'api', allowInsecureRequests: allow }),
        'createTokenVerifier',
      ],
      [
        (issuer: string, allow?: boolean) =>
          createClientCredentialsProvider({ issuer, clientId: 'c', clientSecret: 's', allowInsecureRequests: allow }),
        'createClientCredentialsProvider',
      ],
    ] as const) {
      const error = await thrown(() => create('http://idp.example.com/realms/main'));
      expect(error).toBeInstanceOf(UnavailableError);
      expect(error.isRetryable).toBe(false);
      expect(error.message).toBe(
        `${name}: the issuer http://idp.example.com/realms/main uses plain HTTP on a non-loopback host. Use https, or set allowInsecureRequests: true for a trusted network.`,
      );
      expect((error as UnavailableError).url).toBe('http://idp.example.com/realms/main');
      // Explicitly allowed, HTTPS, and loopback hosts are fine (nothing is fetched until first use).
      expect(() => create('http://idp.example.com/realms/main', true)).not.toThrow();
      expect(() => create('http://idp.example.com/realms/main', false)).toThrow(UnavailableError);
      expect(() => create('https://idp.example.com/realms/main')).not.toThrow();
      for (const loopback of ['http://127.0.0.1:9/', 'http://localhost:9/', 'http://[::1]:9/']) {
        expect(() => create(loopback)).not.toThrow();
      }
      // A host that merely starts like a loopback name is not one.
      expect(() => create('http://localhost.example.com/')).toThrow(UnavailableError);
    }
  });

  test('an issuer that is not an http(s) URL is an InvalidArgumentError naming options.issuer', () => {
    for (const issuer of ['ftp://idp.example.com', 'not a url', 'httpx://idp.example.com', 'xhttp://idp.example.com']) {
      let error: unknown;
      try {
        createTokenVerifier({ issuer, audience: 'api' });
      } catch (caught) {
        error = caught;
      }
      expect(InvalidArgumentError.isInstance(error), issuer).toBe(true);
      const invalid = error as InvalidArgumentError;
      expect(invalid.argument).toBe('options');
      expect(invalid.issues).toEqual([
        { path: 'issuer', message: 'issuer must be an http(s) URL such as https://login.example.com/realms/main' },
      ]);
      expect(() => createClientCredentialsProvider({ issuer, clientId: 'c', clientSecret: 's' })).toThrow(
        InvalidArgumentError,
      );
    }
    expect(() =>
      createClientCredentialsProvider({ issuer: 'https://idp.example.com', clientId: '', clientSecret: 's' }),
    ).toThrow(expect.objectContaining({ argument: 'options' }));
  });

  test('HS* and none are refused with the list of accepted algorithms', () => {
    let error: unknown;
    try {
      createTokenVerifier({ issuer: 'https://idp.example.com', audience: 'api', algorithms: ['RS256', 'HS256'] });
    } catch (caught) {
      error = caught;
    }
    expect(InvalidArgumentError.isInstance(error)).toBe(true);
    expect((error as InvalidArgumentError).issues).toEqual([
      {
        path: 'algorithms',
        message:
          'algorithm "HS256" is not accepted: only asymmetric algorithms (RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA, Ed25519) are; "none" and HS* never are',
      },
    ]);
    expect(() =>
      createTokenVerifier({ issuer: 'https://idp.example.com', audience: 'api', algorithms: ['ES256', 'PS512'] }),
    ).not.toThrow();
  });
});

describe('an https issuer (reached through a custom fetch)', () => {
  test('discovery, JWKS and client credentials work over https without allowInsecureRequests', async () => {
    const issuer = 'https://idp.kumiki.test';
    const requested: string[] = [];
    // Serves the real provider under an https name: requests are forwarded, the metadata names the https issuer.
    const viaHttps: typeof fetch = async (input, init) => {
      const url = urlOf(input);
      requested.push(url.href);
      expect(url.origin).toBe(issuer);
      const forwarded = new Request(`${op.issuer}${url.pathname}${url.search}`, new Request(input, init));
      const response = await fetch(forwarded);
      const text = (await response.text()).replaceAll(op.issuer, issuer);
      return new Response(text, { status: response.status, headers: response.headers });
    };
    const verifier = createTokenVerifier({ issuer, audience: op.audience, fetch: viaHttps });
    try {
      expect((await verifier.verify(await op.mint({ iss: issuer }))).subject).toBe('minted-subject');
      const wrongIssuer = await thrown(async () => verifier.verify(await op.mint()));
      expect(wrongIssuer.message).toBe(
        `The token was issued by "${op.issuer}", not by ${issuer}. Use a token from the configured issuer.`,
      );
    } finally {
      verifier.dispose();
    }
    const provider = createClientCredentialsProvider({
      issuer,
      clientId: 'service',
      clientSecret: secretOf(),
      resource: op.audience,
      fetch: viaHttps,
    });
    expect((await provider()).split('.')).toHaveLength(3);
    provider.dispose();
    expect(requested.some((url) => url.endsWith('/.well-known/openid-configuration'))).toBe(true);
    expect(requested.some((url) => url.endsWith('/token'))).toBe(true);
  });
});

describe('verifier: tokens and headers that are not signed JWTs', () => {
  test('empty, encrypted (JWE) and malformed tokens, with and without introspection', async () => {
    const verifier = createTokenVerifier({ issuer: op.issuer, audience: op.audience });
    const introspecting = createTokenVerifier({
      issuer: op.issuer,
      audience: op.audience,
      introspection: { clientId: 'introspector', clientSecret: op.clients.introspector.clientSecret },
    });
    try {
      const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
      const cases: [string, string][] = [
        ['', 'No access token was given.'],
        [undefined as unknown as string, 'No access token was given.'],
        [42 as unknown as string, 'No access token was given.'],
        ['a.b.c.d.e', 'Encrypted (JWE) access tokens are not supported.'],
        ['%%%.e30.sig', 'The token is malformed (not a valid signed JWT).'],
        [`${b64(['RS256'])}.e30.sig`, 'The token is malformed (not a valid signed JWT).'],
        [`${b64(null)}.e30.sig`, 'The token is malformed (not a valid signed JWT).'],
        [`${b64({ typ: 'JWT' })}.e30.sig`, 'The token is malformed (not a valid signed JWT).'],
        [`${b64({ alg: 256 })}.e30.sig`, 'The token is malformed (not a valid signed JWT).'],
      ];
      for (const [token, message] of cases) {
        const error = await thrown(() => verifier.verify(token));
        expect(error, token).toBeInstanceOf(UnauthorizedError);
        expect(error.message, token).toBe(message);
      }
      // With introspection, a three-part token without a usable JWT header is asked about like an opaque one.
      const asked = await thrown(() => introspecting.verify(`${b64(['RS256'])}.e30.sig`));
      expect(asked.message).toBe('The token is not active (revoked, expired or unknown to the issuer).');
      // A header encoded with base64url's - and _ is decoded (an unknown kid proves it reached the JWKS).
      const dashed = await op.mint({}, { kid: '>>>?' });
      expect(dashed.split('.')[0]).toMatch(/[-_]/);
      const unknownKey = await thrown(() => verifier.verify(dashed));
      expect(unknownKey.message).toContain('(kid ">>>?")');
    } finally {
      verifier.dispose();
      introspecting.dispose();
    }
  });

  test('a corrupt signature segment is malformed; an algorithm outside the list names the accepted ones', async () => {
    const verifier = createTokenVerifier({ issuer: op.issuer, audience: op.audience, algorithms: ['RS256', 'PS256'] });
    try {
      const [header, payload] = (await op.mint()).split('.');
      const corrupt = await thrown(() => verifier.verify(`${header}.${payload}.@@@`));
      expect(corrupt).toBeInstanceOf(UnauthorizedError);
      expect(corrupt.message).toBe('The token is malformed (not a valid signed JWT).');
      const es = await thrown(async () => verifier.verify(await op.getToken('servicePost')));
      expect(es.message).toBe('The token\'s algorithm "ES256" is not allowed; accepted: RS256, PS256.');
    } finally {
      verifier.dispose();
    }
  });

  test('authenticate accepts "Bearer <token>" case-insensitively with any spacing, nothing else', async () => {
    const verifier = createTokenVerifier({ issuer: op.issuer, audience: op.audience });
    try {
      const token = await op.mint();
      const request = (authorization: string) => new Request('http://gateway.test/', { headers: { authorization } });
      for (const good of [`Bearer ${token}`, `bearer ${token}`, `Bearer    ${token}`, `BEARER ${token}  `]) {
        expect((await verifier.authenticate(request(good))).subject, good).toBe('minted-subject');
      }
      for (const bad of [
        `XBearer ${token}`,
        `Bearer ${token} extra`,
        `Bearer ${token} x`,
        'Bearer ',
        `Bearer${token}`,
      ]) {
        const error = await thrown(() => verifier.authenticate(request(bad)));
        expect(error, bad).toBeInstanceOf(UnauthorizedError);
        expect(error.message).toBe('The Authorization header is not of the form "Bearer <access token>".');
      }
      const none = await thrown(() => verifier.authenticate(new Request('http://gateway.test/')));
      expect(none.message).toBe(
        'The request has no Authorization header. Send "Authorization: Bearer <access token>".',
      );
    } finally {
      verifier.dispose();
    }
  });

  test('cacheJwksMs bounds how long signing keys are trusted before a refetch', async () => {
    let jwksFetches = 0;
    const counting: typeof fetch = (input, init) => {
      if (urlOf(input).pathname === '/jwks') jwksFetches += 1;
      return fetch(input, init);
    };
    const shortLived = createTokenVerifier({
      issuer: op.issuer,
      audience: op.audience,
      cacheJwksMs: 1,
      fetch: counting,
    });
    const longLived = createTokenVerifier({
      issuer: op.issuer,
      audience: op.audience,
      cacheJwksMs: 3_600_000,
      fetch: counting,
    });
    try {
      const token = await op.mint();
      await shortLived.verify(token);
      // Let the 1 ms cache lapse (no assertion on the time itself).
      await new Promise((resolve) => setTimeout(resolve, 20));
      await shortLived.verify(token);
      expect(jwksFetches).toBe(2);
      await longLived.verify(token);
      await new Promise((resolve) => setTimeout(resolve, 20));
      await longLived.verify(token);
      expect(jwksFetches).toBe(3);
    } finally {
      shortLived.dispose();
      longLived.dispose();
    }
  });

  test('a disposed verifier refuses every token, for good', async () => {
    const verifier = createTokenVerifier({ issuer: op.issuer, audience: op.audience });
    const token = await op.mint();
    expect((await verifier.verify(token)).subject).toBe('minted-subject');
    verifier.dispose();
    for (const attempt of [token, '']) {
      const error = await thrown(() => verifier.verify(attempt));
      expect(error).toBeInstanceOf(UnavailableError);
      expect(error.isRetryable).toBe(false);
      expect(error.message).toBe('The token verifier was disposed; create a new one.');
    }
  });
});

describe('verifier: claims', () => {
  test('the expiry and not-before times are named exactly; the jose error is the cause', async () => {
    const verifier = createTokenVerifier({ issuer: op.issuer, audience: op.audience });
    try {
      const now = Math.floor(Date.now() / 1000);
      const expired = await thrown(async () => verifier.verify(await op.mint({ iat: now - 600, exp: now - 120 })));
      expect(expired.message).toBe(
        `The token expired at ${new Date((now - 120) * 1000).toISOString()}. Get a new token.`,
      );
      expect((expired.cause as { code?: string }).code).toBe('ERR_JWT_EXPIRED');
      const early = await thrown(async () => verifier.verify(await op.mint({ nbf: now + 600 })));
      expect(early.message).toBe(`The token is not valid before ${new Date((now + 600) * 1000).toISOString()}.`);
      expect((early.cause as { code?: string }).code).toBe('ERR_JWT_CLAIM_VALIDATION_FAILED');
    } finally {
      verifier.dispose();
    }
  });

  test('time claims that are not numbers are named as such, not as expiry or future times', async () => {
    const verifier = createTokenVerifier({ issuer: op.issuer, audience: op.audience });
    try {
      for (const claim of ['exp', 'nbf', 'iat']) {
        const error = await thrown(async () => verifier.verify(await op.mint({ [claim]: 'tomorrow' })));
        expect(error, claim).toBeInstanceOf(UnauthorizedError);
        expect(error.message).toBe(
          `The token's "${claim}" claim must be a number (seconds since 1970), not "tomorrow". Fix the identity provider's token format.`,
        );
      }
      const missing = await thrown(async () => verifier.verify(await op.mint({ exp: undefined })));
      expect(missing.message).toBe('The token has no expiry ("exp" claim); such tokens are refused.');
    } finally {
      verifier.dispose();
    }
  });

  test('a token issued in the future (beyond the tolerance) is refused', async () => {
    const verifier = createTokenVerifier({ issuer: op.issuer, audience: op.audience });
    try {
      const now = Math.floor(Date.now() / 1000);
      const error = await thrown(async () => verifier.verify(await op.mint({ iat: now + 600, exp: now + 900 })));
      expect(error).toBeInstanceOf(UnauthorizedError);
      expect(error.message).toBe(
        `The token's issue time ${new Date((now + 600) * 1000).toISOString()} is in the future.`,
      );
      // Within the default 5 s tolerance, and in the past, it is fine.
      expect((await verifier.verify(await op.mint({ iat: now + 2 }))).subject).toBe('minted-subject');
      expect((await verifier.verify(await op.mint({ iat: now - 60 }))).subject).toBe('minted-subject');
    } finally {
      verifier.dispose();
    }
  });

  test('a wrong audience names every accepted audience; a token for any of them is accepted', async () => {
    const verifier = createTokenVerifier({ issuer: op.issuer, audience: ['https://a.example', 'https://b.example'] });
    try {
      const error = await thrown(async () => verifier.verify(await op.mint({ aud: 'https://c.example' })));
      expect(error.message).toBe(
        'The token\'s audience "https://c.example" does not include "https://a.example" or "https://b.example". Request the token for this resource.',
      );
      const principal = await verifier.verify(await op.mint({ aud: ['https://x.example', 'https://b.example'] }));
      expect(principal.claims.aud).toEqual(['https://x.example', 'https://b.example']);
    } finally {
      verifier.dispose();
    }
  });

  test('the claim mapping reaches the principal', async () => {
    const verifier = createTokenVerifier({
      issuer: op.issuer,
      audience: op.audience,
      claims: { tenantClaim: 'org.id', rolesClaim: 'groups', subjectClaim: 'email', clientIdClaim: 'azp' },
    });
    try {
      const principal = await verifier.verify(
        await op.mint({ org: { id: 'initech' }, groups: 'ops dev', email: 'p@initech.test', azp: 'portal' }),
      );
      expect(principal).toMatchObject({
        subject: 'p@initech.test',
        tenant: 'initech',
        roles: ['ops', 'dev'],
        clientId: 'portal',
      });
    } finally {
      verifier.dispose();
    }
  });

  test('several missing scopes are all named, in the plural', async () => {
    const verifier = createTokenVerifier({
      issuer: op.issuer,
      audience: op.audience,
      requiredScopes: ['chat', 'admin', 'audit'],
    });
    try {
      const error = await thrown(async () => verifier.verify(await op.mint({ scope: 'chat embed' })));
      expect(error).toBeInstanceOf(ForbiddenError);
      expect(error.message).toBe(
        'The token lacks the required scopes "admin", "audit". Request a token with these scopes.',
      );
      const one = await thrown(async () => verifier.verify(await op.mint({ scope: 'chat admin' })));
      expect(one.message).toBe('The token lacks the required scope "audit". Request a token with this scope.');
    } finally {
      verifier.dispose();
    }
  });
});

describe('verifier: the issuer failing', () => {
  test('an unreachable issuer is UnavailableError naming the discovery', async () => {
    const verifier = createTokenVerifier({ issuer: 'http://127.0.0.1:9/realms/x', audience: 'api' });
    try {
      const error = await thrown(async () => verifier.verify(await op.mint()));
      expect(error).toBeInstanceOf(UnavailableError);
      expect(error.message).toMatch(
        /^OIDC discovery of http:\/\/127\.0\.0\.1:9\/realms\/x failed: .+\. Check that the issuer is reachable and serves valid OpenID metadata\.$/,
      );
      expect((error as UnavailableError).url).toBe('http://127.0.0.1:9/realms/x');
    } finally {
      verifier.dispose();
    }
  });

  test('an issuer publishing no jwks_uri is a non-retryable UnavailableError', async () => {
    const verifier = createTokenVerifier({
      issuer: op.issuer,
      audience: op.audience,
      fetch: answering('/.well-known/openid-configuration', async () => {
        const metadata = (await (await fetch(`${op.issuer}/.well-known/openid-configuration`)).json()) as Record<
          string,
          unknown
        >;
        delete metadata.jwks_uri;
        return json(200, metadata);
      }),
    });
    try {
      const error = await thrown(async () => verifier.verify(await op.mint()));
      expect(error).toBeInstanceOf(UnavailableError);
      expect(error.isRetryable).toBe(false);
      expect(error.message).toBe(
        `The issuer ${op.issuer} publishes no jwks_uri, so JWT signatures cannot be checked. Configure introspection instead.`,
      );
    } finally {
      verifier.dispose();
    }
  });

  test('a JWKS that is not a key set, fails, or cannot be fetched is UnavailableError, not a rejected token', async () => {
    const cases: [() => Response, RegExp][] = [
      [
        () => json(200, { keys: 'none' }),
        /^Could not load the issuer's signing keys \(ERR_JWKS_INVALID: JSON Web Key Set malformed\)\. Check that http:\/\/127\.0\.0\.1:\d+ is reachable\.$/,
      ],
      [
        () => json(503, { error: 'down' }),
        /^Could not load the issuer's signing keys \(ERR_JOSE_GENERIC: Expected 200 OK from the JSON Web Key Set HTTP response\)\. Check that http:\/\/127\.0\.0\.1:\d+ is reachable\.$/,
      ],
      [
        () => {
          throw new TypeError('fetch failed');
        },
        /^Could not check the token against the issuer's signing keys: TypeError\. Check that http:\/\/127\.0\.0\.1:\d+ is reachable\.$/,
      ],
    ];
    for (const [answer, message] of cases) {
      const verifier = createTokenVerifier({
        issuer: op.issuer,
        audience: op.audience,
        fetch: answering('/jwks', answer),
      });
      try {
        const error = await thrown(async () => verifier.verify(await op.mint()));
        expect(error, String(message)).toBeInstanceOf(UnavailableError);
        expect(error.message).toMatch(message);
      } finally {
        verifier.dispose();
      }
    }
  });

  test('a kumiki error thrown by the fetch passes through unchanged', async () => {
    const own = new UnavailableError({ component: 'test', message: 'the proxy is down' });
    const verifier = createTokenVerifier({
      issuer: op.issuer,
      audience: op.audience,
      fetch: answering('/jwks', () => {
        throw own;
      }),
    });
    try {
      expect(await thrown(async () => verifier.verify(await op.mint()))).toBe(own);
    } finally {
      verifier.dispose();
    }
    const discovering = createClientCredentialsProvider({
      issuer: op.issuer,
      clientId: 'service',
      clientSecret: secretOf(),
      fetch: answering('/.well-known/openid-configuration', () => {
        throw own;
      }),
    });
    expect(await thrown(() => discovering())).toBe(own);
  });
});

describe('introspection answers at the edges', () => {
  const introspecting = (edit: (body: Record<string, unknown>) => void, extra: { audience?: string[] } = {}) =>
    createTokenVerifier({
      issuer: op.issuer,
      audience: extra.audience ?? op.audience,
      introspection: { clientId: 'introspector', clientSecret: op.clients.introspector.clientSecret },
      fetch: async (input, init) => {
        const response = await fetch(input, init);
        if (!urlOf(input).pathname.endsWith('/introspection')) return response;
        const body = (await response.json()) as Record<string, unknown>;
        edit(body);
        return json(response.status, body);
      },
    });
  const opaque = () => op.getToken('service', { resource: op.opaqueResource, scope: 'chat' });

  test('another issuer is refused; the same issuer or none named is accepted', async () => {
    const token = await opaque();
    const other = introspecting((body) => {
      body.iss = 'https://evil.example';
    });
    const error = await thrown(() => other.verify(token));
    expect(error).toBeInstanceOf(UnauthorizedError);
    expect(error.message).toBe(`The token was issued by "https://evil.example", not by ${op.issuer}.`);
    other.dispose();
    for (const edit of [
      (body: Record<string, unknown>) => {
        body.iss = op.issuer;
      },
      (body: Record<string, unknown>) => {
        delete body.iss;
      },
    ]) {
      const verifier = introspecting(edit);
      expect((await verifier.verify(token)).subject).toBe('service');
      verifier.dispose();
    }
  });

  test('audiences: a list containing one of ours is accepted; the refusal names all of ours', async () => {
    const token = await opaque();
    const listed = introspecting((body) => {
      body.aud = ['https://other.example', op.audience];
    });
    expect((await listed.verify(token)).tenant).toBe('acme');
    listed.dispose();
    const two = introspecting(
      (body) => {
        body.aud = 'https://other.example';
      },
      { audience: ['https://a.example', 'https://b.example'] },
    );
    const error = await thrown(() => two.verify(token));
    expect(error.message).toBe(
      'The token\'s audience "https://other.example" does not include "https://a.example" or "https://b.example". Request the token for this resource.',
    );
    two.dispose();
  });

  test('exp and nbf are checked with the clock tolerance (default 5 s)', async () => {
    const token = await opaque();
    const now = Math.floor(Date.now() / 1000);
    const outcome = async (edit: (body: Record<string, unknown>) => void) => {
      const verifier = introspecting(edit);
      try {
        return (await verifier.verify(token)).subject;
      } catch (error) {
        return (error as Error).message;
      } finally {
        verifier.dispose();
      }
    };
    expect(
      await outcome((body) => {
        body.exp = now - 120;
      }),
    ).toBe(`The token expired at ${new Date((now - 120) * 1000).toISOString()}. Get a new token.`);
    // Expired a second ago: within the tolerance.
    expect(
      await outcome((body) => {
        body.exp = now - 1;
      }),
    ).toBe('service');
    expect(
      await outcome((body) => {
        body.nbf = now + 120;
      }),
    ).toBe(`The token is not valid before ${new Date((now + 120) * 1000).toISOString()}.`);
    // Valid from a second from now: within the tolerance.
    expect(
      await outcome((body) => {
        body.nbf = now + 1;
      }),
    ).toBe('service');
    // Valid since a minute ago, and for another minute.
    expect(
      await outcome((body) => {
        body.nbf = now - 60;
        body.exp = now + 60;
      }),
    ).toBe('service');
  });

  test('the introspection client authenticates with its configured method', async () => {
    const token = await opaque();
    for (const authMethod of [undefined, 'client_secret_basic', 'client_secret_post'] as const) {
      const seen: { authorization: boolean; secretInBody: boolean }[] = [];
      const verifier = createTokenVerifier({
        issuer: op.issuer,
        audience: op.audience,
        introspection: {
          clientId: 'introspector',
          clientSecret: op.clients.introspector.clientSecret,
          ...(authMethod ? { authMethod } : {}),
        },
        fetch: async (input, init) => {
          if (urlOf(input).pathname.endsWith('/introspection')) {
            const request = new Request(input, init);
            const body = await request.clone().text();
            seen.push({
              authorization: request.headers.has('authorization'),
              secretInBody: new URLSearchParams(body).has('client_secret'),
            });
          }
          return fetch(input, init);
        },
      });
      expect((await verifier.verify(token)).subject).toBe('service');
      const post = authMethod === 'client_secret_post';
      expect(seen, String(authMethod)).toEqual([{ authorization: !post, secretInBody: post }]);
      verifier.dispose();
    }
  });
});

describe('client-credentials provider: how it asks and what the issuer answers', () => {
  /** A provider for the `service` client whose token requests are recorded and optionally answered by `answer`. */
  function recording(
    options: { scope?: string; resource?: string; authMethod?: 'client_secret_basic' | 'client_secret_post' } = {},
    answer?: () => Response,
  ) {
    const requests: { authorization: boolean; body: URLSearchParams }[] = [];
    const provider = createClientCredentialsProvider({
      issuer: op.issuer,
      clientId: 'service',
      clientSecret: secretOf(),
      ...options,
      fetch: async (input, init) => {
        if (urlOf(input).pathname === '/token') {
          const request = new Request(input, init);
          requests.push({
            authorization: request.headers.has('authorization'),
            body: new URLSearchParams(await request.clone().text()),
          });
          if (answer) return answer();
        }
        return fetch(input, init);
      },
    });
    return { provider, requests };
  }

  test('sends scope and resource only when configured, and the secret as configured', async () => {
    const bare = recording();
    await bare.provider();
    expect(bare.requests).toHaveLength(1);
    expect(bare.requests[0]?.authorization).toBe(true);
    expect(bare.requests[0]?.body.has('scope')).toBe(false);
    expect(bare.requests[0]?.body.has('resource')).toBe(false);
    expect(bare.requests[0]?.body.has('client_secret')).toBe(false);

    const full = recording({ scope: 'chat embed', resource: op.audience, authMethod: 'client_secret_post' });
    const token = await full.provider();
    expect(full.requests[0]?.authorization).toBe(false);
    expect(full.requests[0]?.body.get('client_secret')).toBe(secretOf());
    expect(full.requests[0]?.body.get('scope')).toBe('chat embed');
    expect(full.requests[0]?.body.get('resource')).toBe(op.audience);
    const verifier = createTokenVerifier({ issuer: op.issuer, audience: op.audience });
    expect((await verifier.verify(token)).scopes).toEqual(['chat', 'embed']);
    verifier.dispose();
  });

  test('a token answer without an access token is refused as an invalid answer', async () => {
    const { provider } = recording({}, () => json(200, { access_token: '', token_type: 'bearer', expires_in: 300 }));
    const error = await thrown(() => provider());
    expect(error).toBeInstanceOf(UnavailableError);
    expect(error.message).toBe(
      'The client-credentials token request failed: invalid response encountered. Check that the issuer is reachable and serves valid OpenID metadata.',
    );
  });

  test('a token without expires_in is not cached; one with it is, until refreshBeforeSeconds', async () => {
    let issued = 0;
    const noExpiry = recording({}, () => json(200, { access_token: `t${++issued}`, token_type: 'bearer' }));
    expect(await noExpiry.provider()).toBe('t1');
    expect(await noExpiry.provider()).toBe('t2');
    const expiring = recording({}, () =>
      json(200, { access_token: `t${++issued}`, token_type: 'bearer', expires_in: 3600 }),
    );
    expect(await expiring.provider()).toBe('t3');
    expect(await expiring.provider()).toBe('t3');
    expect(expiring.requests).toHaveLength(1);
    // A token that expires exactly at the refresh margin is not reused.
    const atMargin = recording({}, () =>
      json(200, { access_token: `t${++issued}`, token_type: 'bearer', expires_in: 30 }),
    );
    expect(await atMargin.provider()).toBe('t4');
    expect(await atMargin.provider()).toBe('t5');
  });

  test('a disposed provider refuses, for good, without retrying', async () => {
    const { provider } = recording({});
    expect(typeof (await provider())).toBe('string');
    provider.dispose();
    const error = await thrown(() => provider());
    expect(error).toBeInstanceOf(UnavailableError);
    expect(error.isRetryable).toBe(false);
    expect(error.message).toBe('The client-credentials provider of client "service" was disposed; create a new one.');
  });

  test('OAuth errors become typed kumiki errors, retryable only for 5xx and 429', async () => {
    const cases: [
      Response,
      typeof UnauthorizedError | typeof ForbiddenError | typeof UnavailableError,
      string,
      boolean,
    ][] = [
      [
        json(400, { error: 'unauthorized_client' }),
        UnauthorizedError,
        'The client-credentials token request failed: the issuer rejected client "service" (unauthorized_client). Check the client id, the client secret and that the client may use this grant.',
        false,
      ],
      [
        json(400, { error: 'invalid_scope' }),
        ForbiddenError,
        'The client-credentials token request failed: the issuer refused the requested scope or resource (invalid_scope). Ask for scopes and resources the client is registered for.',
        false,
      ],
      [json(400, { error: 'invalid_target' }), ForbiddenError, '(invalid_target)', false],
      [json(403, { error: 'access_denied' }), ForbiddenError, '(access_denied)', false],
      [
        json(400, { error: 'invalid_request' }),
        UnavailableError,
        'The client-credentials token request failed: the issuer answered HTTP 400 with OAuth error "invalid_request".',
        false,
      ],
      [json(499, { error: 'custom' }), UnavailableError, 'HTTP 499 with OAuth error "custom"', false],
      // openid-client reads OAuth error bodies of 4xx answers only; a 5xx is an unexpected status.
      [
        json(503, { error: 'temporarily_unavailable' }),
        UnavailableError,
        'The client-credentials token request failed: the issuer answered HTTP 503 (unexpected HTTP response status code).',
        true,
      ],
      [json(500, {}), UnavailableError, 'the issuer answered HTTP 500', true],
      [json(429, { error: 'slow_down' }), UnavailableError, 'HTTP 429 with OAuth error "slow_down"', true],
      [
        json(401, { error: 'invalid_client' }, { 'www-authenticate': 'Basic realm="idp"' }),
        UnauthorizedError,
        '(invalid_client)',
        false,
      ],
      [
        json(401, {}, { 'www-authenticate': 'Bearer error="invalid_token", realm="idp"' }),
        UnavailableError,
        'HTTP 401 with OAuth error "invalid_token"',
        false,
      ],
    ];
    for (const [response, type, message, retryable] of cases) {
      const { provider } = recording({}, () => response);
      const error = await thrown(() => provider());
      expect(error, message).toBeInstanceOf(type);
      expect(error.message, message).toContain(message);
      expect(error.isRetryable, message).toBe(retryable);
      if (type === UnavailableError) {
        expect((error as UnavailableError).statusCode).toBe(response.status);
        expect((error as UnavailableError).url).toBe(op.issuer);
      }
    }
    // A 503 asking to come back later says when.
    const { provider } = recording({}, () => json(503, {}, { 'retry-after': '7' }));
    const busy = (await thrown(() => provider())) as UnavailableError;
    expect(busy.statusCode).toBe(503);
    expect(busy.retryAfterMs).toBe(7000);
  });
});
