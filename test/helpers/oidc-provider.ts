/**
 * A real OpenID provider (`oidc-provider` v9) on 127.0.0.1 (port 0) for auth tests.
 *
 * ```ts
 * const op = await startOidcProvider();
 * op.issuer;    // 'http://127.0.0.1:<port>' (discovery at `${issuer}/.well-known/openid-configuration`)
 * op.audience;  // 'https://api.kumiki.test' — the resource server JWT access tokens are issued for
 * op.opaqueResource; // 'urn:kumiki:opaque' — resource indicator whose tokens are opaque (audience is still op.audience)
 * op.clients;   // { service, servicePost, noTenant, introspector }: each { clientId, clientSecret, authMethod, alg }
 * await op.getToken('service', { scope: 'chat embed', resource?: op.audience }); // real token from /token (client_credentials)
 * await op.mint({ sub: 'x', exp: 0 }, { key: 'rsa' | 'ec', alg?, kid?, tamper?, hs256WithPublicKey?, algNone? });
 * await op.revoke('service', token);    // revokes a token at /token/revocation (as the client that got it)
 * await op.rotateKeys();  // replaces both signing keys (new kids); same issuer and port, old keys gone from the JWKS
 * op.tokenRequests;       // number of requests /token has received (to check caching and single flight)
 * op.publicJwks();        // the current public JWKS
 * await op.close();
 * ```
 *
 * Clients (all `grant_types: ['client_credentials']`; tokens for `op.audience` carry scopes from `chat embed search`):
 * - `service`: `client_secret_basic`, RS256 tokens, extra claims `tenant: 'acme'`, `roles: ['reader', 'writer']`.
 * - `servicePost`: `client_secret_post`, ES256 tokens, extra claims `tenant: 'globex'`, `roles: ['reader']`.
 * - `noTenant`: `client_secret_basic`, RS256 tokens, no extra claims.
 * - `introspector`: `client_secret_basic`, used by resource servers to call /token/introspection.
 *
 * `mint(claims, options)` signs arbitrary claims with the provider's own current private keys. Default claims:
 * `iss`, `aud`, `sub: 'minted-subject'`, `client_id: 'service'`, `iat` now, `exp` now + 300 s, `scope: 'chat embed search'`,
 * `tenant: 'acme'`, `roles: ['reader']`, `jti`. Pass a claim as `undefined` to leave it out. Options:
 * `key` ('rsa' default, or 'ec'), `alg` (defaults RS256/ES256), `kid` (override the header kid, e.g. an unknown one),
 * `tamper` (flip a character of the signature), `algNone` (unsigned `alg: none` token),
 * `hs256WithPublicKey` (HS256 with the RSA public key's PEM as the HMAC secret — the key-confusion attack).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, exportSPKI, generateKeyPair, type JWK, type JWTPayload, SignJWT } from 'jose';

/** The little of oidc-provider's API this helper uses (the package ships no type declarations). */
type OidcClientView = { clientId: string };
type OidcProviderConfig = Record<string, unknown>;
type OidcProviderInstance = { callback(): (req: IncomingMessage, res: ServerResponse) => void };
type OidcProviderClass = new (issuer: string, config: OidcProviderConfig) => OidcProviderInstance;
type SigningKey = Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];
const OIDC_PROVIDER_PACKAGE = 'oidc-provider';

export const OIDC_AUDIENCE = 'https://api.kumiki.test';
export const OIDC_OPAQUE_RESOURCE = 'urn:kumiki:opaque';
export const OIDC_SCOPES = 'chat embed search';

export type OidcTestClient = {
  clientId: string;
  clientSecret: string;
  authMethod: 'client_secret_basic' | 'client_secret_post';
  alg: 'RS256' | 'ES256';
  extraClaims: Record<string, unknown>;
};

export type OidcTestClientName = 'service' | 'servicePost' | 'noTenant' | 'introspector';

export type MintOptions = {
  key?: 'rsa' | 'ec';
  alg?: string;
  kid?: string;
  tamper?: boolean;
  algNone?: boolean;
  hs256WithPublicKey?: boolean;
};

export type StartedOidcProvider = {
  issuer: string;
  audience: string;
  opaqueResource: string;
  clients: Record<OidcTestClientName, OidcTestClient>;
  getToken(client: OidcTestClientName, options?: { scope?: string; resource?: string }): Promise<string>;
  mint(claims?: Record<string, unknown>, options?: MintOptions): Promise<string>;
  revoke(client: OidcTestClientName, token: string): Promise<void>;
  rotateKeys(): Promise<void>;
  publicJwks(): { keys: JWK[] };
  readonly tokenRequests: number;
  close(): Promise<void>;
};

type KeyPair = { privateKey: SigningKey; publicKey: SigningKey; jwk: JWK; publicJwk: JWK };
type KeyPairs = { rsa: KeyPair; ec: KeyPair };

async function makeKeys(): Promise<KeyPairs> {
  const make = async (alg: 'RS256' | 'ES256') => {
    const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
    const kid = `${alg.toLowerCase()}-${randomUUID()}`;
    const jwk = { ...(await exportJWK(privateKey)), kid, alg, use: 'sig' };
    const publicJwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
    return { privateKey, publicKey, jwk, publicJwk };
  };
  return { rsa: await make('RS256'), ec: await make('ES256') };
}

function secret(): string {
  return randomBytes(24).toString('base64url');
}

export async function startOidcProvider(): Promise<StartedOidcProvider> {
  const { default: Provider } = (await import(OIDC_PROVIDER_PACKAGE)) as { default: OidcProviderClass };
  const clients: Record<OidcTestClientName, OidcTestClient> = {
    service: {
      clientId: 'service',
      clientSecret: secret(),
      authMethod: 'client_secret_basic',
      alg: 'RS256',
      extraClaims: { tenant: 'acme', roles: ['reader', 'writer'] },
    },
    servicePost: {
      clientId: 'service-post',
      clientSecret: secret(),
      authMethod: 'client_secret_post',
      alg: 'ES256',
      extraClaims: { tenant: 'globex', roles: ['reader'] },
    },
    noTenant: {
      clientId: 'no-tenant',
      clientSecret: secret(),
      authMethod: 'client_secret_basic',
      alg: 'RS256',
      extraClaims: {},
    },
    introspector: {
      clientId: 'introspector',
      clientSecret: secret(),
      authMethod: 'client_secret_basic',
      alg: 'RS256',
      extraClaims: {},
    },
  };
  const byId = new Map(Object.values(clients).map((client) => [client.clientId, client]));

  let handler: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;
  let tokenRequests = 0;
  const server = createServer((req, res) => {
    if (req.url?.startsWith('/token') && !req.url.startsWith('/token/')) tokenRequests += 1;
    if (handler) handler(req, res);
    else res.writeHead(503).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const issuer = `http://127.0.0.1:${port}`;

  let keys = await makeKeys();

  const build = (current: KeyPairs) =>
    new Provider(issuer, {
      clients: Object.values(clients).map((client) => ({
        client_id: client.clientId,
        client_secret: client.clientSecret,
        grant_types: ['client_credentials'],
        redirect_uris: [],
        response_types: [],
        token_endpoint_auth_method: client.authMethod,
      })),
      jwks: { keys: [current.rsa.jwk, current.ec.jwk] as never },
      features: {
        devInteractions: { enabled: false },
        clientCredentials: { enabled: true },
        introspection: { enabled: true, allowedPolicy: async () => true },
        revocation: {
          enabled: true,
          allowedPolicy: async (_ctx: unknown, client: OidcClientView, token: unknown) =>
            client.clientId === (token as { clientId?: string }).clientId,
        },
        resourceIndicators: {
          enabled: true,
          defaultResource: async () => OIDC_AUDIENCE,
          useGrantedResource: async () => true,
          getResourceServerInfo: async (_ctx: unknown, indicator: string, client: OidcClientView) => {
            const alg = byId.get(client.clientId)?.alg ?? 'RS256';
            if (indicator === OIDC_OPAQUE_RESOURCE) {
              return { scope: OIDC_SCOPES, audience: OIDC_AUDIENCE, accessTokenTTL: 300, accessTokenFormat: 'opaque' };
            }
            if (indicator === OIDC_AUDIENCE) {
              return { scope: OIDC_SCOPES, accessTokenTTL: 300, accessTokenFormat: 'jwt', jwt: { sign: { alg } } };
            }
            throw new Error(`unknown resource indicator ${indicator}`);
          },
        },
      },
      extraTokenClaims: async (_ctx: unknown, token: unknown) => {
        const clientId = (token as { clientId?: string }).clientId;
        return clientId ? (byId.get(clientId)?.extraClaims as Record<string, unknown> | undefined) : undefined;
      },
    });

  handler = build(keys).callback();

  const tokenEndpoint = `${issuer}/token`;

  function clientAuth(client: OidcTestClient, body: URLSearchParams): Record<string, string> {
    if (client.authMethod === 'client_secret_post') {
      body.set('client_id', client.clientId);
      body.set('client_secret', client.clientSecret);
      return {};
    }
    const basic = Buffer.from(
      `${encodeURIComponent(client.clientId)}:${encodeURIComponent(client.clientSecret)}`,
    ).toString('base64');
    return { authorization: `Basic ${basic}` };
  }

  return {
    issuer,
    audience: OIDC_AUDIENCE,
    opaqueResource: OIDC_OPAQUE_RESOURCE,
    clients,
    get tokenRequests() {
      return tokenRequests;
    },
    async getToken(name, options = {}) {
      const client = clients[name];
      const body = new URLSearchParams({ grant_type: 'client_credentials' });
      body.set('scope', options.scope ?? OIDC_SCOPES);
      body.set('resource', options.resource ?? OIDC_AUDIENCE);
      const headers = { 'content-type': 'application/x-www-form-urlencoded', ...clientAuth(client, body) };
      const response = await fetch(tokenEndpoint, { method: 'POST', headers, body });
      const json = (await response.json()) as { access_token?: string; error?: string; error_description?: string };
      if (!response.ok || !json.access_token) {
        throw new Error(`token request failed: ${response.status} ${json.error} ${json.error_description}`);
      }
      return json.access_token;
    },
    async revoke(name, token) {
      const client = clients[name];
      const body = new URLSearchParams({ token });
      const headers = { 'content-type': 'application/x-www-form-urlencoded', ...clientAuth(client, body) };
      const response = await fetch(`${issuer}/token/revocation`, { method: 'POST', headers, body });
      if (!response.ok) throw new Error(`revocation failed: ${response.status} ${await response.text()}`);
    },
    async mint(claims = {}, options = {}) {
      const now = Math.floor(Date.now() / 1000);
      const payload: Record<string, unknown> = {
        iss: issuer,
        aud: OIDC_AUDIENCE,
        sub: 'minted-subject',
        client_id: 'service',
        iat: now,
        exp: now + 300,
        scope: OIDC_SCOPES,
        tenant: 'acme',
        roles: ['reader'],
        jti: randomUUID(),
        ...claims,
      };
      for (const [name, value] of Object.entries(payload)) if (value === undefined) delete payload[name];
      const pair = keys[options.key ?? 'rsa'];
      const kid = options.kid ?? (pair.jwk.kid as string);
      if (options.algNone) {
        const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
        return `${encode({ alg: 'none', typ: 'at+jwt', kid })}.${encode(payload)}.`;
      }
      if (options.hs256WithPublicKey) {
        const pem = await exportSPKI(keys.rsa.publicKey);
        return new SignJWT(payload as JWTPayload)
          .setProtectedHeader({ alg: 'HS256', typ: 'at+jwt', kid })
          .sign(new TextEncoder().encode(pem));
      }
      const alg = options.alg ?? (pair.jwk.alg as string);
      const token = await new SignJWT(payload as JWTPayload)
        .setProtectedHeader({ alg, typ: 'at+jwt', kid })
        .sign(pair.privateKey);
      if (!options.tamper) return token;
      const [header, body, signature = ''] = token.split('.');
      const flipped = `${signature[0] === 'A' ? 'B' : 'A'}${signature.slice(1)}`;
      return `${header}.${body}.${flipped}`;
    },
    async rotateKeys() {
      keys = await makeKeys();
      handler = build(keys).callback();
    },
    publicJwks() {
      return { keys: [keys.rsa.publicJwk, keys.ec.publicJwk] };
    },
    async close() {
      handler = undefined;
      server.closeAllConnections();
      await new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
    },
  };
}
