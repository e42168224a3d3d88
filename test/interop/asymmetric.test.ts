/**
 * EdDSA/ES256/RS256 interop, both ways, against a real tessera auth server (buildApp on
 * a port): jose (`createRemoteJWKSet` + `jwtVerify` with issuer, audience, typ)
 * verifies our tokens; tokens jose signs verify with `createJwksVerifier`; PyJWT's
 * `PyJWKClient` (the docs/keys.md example, run as written) verifies our tokens
 * from the server's jwks.json. Then a key rotation end to end.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import { createRemoteJWKSet, importJWK, jwtVerify, SignJWT } from 'jose';
import { TokenError } from '../../src/errors.js';
import { createTokenService } from '../../src/refresh/service.js';
import { buildApp } from '../../src/server/app.js';
import { MemoryStore } from '../../src/stores/memory.js';
import { generateSigningJwk, type PrivateJwk, parseSigningKeySet } from '../../src/tokens/jwk.js';
import { createJwksVerifier } from '../../src/verify/jwks.js';

const PYTHON = process.env.TESSERA_TEST_PYTHON ?? '/usr/bin/python3';
const pyAvailable =
  existsSync(PYTHON) &&
  spawnSync(PYTHON, ['-c', 'import jwt, cryptography.hazmat.primitives.asymmetric.ed25519'], { stdio: 'ignore' }).status === 0;
const pySkip = !pyAvailable && process.env.CI !== 'true' ? `needs ${PYTHON} with python3-jwt and python3-cryptography` : false;
const AUD = 'https://api.example';

/** The PyJWT example of docs/keys.md, exactly as printed there. */
function pyjwtExample(): string {
  const doc = readFileSync(new URL('../../docs/keys.md', import.meta.url), 'utf8');
  const m = /<!-- pyjwt-example -->\n```python\n([\s\S]*?)```\n<!-- \/pyjwt-example -->/.exec(doc);
  assert.ok(m, 'docs/keys.md has the PyJWT example');
  return m[1] as string;
}

/** An auth server on a real port whose issuer is its own URL; `keys` can be swapped by restarting. */
class AuthServer {
  app?: FastifyInstance;
  issuer = '';
  port = 0;
  tokens?: ReturnType<typeof createTokenService>;
  readonly store = new MemoryStore();

  async start(keys: PrivateJwk[]): Promise<void> {
    if (this.port === 0) {
      const probe = Fastify();
      this.port = Number(new URL(await probe.listen({ port: 0, host: '127.0.0.1' })).port);
      await probe.close();
      this.issuer = `http://127.0.0.1:${this.port}`;
    }
    const set = parseSigningKeySet({ keys });
    this.tokens = createTokenService({
      secret: Buffer.alloc(32, 9),
      store: this.store,
      issuer: this.issuer,
      audience: AUD,
      access: { signingKeys: set },
    });
    this.app = buildApp({ tokens: this.tokens, jwks: set.publicJwks(), log: false, docs: false, demo: false, rateLimit: false });
    await this.app.listen({ port: this.port, host: '127.0.0.1' });
  }
  async stop(): Promise<void> {
    await this.app?.close();
  }
  get jwksUri(): string {
    return `${this.issuer}/.well-known/jwks.json`;
  }
}

for (const alg of ['EdDSA', 'ES256', 'RS256'] as const) {
  describe(`${alg} interop with a real auth server`, () => {
    const server = new AuthServer();
    const key = generateSigningJwk(alg);
    before(() => server.start([key]));
    after(() => server.stop());

    test('jose createRemoteJWKSet + jwtVerify (issuer, audience, typ at+jwt, algorithms pinned) verifies our access token', async () => {
      const pair = await server.tokens?.issue({ sub: 'alice', scope: 'read' });
      const jwks = createRemoteJWKSet(new URL(server.jwksUri));
      const { payload, protectedHeader } = await jwtVerify(pair?.accessToken as string, jwks, {
        issuer: server.issuer,
        audience: AUD,
        typ: 'at+jwt',
        algorithms: [alg],
      });
      assert.equal(payload.sub, 'alice');
      assert.equal(payload.scope, 'read');
      assert.deepEqual(protectedHeader, { alg, typ: 'at+jwt', kid: key.kid });
      // And refuses it for another audience.
      await assert.rejects(
        jwtVerify(pair?.accessToken as string, jwks, { issuer: server.issuer, audience: 'other', typ: 'at+jwt' }),
      );
    });

    test('a token jose signs with our key (SignJWT, typ at+jwt) verifies with createJwksVerifier; one it signs with a stranger key does not', async () => {
      const joseKey = await importJWK(key, alg);
      const now = Math.floor(Date.now() / 1000);
      const token = await new SignJWT({ scope: 'read', client_id: 'c1' })
        .setProtectedHeader({ alg, typ: 'at+jwt', kid: key.kid })
        .setSubject('bob')
        .setIssuer(server.issuer)
        .setAudience(AUD)
        .setIssuedAt(now)
        .setExpirationTime(now + 300)
        .setJti('j-1')
        .sign(joseKey);
      const verifier = createJwksVerifier({ jwksUri: server.jwksUri, issuer: server.issuer, audience: AUD, algorithms: [alg] });
      const claims = await verifier.verify(token);
      assert.equal(claims.sub, 'bob');
      assert.equal(claims.client_id, 'c1');
      const stranger = await importJWK(generateSigningJwk(alg), alg);
      const forged = await new SignJWT({})
        .setProtectedHeader({ alg, typ: 'at+jwt', kid: key.kid })
        .setSubject('mallory')
        .setIssuer(server.issuer)
        .setAudience(AUD)
        .setExpirationTime(now + 300)
        .sign(stranger);
      await assert.rejects(verifier.verify(forged), (e: unknown) => e instanceof TokenError && e.code === 'bad_signature');
    });

    test("PyJWT PyJWKClient (the docs/keys.md example) verifies our token from the server's jwks.json", {
      skip: pySkip,
    }, async () => {
      const pair = await server.tokens?.issue({ sub: 'carol', scope: 'api' });
      const other = createTokenService({
        secret: Buffer.alloc(32, 1),
        store: server.store,
        issuer: server.issuer,
        audience: 'https://elsewhere',
        access: { signingKeys: parseSigningKeySet({ keys: [key] }) },
      });
      const wrongAud = (await other.issue({ sub: 'carol' })).accessToken;
      const code = `${pyjwtExample()}
import json, sys
out = {"claims": verify(sys.argv[1])}
try:
    verify(sys.argv[2])
    out["wrong_aud"] = "accepted"
except jwt.InvalidAudienceError:
    out["wrong_aud"] = "refused"
print(json.dumps(out))`;
      // execFileSync would block the event loop that serves the JWKS: run Python asynchronously.
      const stdout = await new Promise<string>((resolve, reject) => {
        const child = spawn(PYTHON, ['-c', code, pair?.accessToken as string, wrongAud], {
          env: {
            ...process.env,
            TESSERA_JWKS_URI: server.jwksUri,
            TESSERA_ISSUER: server.issuer,
            TESSERA_AUDIENCE: AUD,
            TESSERA_ACCESS_ALG: alg,
          },
        });
        let out = '';
        let err = '';
        child.stdout.on('data', (d) => {
          out += d;
        });
        child.stderr.on('data', (d) => {
          err += d;
        });
        child.on('exit', (c) => (c === 0 ? resolve(out) : reject(new Error(`python exited ${c}: ${err}`))));
      });
      const result = JSON.parse(stdout) as { claims: Record<string, unknown>; wrong_aud: string };
      assert.equal(result.claims.sub, 'carol');
      assert.equal(result.claims.iss, server.issuer);
      assert.equal(result.wrong_aud, 'refused');
    });
  });
}

describe('key rotation end to end (EdDSA)', () => {
  const server = new AuthServer();
  const oldKey = generateSigningJwk('EdDSA');
  const newKey = generateSigningJwk('EdDSA');
  after(() => server.stop());

  test('new key first: new tokens carry its kid, old tokens keep verifying until they expire, the JWKS lists both', async () => {
    await server.start([oldKey]);
    const verifier = createJwksVerifier({ jwksUri: server.jwksUri, issuer: server.issuer, audience: AUD, cooldownMs: 0 });
    const before = await server.tokens?.issue({ sub: 'alice' });
    assert.equal((await verifier.verify(before?.accessToken as string)).sub, 'alice');

    // Rotate: the new key first, the old one kept.
    await server.stop();
    await server.start([newKey, oldKey]);
    const jwks = (await (await fetch(server.jwksUri)).json()) as { keys: { kid: string }[] };
    assert.deepEqual(
      jwks.keys.map((k) => k.kid),
      [newKey.kid, oldKey.kid],
    );
    const afterRotation = await server.tokens?.issue({ sub: 'bob' });
    const kidOf = (t: string) => JSON.parse(Buffer.from(t.split('.')[0] as string, 'base64url').toString()).kid;
    assert.equal(kidOf(afterRotation?.accessToken as string), newKey.kid);
    // The resource server has only the old set cached: the unknown kid makes it fetch the new one.
    assert.equal((await verifier.verify(afterRotation?.accessToken as string)).sub, 'bob');
    // Old tokens keep verifying, on the resource server and on the auth server itself.
    assert.equal((await verifier.verify(before?.accessToken as string)).sub, 'alice');
    assert.equal((await server.tokens?.authenticate(before?.accessToken as string))?.sub, 'alice');
    // jose agrees.
    const remote = createRemoteJWKSet(new URL(server.jwksUri));
    await jwtVerify(before?.accessToken as string, remote, { issuer: server.issuer, audience: AUD, typ: 'at+jwt' });
    await jwtVerify(afterRotation?.accessToken as string, remote, { issuer: server.issuer, audience: AUD, typ: 'at+jwt' });

    // ... until they expire (the access TTL, 900 s).
    const late = createJwksVerifier({
      jwksUri: server.jwksUri,
      issuer: server.issuer,
      audience: AUD,
      clock: () => Date.now() + 901_000,
    });
    await assert.rejects(
      late.verify(before?.accessToken as string),
      (e: unknown) => e instanceof TokenError && e.code === 'expired',
    );

    // Old key removed (its tokens have expired by then): a straggler no longer verifies anywhere.
    await server.stop();
    await server.start([newKey]);
    const fresh = createJwksVerifier({ jwksUri: server.jwksUri, issuer: server.issuer, audience: AUD });
    await assert.rejects(
      fresh.verify(before?.accessToken as string),
      (e: unknown) => e instanceof TokenError && e.code === 'unknown_key',
    );
    await assert.rejects(
      server.tokens?.authenticate(before?.accessToken as string) as Promise<unknown>,
      (e: unknown) => e instanceof TokenError && e.code === 'unknown_key',
    );
    assert.equal((await fresh.verify(afterRotation?.accessToken as string)).sub, 'bob');
  });
});
