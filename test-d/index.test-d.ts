/**
 * The root entry point (`tessera-auth`) as a user's code meets it: each
 * `@ts-expect-error` line is a misuse that must keep failing to compile. If one
 * starts to compile, tsc reports the unused directive and `npm run test:types` fails.
 */
import {
  type Claims,
  type Codec,
  ConfigError,
  createCodec,
  DependencyUnavailableError,
  createClientService,
  createTokenService,
  InvalidScopeError,
  isTokenError,
  JwksUnavailableError,
  MemoryStore,
  type Principal,
  StoreUnavailableError,
  TesseraError,
  TOKEN_ERROR_CODES,
  TokenError,
  type TokenErrorCode,
  type TokenPair,
  type TokenService,
} from 'tessera-auth';
import * as tessera from 'tessera-auth';
import { assertType, type Equal, expectType } from './helpers.js';

declare const secret: string;

// ---- createCodec: the format is a closed union.
const codec = createCodec({ format: 'jwt', secret });
expectType<Codec>()(codec);
expectType<'jwt' | 'sealed' | 'fernet'>()(codec.format);
createCodec({ format: 'sealed', secret });
createCodec({ format: 'fernet', secret });
// @ts-expect-error 'hs512' is not a format
createCodec({ format: 'hs512', secret });
// @ts-expect-error opaque tokens are not self-contained: the codec cannot make them
createCodec({ format: 'opaque', secret });
// @ts-expect-error the format is required
createCodec({ secret });
// @ts-expect-error ttlSeconds is a number of seconds, not a string like '15m'
createCodec({ format: 'jwt', secret, ttlSeconds: '15m' });
// One option for key material: a secret, a list of keys or a key ring, all as `secret`.
createCodec({ format: 'jwt', secret: [{ kid: 'k1', secret }] });
// @ts-expect-error `keys` is not an option: key material is `secret` (also refused at run time)
createCodec({ format: 'jwt', keys: [{ kid: 'k1', secret }] });
// @ts-expect-error not both either
createCodec({ format: 'jwt', secret, keys: secret });

// ---- Nothing public returns claims without checking exp/nbf: the raw codecs are not exported.
// @ts-expect-error createCodec is the public API; the raw HS256 codec is internal
void tessera.createJwtCodec;
// @ts-expect-error the raw sealed codec is internal
void tessera.createSealedCodec;
// @ts-expect-error the raw asymmetric codec is internal
void tessera.createAsymmetricJwtCodec;

// ---- encode / decode: claims in, claims out; registered claims are typed.
const token: string = codec.encode({ sub: 'user-1', scope: 'read' });
const claims = codec.decode(token, { type: 'access' });
expectType<Claims>()(claims);
expectType<string | undefined>()(claims.sub);
expectType<number | undefined>()(claims.exp);
// @ts-expect-error exp is a NumericDate (seconds), never a string
codec.encode({ sub: 'user-1', exp: '2030-01-01' });
// @ts-expect-error the token type to require is 'access' or 'refresh'
codec.decode(token, { type: 'id_token' });
// `now` is milliseconds since the epoch, as Date.now() gives it (a seconds value throws at run time).
codec.decode(token, { now: Date.now() });
// @ts-expect-error `now` is a number of milliseconds, not a Date
codec.decode(token, { now: new Date() });

// ---- TokenError: `code` is the union of the stable codes, not any string.
declare const e: unknown;
if (e instanceof TokenError) {
  expectType<TokenErrorCode>()(e.code);
  // @ts-expect-error 'expird' is not a code (a typo the union catches)
  if (e.code === 'expird') throw e;
  // @ts-expect-error the code is read-only
  e.code = 'expired';
}
if (isTokenError(e, 'reused')) expectType<TokenError>()(e);
// @ts-expect-error isTokenError's second argument is a code
isTokenError(e, 'no_such_code');
assertType<Equal<TokenErrorCode, (typeof TOKEN_ERROR_CODES)[number]>>();
new TokenError('expired');
// @ts-expect-error only the codes of the taxonomy
new TokenError('teapot');
// A store outage is not a TokenError: `catch (e) { if (e instanceof TokenError) logout() }`
// must never see one (their codes are disjoint, so the narrowing below leaves `never`).
declare const config: ConfigError;
declare const outage: StoreUnavailableError;
if (outage instanceof TokenError) expectType<never>()(outage);
// Nor a JWK Set that cannot be fetched, which is not the token store's outage either.
declare const jwksOutage: JwksUnavailableError;
if (jwksOutage instanceof TokenError) expectType<never>()(jwksOutage);
expectType<'jwks_unavailable'>()(jwksOutage.code);
expectType<'jwks'>()(jwksOutage.dependency);
// Both are DependencyUnavailableErrors naming what is unavailable; every error is a TesseraError.
expectType<'store' | 'jwks'>()((outage as DependencyUnavailableError).dependency);
expectType<'store_unavailable'>()(outage.code);
outage satisfies TesseraError;
config satisfies TesseraError;
expectType<string>()((new TokenError('expired') as TesseraError).code);
// Nor is a wider scope on a refresh (RFC 6749 §6): the refresh token is still good.
declare const scopeError: InvalidScopeError;
if (scopeError instanceof TokenError) expectType<never>()(scopeError);
expectType<'invalid_scope'>()(scopeError.code);
// A refresh token of another client is a TokenError code (RFC 6749 §5.2 invalid_grant).
new TokenError('wrong_client');
// @ts-expect-error invalid_scope is not a TokenError code: it is InvalidScopeError
new TokenError('invalid_scope');
// @ts-expect-error a ConfigError has no token error code
config.code satisfies TokenErrorCode;

// ---- the token service: authenticate returns a Principal whose claims are read-only.
const tokens: TokenService = createTokenService({ secret, store: new MemoryStore() });
const pair = await tokens.issue({ sub: 'user-1', scope: 'read' });
expectType<TokenPair>()(pair);
expectType<'Bearer' | 'DPoP'>()(pair.tokenType);
const principal = await tokens.authenticate(pair.accessToken);
expectType<Principal>()(principal);
expectType<string>()(principal.sub);
if (principal.claims) {
  // @ts-expect-error the principal's claims are read-only
  principal.claims.sub = 'someone-else';
  // @ts-expect-error nor can a claim be added
  principal.claims.admin = true;
}
// @ts-expect-error issue needs a subject
await tokens.issue({ scope: 'read' });
// @ts-expect-error authenticate takes the token string, not a header object
await tokens.authenticate({ authorization: `Bearer ${pair.accessToken}` });
// @ts-expect-error the store is required
createTokenService({ secret });
// @ts-expect-error `keys` is not an option: key material is `secret` (also refused at run time)
createTokenService({ keys: secret, store: new MemoryStore() });
// @ts-expect-error 'rs256' is not a scheme (yet)
createTokenService({ secret, store: new MemoryStore(), scheme: 'rs256' });

// ---- clients (RFC 6749 §2): refresh and revoke name the client; issue binds the family to it.
const bound = await tokens.issue({ sub: 'user-1', clientId: 'web' });
await tokens.refresh(bound.refreshToken, { clientId: 'web', scope: 'read' });

// ---- sessions: the grant that created each, null when none was recorded.
await tokens.issue({ sub: 'user-1', grant: 'password' });
// @ts-expect-error the grant is a string (a grant_type)
await tokens.issue({ sub: 'user-1', grant: true });
const [listed] = await tokens.sessions('user-1');
if (listed) expectType<string | null>()(listed.grant);
await tokens.revoke(bound.refreshToken, 'refresh_token', { clientId: 'web' });
expectType<string | undefined>()(principal.clientId);
// @ts-expect-error the client id is a string
await tokens.refresh(bound.refreshToken, { clientId: 7 });
const clients = createClientService(new MemoryStore());
const added = await clients.add('web', { confidential: true, introspect: true });
expectType<string | undefined>()(added.secret);
