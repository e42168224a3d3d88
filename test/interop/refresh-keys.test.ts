/**
 * A refresh token is no access token anywhere: verifiers of access tokens that hold the
 * configured secret (jose, jsonwebtoken and fast-jwt with default settings, PyJWT with only
 * `algorithms=["HS256"]` as docs/python-interop.md configures it, Python's
 * `cryptography.fernet`) refuse tessera's refresh tokens by their key (RFC 8725 §2.8, §3.11),
 * while the access tokens of the same login still verify there.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, test } from 'node:test';
import { createVerifier } from 'fast-jwt';
import { errors as joseErrors, jwtVerify } from 'jose';
import jsonwebtoken from 'jsonwebtoken';
import { generateSecret } from '../../src/keys.js';
import { createTokenService } from '../../src/refresh/service.js';
import type { TokenPair } from '../../src/refresh/types.js';
import { MemoryStore } from '../../src/stores/memory.js';
import type { SelfContainedFormat } from '../../src/tokens/codec.js';

const PYTHON = process.env.TESSERA_TEST_PYTHON ?? '/usr/bin/python3';
const pythonReady =
  existsSync(PYTHON) && spawnSync(PYTHON, ['-c', 'import jwt, cryptography.fernet'], { stdio: 'ignore' }).status === 0;
const skipPython =
  !pythonReady && process.env.CI !== 'true' ? `needs ${PYTHON} with python3-jwt and python3-cryptography` : false;

const ISSUER = 'https://auth.example';

async function login(format: SelfContainedFormat, secret: string): Promise<TokenPair> {
  const tokens = createTokenService({
    secret,
    store: new MemoryStore(),
    issuer: ISSUER,
    audience: ISSUER,
    access: { format },
    refresh: { format },
  });
  const pair = await tokens.issue({ sub: 'alice', scope: 'api', clientId: 'tessera' });
  // A rotated pair too: what a client holds most of the time.
  const next = await tokens.refresh(pair.refreshToken, { clientId: 'tessera' });
  tokens.close();
  return next;
}

function python(code: string, input: unknown): unknown {
  return JSON.parse(execFileSync(PYTHON, ['-c', code], { input: JSON.stringify(input), encoding: 'utf8' }));
}

describe('JavaScript HS256 verifiers holding the secret', () => {
  test('jose jwtVerify (default settings): the access token verifies, the refresh token fails its signature', async () => {
    const secret = generateSecret();
    const pair = await login('jwt', secret);
    const key = Buffer.from(secret, 'base64url');
    const { payload } = await jwtVerify(pair.accessToken, key);
    assert.equal(payload.sub, 'alice');
    assert.equal(payload.type, 'access');
    await assert.rejects(jwtVerify(pair.refreshToken, key), joseErrors.JWSSignatureVerificationFailed);
    await assert.rejects(jwtVerify(pair.refreshToken, key, { algorithms: ['HS256'] }), joseErrors.JWSSignatureVerificationFailed);
  });

  test('jsonwebtoken verify (default settings): the access token verifies, the refresh token fails its signature', async () => {
    const secret = generateSecret();
    const pair = await login('jwt', secret);
    const key = Buffer.from(secret, 'base64url');
    const claims = jsonwebtoken.verify(pair.accessToken, key) as jsonwebtoken.JwtPayload;
    assert.equal(claims.sub, 'alice');
    assert.equal(claims.type, 'access');
    assert.throws(
      () => jsonwebtoken.verify(pair.refreshToken, key),
      (e: unknown) => e instanceof jsonwebtoken.JsonWebTokenError && e.message === 'invalid signature',
    );
    assert.throws(() => jsonwebtoken.verify(pair.refreshToken, key, { algorithms: ['HS256'] }), jsonwebtoken.JsonWebTokenError);
  });

  test('fast-jwt createVerifier (default settings): the access token verifies, the refresh token fails its signature', async () => {
    const secret = generateSecret();
    const pair = await login('jwt', secret);
    const verify = createVerifier({ key: Buffer.from(secret, 'base64url') });
    assert.equal(verify(pair.accessToken).sub, 'alice');
    assert.throws(
      () => verify(pair.refreshToken),
      (e: unknown) => (e as { code?: string }).code === 'FAST_JWT_INVALID_SIGNATURE',
    );
  });
});

describe('Python verifiers holding the secret', { skip: skipPython }, () => {
  test('PyJWT jwt.decode(token, key, algorithms=["HS256"]): InvalidSignatureError for the refresh token; the access token verifies', async () => {
    const secret = generateSecret();
    const pair = await login('jwt', secret);
    const out = python(
      `
import base64, json, sys, jwt
inp = json.load(sys.stdin)
s = inp["secret"]
key = base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))
def check(token, **kw):
    try:
        return jwt.decode(token, key, **kw).get("type")
    except jwt.InvalidSignatureError:
        return "InvalidSignatureError"
    except jwt.InvalidTokenError as e:
        return type(e).__name__
print(json.dumps({
    "access": check(inp["access"], algorithms=["HS256"], audience=inp["issuer"], issuer=inp["issuer"]),
    "refresh_only_alg": check(inp["refresh"], algorithms=["HS256"]),
    "refresh_no_aud": check(inp["refresh"], algorithms=["HS256"], options={"verify_aud": False}),
    "refresh_as_access": check(inp["refresh"], algorithms=["HS256"], audience=inp["issuer"], issuer=inp["issuer"]),
}))`,
      { secret, access: pair.accessToken, refresh: pair.refreshToken, issuer: ISSUER },
    );
    assert.deepEqual(out, {
      access: 'access',
      refresh_only_alg: 'InvalidSignatureError',
      refresh_no_aud: 'InvalidSignatureError',
      refresh_as_access: 'InvalidSignatureError',
    });
  });

  test('cryptography.fernet Fernet(TESSERA_SECRET + "="): InvalidToken for the refresh token; the access token decrypts', async () => {
    const secret = generateSecret();
    const pair = await login('fernet', secret);
    const out = python(
      `
import json, sys
from cryptography.fernet import Fernet, InvalidToken
inp = json.load(sys.stdin)
f = Fernet(inp["secret"] + "=")
def check(token):
    try:
        return json.loads(f.decrypt(token.encode())).get("type")
    except InvalidToken:
        return "InvalidToken"
print(json.dumps({"access": check(inp["access"]), "refresh": check(inp["refresh"])}))`,
      { secret, access: pair.accessToken, refresh: pair.refreshToken },
    );
    assert.deepEqual(out, { access: 'access', refresh: 'InvalidToken' });
  });
});
