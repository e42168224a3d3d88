/**
 * Interop with jose (an RFC 7519 HS256 implementation, devDependency only): any
 * HS256 verifier holding the same secret reads our tokens, and we read theirs.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decodeProtectedHeader, errors as joseErrors, jwtVerify, SignJWT } from 'jose';
import { createKeyRing } from '../../src/keys.js';
import { createCodec } from '../../src/tokens/codec.js';
import { codeOf } from '../support/codes.js';

const SECRET = Buffer.alloc(32);
for (let i = 0; i < 32; i++) SECRET[i] = (i * 7 + 3) & 0xff;
const NOW = 1_750_000_000;
const clock = () => NOW * 1000;
const currentDate = new Date(NOW * 1000);

describe('jose verifies our HS256 tokens', () => {
  const codec = createCodec({ format: 'jwt', secret: SECRET, clock });

  test('jwtVerify(token, secret, { algorithms: ["HS256"] }) returns our claims', async () => {
    const token = codec.encode({
      sub: 'alice',
      type: 'access',
      scope: 'read write',
      aud: 'api',
      iss: 'tessera',
      n: 1.5,
      u: 'é✓',
    });
    const { payload, protectedHeader } = await jwtVerify(token, SECRET, {
      algorithms: ['HS256'],
      currentDate,
      issuer: 'tessera',
      audience: 'api',
    });
    assert.deepEqual(payload, codec.decode(token, { now: NOW * 1000 }));
    assert.equal(payload.sub, 'alice');
    assert.equal(payload.exp, NOW + 900);
    assert.equal(payload.iat, NOW);
    assert.equal(typeof payload.jti, 'string');
    assert.deepEqual(protectedHeader, { alg: 'HS256', typ: 'JWT', kid: createKeyRing([{ secret: SECRET }]).primary.kid });
  });

  test('jose refuses our token once tampered, and after exp', async () => {
    const token = codec.encode({ sub: 'alice' });
    const [h, , s] = token.split('.');
    const forged = `${h}.${Buffer.from(JSON.stringify({ sub: 'mallory', exp: NOW + 900 })).toString('base64url')}.${s}`;
    await assert.rejects(
      jwtVerify(forged, SECRET, { algorithms: ['HS256'], currentDate }),
      joseErrors.JWSSignatureVerificationFailed,
    );
    await assert.rejects(
      jwtVerify(token, SECRET, { algorithms: ['HS256'], currentDate: new Date((NOW + 901) * 1000) }),
      joseErrors.JWTExpired,
    );
  });

  test('a token signed by the primary of a named key ring carries that kid', async () => {
    const ring = createKeyRing([{ kid: '2025-06', secret: SECRET }]);
    const token = createCodec({ format: 'jwt', secret: ring, clock }).encode({ sub: 'bob' });
    assert.equal(decodeProtectedHeader(token).kid, '2025-06');
    assert.equal((await jwtVerify(token, SECRET, { algorithms: ['HS256'], currentDate })).payload.sub, 'bob');
  });
});

describe('we verify tokens made by jose SignJWT', () => {
  const codec = createCodec({ format: 'jwt', secret: SECRET, clock });
  const kid = createKeyRing([{ secret: SECRET }]).primary.kid;

  async function joseToken(header: { alg: string; kid?: string; typ?: string }, secret: Uint8Array = SECRET) {
    return new SignJWT({ type: 'access', scope: 'read', nested: { a: [1, 2] } })
      .setProtectedHeader(header)
      .setSubject('carol')
      .setIssuedAt(NOW)
      .setExpirationTime(NOW + 600)
      .setJti('jose-jti')
      .sign(secret);
  }

  test('without kid (every ring key is tried)', async () => {
    const token = await joseToken({ alg: 'HS256' });
    const claims = codec.decode(token, { now: NOW * 1000, type: 'access' });
    assert.deepEqual(claims, {
      type: 'access',
      scope: 'read',
      nested: { a: [1, 2] },
      sub: 'carol',
      iat: NOW,
      exp: NOW + 600,
      jti: 'jose-jti',
    });
  });

  test('with our kid, and with typ JWT', async () => {
    assert.equal(codec.decode(await joseToken({ alg: 'HS256', kid }), { now: NOW * 1000 }).sub, 'carol');
    assert.equal(codec.decode(await joseToken({ alg: 'HS256', kid, typ: 'JWT' }), { now: NOW * 1000 }).sub, 'carol');
  });

  test('with a kid of a rotated-out key: unknown_key; with a wrong secret: bad_signature', async () => {
    const unknown = await joseToken({ alg: 'HS256', kid: 'retired' });
    assert.equal(
      codeOf(() => codec.decode(unknown, { now: NOW * 1000 })),
      'unknown_key',
    );
    const wrong = await joseToken({ alg: 'HS256' }, Buffer.alloc(32, 1));
    assert.equal(
      codeOf(() => codec.decode(wrong, { now: NOW * 1000 })),
      'bad_signature',
    );
  });

  test('expiry set by jose is enforced by us (injected clock)', async () => {
    const token = await joseToken({ alg: 'HS256' });
    assert.equal(
      codeOf(() => codec.decode(token, { now: (NOW + 599) * 1000 })),
      'accepted',
    );
    assert.equal(
      codeOf(() => codec.decode(token, { now: (NOW + 600) * 1000 })),
      'expired',
    );
  });

  test('HS384 / HS512 made by jose with the same secret: unsupported (allowlist is HS256 only)', async () => {
    for (const alg of ['HS384', 'HS512']) {
      const token = await joseToken({ alg });
      assert.equal(
        codeOf(() => codec.decode(token, { now: NOW * 1000 })),
        'unsupported',
        alg,
      );
    }
  });
});
