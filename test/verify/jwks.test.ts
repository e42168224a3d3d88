/**
 * createJwksVerifier: the key-set cache (fetch once, refetch on an unknown kid at
 * most once per cool-down, one fetch in flight, refetch when stale, keep the last
 * good set when a fetch fails), which keys of a set it uses, and the Fastify plugin
 * on a resource server that verifies with it against a real JWKS served by a second
 * Fastify instance (a real HTTP fetch).
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import { ConfigError, DependencyUnavailableError, StoreUnavailableError, TokenError } from '../../src/errors.js';
import { JWKS_CACHE_CONTROL, jwksUriFor } from '../../src/http/jwks.js';
import { tesseraAuth } from '../../src/http/plugin.js';
import { createTokenService } from '../../src/refresh/service.js';
import { buildApp } from '../../src/server/app.js';
import { MemoryStore } from '../../src/stores/memory.js';
import { createCodec } from '../../src/tokens/codec.js';
import { generateSigningJwk, parseSigningKeySet } from '../../src/tokens/jwk.js';
import { createJwksVerifier } from '../../src/verify/jwks.js';
import { publicOf, signWith, stubFetch } from '../support/asymmetric.js';

const ISS = 'https://auth.example';
const AUD = 'https://api.example';
const URI = `${ISS}/.well-known/jwks.json`;
const k1 = generateSigningJwk('EdDSA');
const k2 = generateSigningJwk('EdDSA');
const claims = (now: number) => ({ sub: 'alice', iss: ISS, aud: AUD, iat: now, exp: now + 900, scope: 'read' });
const tok = (k: typeof k1, now: number) => signWith(k, { alg: k.alg, typ: 'at+jwt', kid: k.kid }, claims(now));

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'accepted';
  } catch (e) {
    if (e instanceof TokenError) return e.code;
    // A JWK Set that cannot be fetched is its own outage, never the token store's.
    if (e instanceof StoreUnavailableError) return 'store_unavailable';
    if (e instanceof DependencyUnavailableError) return e.code;
    throw e;
  }
}

describe('createJwksVerifier: the key-set cache', () => {
  test('fetches once, then serves from the cache', async () => {
    let ms = 1_750_000_000_000;
    const f = stubFetch({ keys: [publicOf(k1)] });
    const v = createJwksVerifier({ jwksUri: URI, issuer: ISS, audience: AUD, fetch: f.fetch, clock: () => ms });
    for (let i = 0; i < 5; i++) assert.equal((await v.verify(tok(k1, ms / 1000))).sub, 'alice');
    ms += 1000;
    await v.verify(tok(k1, ms / 1000));
    assert.deepEqual(f.calls, [URI]);
  });

  test('an unknown kid refetches (rotation), at most once per cool-down; a flood of made-up kids costs one fetch', async () => {
    let ms = 1_750_000_000_000;
    const f = stubFetch({ keys: [publicOf(k1)] });
    const v = createJwksVerifier({
      jwksUri: URI,
      issuer: ISS,
      audience: AUD,
      fetch: f.fetch,
      clock: () => ms,
      cooldownMs: 30_000,
    });
    await v.verify(tok(k1, ms / 1000));
    ms += 31_000;
    // The issuer rotated: k2 signs now and the set lists both.
    f.serve({ keys: [publicOf(k2), publicOf(k1)] });
    assert.equal(await code(v.verify(tok(k2, ms / 1000))), 'accepted');
    assert.equal(f.calls.length, 2);
    // Unknown kids within the cool-down: no fetch.
    for (let i = 0; i < 20; i++) {
      const stranger = generateSigningJwk('EdDSA');
      assert.equal(await code(v.verify(tok(stranger, ms / 1000))), 'unknown_key');
    }
    assert.equal(f.calls.length, 2);
    ms += 30_000;
    assert.equal(await code(v.verify(tok(generateSigningJwk('EdDSA'), ms / 1000))), 'unknown_key');
    assert.equal(f.calls.length, 3);
  });

  test('one fetch in flight: concurrent verifications share it', async () => {
    const ms = 1_750_000_000_000;
    const f = stubFetch({ keys: [publicOf(k1)] });
    f.hold();
    const v = createJwksVerifier({ jwksUri: URI, issuer: ISS, audience: AUD, fetch: f.fetch, clock: () => ms });
    const pending = Array.from({ length: 10 }, () => v.verify(tok(k1, ms / 1000)));
    f.release();
    const results = await Promise.all(pending);
    assert.equal(results.length, 10);
    assert.equal(f.calls.length, 1);
  });

  test('a stale set is fetched again; a failed fetch keeps the last good set; none at all is jwks_unavailable (503), never a pass', async () => {
    let ms = 1_750_000_000_000;
    const f = stubFetch({ keys: [publicOf(k1)] });
    f.fail(true);
    const v = createJwksVerifier({ jwksUri: URI, issuer: ISS, audience: AUD, fetch: f.fetch, clock: () => ms, maxAgeMs: 60_000 });
    assert.equal(await code(v.verify(tok(k1, ms / 1000))), 'jwks_unavailable');
    f.fail(false);
    assert.equal(await code(v.verify(tok(k1, ms / 1000))), 'accepted');
    ms += 61_000;
    f.fail(true);
    const before = f.calls.length;
    assert.equal(await code(v.verify(tok(k1, ms / 1000))), 'accepted', 'the last good set still verifies');
    assert.equal(f.calls.length, before + 1, 'the stale set was fetched again');
  });

  test('keys it cannot use are ignored (RFC 7517 §5): other types, encryption keys, algorithms not configured, alg that contradicts the key', async () => {
    const ms = 1_750_000_000_000;
    const es = generateSigningJwk('ES256');
    const f = stubFetch({
      keys: [
        { kty: 'RSA', n: 'AQAB', e: 'AQAB', kid: 'rsa' },
        { kty: 'oct', k: 'c2VjcmV0', kid: 'hmac', alg: 'HS256' },
        { ...publicOf(k1), use: 'enc' },
        { ...publicOf(k2), alg: 'ES256' },
        publicOf(es),
        { kty: 'OKP', crv: 'Ed25519', x: 'not-a-key', kid: 'bad' },
      ],
    });
    const v = createJwksVerifier({
      jwksUri: URI,
      issuer: ISS,
      audience: AUD,
      fetch: f.fetch,
      clock: () => ms,
      algorithms: ['EdDSA'],
    });
    assert.equal(await code(v.verify(tok(k1, ms / 1000))), 'unknown_key');
    assert.equal(await code(v.verify(tok(k2, ms / 1000))), 'unknown_key');
    assert.equal(
      await code(v.verify(signWith(es, { alg: 'ES256', typ: 'at+jwt', kid: es.kid }, claims(ms / 1000)))),
      'unsupported',
    );
    const all = createJwksVerifier({ jwksUri: URI, issuer: ISS, audience: AUD, fetch: f.fetch, clock: () => ms });
    assert.equal(
      await code(all.verify(signWith(es, { alg: 'ES256', typ: 'at+jwt', kid: es.kid }, claims(ms / 1000)))),
      'accepted',
    );
  });

  test('RS256 keys of a set verify (by default and when pinned); an RSA key under 2048 bits is ignored (RFC 7518 §3.3)', async () => {
    const ms = 1_750_000_000_000;
    const rs = generateSigningJwk('RS256');
    const weak = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ format: 'jwk' });
    const weakJwk = { ...weak, kid: 'weak', alg: 'RS256', use: 'sig' } as unknown as typeof rs;
    const f = stubFetch({ keys: [publicOf(rs), publicOf(weakJwk), publicOf(k1)] });
    const rsToken = signWith(rs, { alg: 'RS256', typ: 'at+jwt', kid: rs.kid }, claims(ms / 1000));
    const weakToken = signWith(weakJwk, { alg: 'RS256', typ: 'at+jwt', kid: 'weak' }, claims(ms / 1000));
    const base = { jwksUri: URI, issuer: ISS, audience: AUD, fetch: f.fetch, clock: () => ms };
    const all = createJwksVerifier(base);
    assert.equal(await code(all.verify(rsToken)), 'accepted');
    assert.equal(await code(all.verify(weakToken)), 'unknown_key');
    const pinned = createJwksVerifier({ ...base, algorithms: ['RS256'] });
    assert.equal(await code(pinned.verify(rsToken)), 'accepted');
    assert.equal(await code(pinned.verify(tok(k1, ms / 1000))), 'unsupported');
    const edOnly = createJwksVerifier({ ...base, algorithms: ['EdDSA'] });
    assert.equal(await code(edOnly.verify(rsToken)), 'unsupported');
    // The served set, as the issuer's codec publishes it: n and e, no private member.
    const issued = createCodec({
      format: 'jwt',
      signingKeys: parseSigningKeySet({ keys: [rs] }),
      clock: () => ms,
      issuer: ISS,
      audience: AUD,
    });
    assert.equal(await code(all.verify(issued.encode(claims(ms / 1000)))), 'accepted');
    assert.deepEqual(publicOf(rs), { kty: 'RSA', n: rs.n, e: rs.e, kid: rs.kid, alg: 'RS256', use: 'sig' });
  });

  test('a JWK without kid is known by its RFC 7638 thumbprint; a token without kid passes only when one key of its alg exists', async () => {
    const ms = 1_750_000_000_000;
    const { kid: _kid, ...noKid } = publicOf(k1);
    const f = stubFetch({ keys: [noKid] });
    const v = createJwksVerifier({ jwksUri: URI, issuer: ISS, audience: AUD, fetch: f.fetch, clock: () => ms });
    assert.equal(await code(v.verify(tok(k1, ms / 1000))), 'accepted', 'kid = thumbprint');
    assert.equal(await code(v.verify(signWith(k1, { alg: 'EdDSA', typ: 'at+jwt' }, claims(ms / 1000)))), 'accepted');
    f.serve({ keys: [publicOf(k1), publicOf(k2)] });
    await v.reload();
    assert.equal(await code(v.verify(signWith(k1, { alg: 'EdDSA', typ: 'at+jwt' }, claims(ms / 1000)))), 'unknown_key');
  });

  test('options: jwksUri, issuer and audience are required; algorithms only EdDSA/ES256/RS256; typ false skips the check', async () => {
    const base = { jwksUri: URI, issuer: ISS, audience: AUD };
    assert.throws(() => createJwksVerifier({ ...base, jwksUri: 'nope' }), ConfigError);
    assert.throws(() => createJwksVerifier({ ...base, jwksUri: 'file:///etc/passwd' }), ConfigError);
    assert.throws(() => createJwksVerifier({ ...base, issuer: '' }), ConfigError);
    assert.throws(() => createJwksVerifier({ ...base, audience: [] }), ConfigError);
    // @ts-expect-error: HS256 is not an asymmetric algorithm
    assert.throws(() => createJwksVerifier({ ...base, algorithms: ['HS256'] }), ConfigError);
    assert.throws(() => createJwksVerifier({ ...base, algorithms: [] }), ConfigError);
    // @ts-expect-error: RS384 is not accepted (RS256 is the one RSA algorithm)
    assert.throws(() => createJwksVerifier({ ...base, algorithms: ['RS384'] }), ConfigError);
    const ms = 1_750_000_000_000;
    const f = stubFetch({ keys: [publicOf(k1)] });
    const v = createJwksVerifier({ ...base, fetch: f.fetch, clock: () => ms, typ: false });
    assert.equal(await code(v.verify(signWith(k1, { alg: 'EdDSA', kid: k1.kid }, claims(ms / 1000)))), 'accepted');
  });

  test('jwksUriFor: the metadata jwks_uri only with an asymmetric alg', () => {
    assert.equal(jwksUriFor('http://127.0.0.1:3000/', 'EdDSA'), 'http://127.0.0.1:3000/.well-known/jwks.json');
    assert.equal(jwksUriFor('https://auth.example', 'ES256'), URI);
    assert.equal(jwksUriFor('https://auth.example', 'HS256'), undefined);
    assert.equal(jwksUriFor('https://auth.example', undefined), undefined);
  });
});

describe('a resource server (Fastify plugin + createJwksVerifier) against a real tessera auth server', () => {
  let auth: FastifyInstance;
  let api: FastifyInstance;
  let issuer: string;
  const keys = parseSigningKeySet({ keys: [k1] });
  const store = new MemoryStore();
  let tokens: ReturnType<typeof createTokenService>;

  before(async () => {
    // The auth server's issuer is its own URL, known only once it listens: listen first on a bare
    // instance to get a port, then build the real app on that port.
    const probe = Fastify();
    const url = await probe.listen({ port: 0, host: '127.0.0.1' });
    const port = Number(new URL(url).port);
    await probe.close();
    issuer = `http://127.0.0.1:${port}`;
    tokens = createTokenService({
      secret: Buffer.alloc(32, 7),
      store,
      issuer,
      audience: AUD,
      access: { signingKeys: keys },
    });
    auth = buildApp({ tokens, jwks: keys.publicJwks(), log: false, docs: false, demo: false, rateLimit: false });
    await auth.listen({ port, host: '127.0.0.1' });

    // The resource server: three lines.
    api = Fastify();
    const verifier = createJwksVerifier({ jwksUri: `${issuer}/.well-known/jwks.json`, issuer, audience: AUD });
    await api.register(tesseraAuth, { verifier });
    api.get('/orders', async (req) => ({ sub: req.principal?.sub, scope: req.principal?.scope }));
    api.get('/admin', { config: { scope: 'admin' } }, async () => ({ ok: true }));
    api.get('/health', { config: { public: true } }, async () => 'ok');
  });
  after(async () => {
    await api?.close();
    await auth?.close();
  });

  test('GET /.well-known/jwks.json: public keys only, cacheable, no Bearer needed', async () => {
    const res = await auth.inject({ method: 'GET', url: '/.well-known/jwks.json' });
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['cache-control'], JWKS_CACHE_CONTROL);
    assert.match(String(res.headers['content-type']), /^application\/json/);
    assert.deepEqual(res.json(), { keys: [{ kty: 'OKP', crv: 'Ed25519', x: k1.x, kid: k1.kid, alg: 'EdDSA', use: 'sig' }] });
    assert.ok(!res.body.includes(k1.d), 'the private key never leaves');
  });

  test('a token the auth server issued opens the API; none, a bad one, or one for another audience gets 401 with the RFC 6750 challenge', async () => {
    const pair = await tokens.issue({ sub: 'alice', scope: 'read' });
    const [h] = pair.accessToken.split('.');
    assert.deepEqual(JSON.parse(Buffer.from(h as string, 'base64url').toString()), { alg: 'EdDSA', typ: 'at+jwt', kid: k1.kid });
    const ok = await api.inject({ method: 'GET', url: '/orders', headers: { authorization: `Bearer ${pair.accessToken}` } });
    assert.equal(ok.statusCode, 200);
    assert.deepEqual(ok.json(), { sub: 'alice', scope: 'read' });
    assert.equal((await api.inject({ method: 'GET', url: '/orders' })).statusCode, 401);
    const bad = await api.inject({ method: 'GET', url: '/orders', headers: { authorization: `Bearer ${pair.accessToken}x` } });
    assert.equal(bad.statusCode, 401);
    assert.match(String(bad.headers['www-authenticate']), /error="invalid_token"/);
    const other = createCodec({ format: 'jwt', signingKeys: keys }).encode({
      sub: 'alice',
      iss: issuer,
      aud: 'https://other.example',
    });
    assert.equal(
      (await api.inject({ method: 'GET', url: '/orders', headers: { authorization: `Bearer ${other}` } })).statusCode,
      401,
    );
    const forbidden = await api.inject({
      method: 'GET',
      url: '/admin',
      headers: { authorization: `Bearer ${pair.accessToken}` },
    });
    assert.equal(forbidden.statusCode, 403);
    assert.equal((await api.inject({ method: 'GET', url: '/health' })).statusCode, 200);
  });

  test('RFC 8414 metadata names the JWKS (jwks_uri) when an asymmetric algorithm signs', async () => {
    const res = await auth.inject({ url: '/.well-known/oauth-authorization-server' });
    assert.equal(res.statusCode, 200);
    const m = res.json();
    assert.equal(m.jwks_uri, `${m.issuer}/.well-known/jwks.json`);
  });

  test('the auth server itself authenticates its EdDSA tokens (GET /me) and refreshes with the HS256 refresh token', async () => {
    const pair = await tokens.issue({ sub: 'bob' });
    const me = await auth.inject({ method: 'GET', url: '/me', headers: { authorization: `Bearer ${pair.accessToken}` } });
    assert.equal(me.statusCode, 200);
    assert.equal(me.json().sub, 'bob');
    const next = await tokens.refresh(pair.refreshToken);
    assert.equal((await tokens.authenticate(next.accessToken)).sub, 'bob');
    // Neither stands in for the other.
    await assert.rejects(tokens.refresh(next.accessToken), (e: unknown) => e instanceof TokenError && e.code === 'wrong_type');
    await assert.rejects(
      tokens.authenticate(next.refreshToken),
      (e: unknown) => e instanceof TokenError && e.code === 'wrong_type',
    );
  });

  test('a JWKS that cannot be reached: 503 with Retry-After, not 401 and not 200', async () => {
    const down = Fastify();
    await down.register(tesseraAuth, {
      verifier: createJwksVerifier({
        jwksUri: 'http://127.0.0.1:9/.well-known/jwks.json',
        issuer,
        audience: AUD,
        timeoutMs: 500,
      }),
    });
    down.get('/orders', async () => 'never');
    const pair = await tokens.issue({ sub: 'alice' });
    const res = await down.inject({ method: 'GET', url: '/orders', headers: { authorization: `Bearer ${pair.accessToken}` } });
    assert.equal(res.statusCode, 503);
    assert.ok(res.headers['retry-after']);
    await down.close();
  });
});
