/**
 * Tokens other ecosystems verify with their standard libraries: Python's PyJWT
 * (any RFC 7519 HS256 verifier) for `jwt`, and `cryptography.fernet` for
 * `fernet`; and the reverse direction. Uses Debian's python3 with the
 * python3-jwt and python3-cryptography packages (installed by .ci/run).
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, test } from 'node:test';
import { TokenError } from '../../src/errors.js';
import { generateSecret } from '../../src/keys.js';
import { createCodec } from '../../src/tokens/codec.js';

const PYTHON = process.env.TESSERA_TEST_PYTHON ?? '/usr/bin/python3';
const available =
  existsSync(PYTHON) && spawnSync(PYTHON, ['-c', 'import jwt, cryptography.fernet'], { stdio: 'ignore' }).status === 0;
const skip = !available && process.env.CI !== 'true' ? `needs ${PYTHON} with python3-jwt and python3-cryptography` : false;

/** Runs a Python snippet with JSON in on stdin and JSON out on stdout. */
function python(code: string, input: unknown): unknown {
  const out = execFileSync(PYTHON, ['-c', code], { input: JSON.stringify(input), encoding: 'utf8' });
  return JSON.parse(out);
}

const PY_PRELUDE = `
import base64, json, sys, time
inp = json.load(sys.stdin)
secret = inp["secret"]
key_bytes = base64.urlsafe_b64decode(secret + "=" * (-len(secret) % 4))
`;

describe('Python interop', { skip }, () => {
  const secret = generateSecret();
  const now = Math.floor(Date.now() / 1000);

  test('PyJWT verifies our jwt tokens (algorithms=["HS256"]) and sees our claims', () => {
    const token = createCodec({ format: 'jwt', secret }).encode({ sub: 'alice', type: 'access', scope: 'api' });
    const claims = python(
      `${PY_PRELUDE}
import jwt
print(json.dumps(jwt.decode(inp["token"], key_bytes, algorithms=["HS256"])))`,
      { secret, token },
    ) as Record<string, unknown>;
    assert.equal(claims.sub, 'alice');
    assert.equal(claims.type, 'access');
    assert.equal(claims.scope, 'api');
  });

  test('PyJWT refuses our token under another key, and an expired one', () => {
    const codec = createCodec({ format: 'jwt', secret });
    const results = python(
      `${PY_PRELUDE}
import jwt
out = []
for token, key in ((inp["token"], b"x" * 32), (inp["expired"], key_bytes)):
    try:
        jwt.decode(token, key, algorithms=["HS256"])
        out.append("accepted")
    except jwt.ExpiredSignatureError:
        out.append("expired")
    except jwt.InvalidSignatureError:
        out.append("bad_signature")
print(json.dumps(out))`,
      { secret, token: codec.encode({ sub: 'alice' }), expired: codec.encode({ sub: 'alice', iat: now - 100, exp: now - 50 }) },
    );
    assert.deepEqual(results, ['bad_signature', 'expired']);
  });

  test('we verify tokens PyJWT signs with the same secret', () => {
    const token = python(
      `${PY_PRELUDE}
import jwt
print(json.dumps(jwt.encode({"sub": "bob", "type": "refresh", "exp": int(time.time()) + 60}, key_bytes, algorithm="HS256")))`,
      { secret },
    ) as string;
    const claims = createCodec({ format: 'jwt', secret }).decode(token, { type: 'refresh' });
    assert.equal(claims.sub, 'bob');
    // Python signed HS512 with the same key: refused, the algorithm is pinned.
    const hs512 = python(
      `${PY_PRELUDE}
import jwt
print(json.dumps(jwt.encode({"sub": "bob", "exp": int(time.time()) + 60}, key_bytes, algorithm="HS512")))`,
      { secret },
    ) as string;
    assert.throws(
      () => createCodec({ format: 'jwt', secret }).decode(hs512),
      (e) => e instanceof TokenError && e.code === 'unsupported',
    );
  });

  test('cryptography.fernet decrypts our fernet tokens (key = TESSERA_SECRET + "=") and honours ttl', () => {
    const token = createCodec({ format: 'fernet', secret }).encode({ sub: 'carol', type: 'access' });
    const out = python(
      `${PY_PRELUDE}
from cryptography.fernet import Fernet, InvalidToken
f = Fernet(secret + "=")
claims = json.loads(f.decrypt(inp["token"].encode(), ttl=900))
try:
    Fernet(base64.urlsafe_b64encode(b"y" * 32)).decrypt(inp["token"].encode())
    other = "accepted"
except InvalidToken:
    other = "refused"
print(json.dumps({"claims": claims, "other_key": other, "timestamp": f.extract_timestamp(inp["token"].encode())}))`,
      { secret, token },
    ) as { claims: Record<string, unknown>; other_key: string; timestamp: number };
    assert.equal(out.claims.sub, 'carol');
    assert.equal(out.other_key, 'refused');
    assert.equal(out.timestamp, out.claims.iat, 'the Fernet timestamp is the issue time');
  });

  test('we decode Fernet tokens that Python makes from JSON claims', () => {
    const token = python(
      `${PY_PRELUDE}
from cryptography.fernet import Fernet
claims = {"sub": "dave", "type": "access", "iat": int(time.time()), "exp": int(time.time()) + 60}
print(json.dumps(Fernet(secret + "=").encrypt(json.dumps(claims).encode()).decode()))`,
      { secret },
    ) as string;
    assert.equal(createCodec({ format: 'fernet', secret }).decode(token, { type: 'access' }).sub, 'dave');
  });
});
