/**
 * `kumiki/auth/oidc`: verify OAuth 2 access tokens from an OpenID provider (JWT via JWKS, opaque via
 * introspection) and get tokens with the client-credentials grant. openid-client and jose are
 * loaded on first use.
 */
export {
  type ClientCredentialsOptions,
  type ClientCredentialsProvider,
  createClientCredentialsProvider,
} from './client-credentials.js';
export {
  ASYMMETRIC_ALGORITHMS,
  createTokenVerifier,
  type TokenVerifier,
  type TokenVerifierOptions,
} from './verifier.js';
