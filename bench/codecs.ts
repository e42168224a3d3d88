/**
 * Benchmark cases for the token codecs. Every case is checked for correctness
 * before it is timed (a benchmark of a failing path measures nothing).
 *
 * Floors are the bare node:crypto work a token needs, on prepared input:
 * - HS256 sign:   createHmac('sha256', key).update(input).digest('base64url')
 * - HS256 verify: the same MAC (raw) + timingSafeEqual against the token's MAC
 * - sealed/fernet encode: random IV + AES-CBC + HMAC-SHA256 + base64url of the token
 * - sealed/fernet decode: base64url decode + HMAC + timingSafeEqual + AES-CBC decrypt
 * - HS256 verify again (cache): `Map.get` with a key of the token's length made
 *   afresh (a slice), the least a cache of verified tokens can do: a token comes
 *   from a new header string with every request, so its hash is computed each
 *   time (V8 caches a string's hash in the string; looking up the same string
 *   object over and over would time nothing).
 *
 * @module
 */
import assert from 'node:assert/strict';
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { createSigner, createVerifier } from 'fast-jwt';
import fernetNpm from 'fernet';
import { createKeyRing } from '../src/keys.js';
import { createCodec } from '../src/tokens/codec.js';
import { createJwtCodec } from '../src/tokens/jwt.js';
import type { BenchCase } from './harness.js';

export function buildCases(): BenchCase[] {
  const secret = Buffer.alloc(32);
  for (let i = 0; i < 32; i++) secret[i] = (i * 73 + 11) & 0xff;
  const now = Math.floor(Date.now() / 1000);
  // A typical access token's claims.
  const claims = {
    sub: 'user-1234567',
    type: 'access',
    scope: 'read write',
    iat: now,
    exp: now + 3600,
    jti: 'q2Y0bU5kZ3lLd0FfRk9wUQ',
  };
  const cases: BenchCase[] = [];

  // --- HS256 JWT -------------------------------------------------------------------------------
  const ring = createKeyRing([{ secret }]);
  const jwt = createJwtCodec(ring);
  const jwtCodec = createCodec({ format: 'jwt', secret });
  const token = jwt.sign(claims);
  const d2 = token.lastIndexOf('.');
  const signingInput = token.slice(0, d2);
  const macBytes = Buffer.from(token.slice(d2 + 1), 'base64url');
  assert.equal(createHmac('sha256', secret).update(signingInput).digest('base64url'), token.slice(d2 + 1));
  assert.deepEqual(jwtCodec.decode(token), claims);

  const fastSign = createSigner({ key: secret, algorithm: 'HS256' });
  const fastVerify = createVerifier({ key: secret, algorithms: ['HS256'], cache: false });
  const fastToken = fastSign(claims);
  assert.deepEqual(fastVerify(fastToken), claims);
  assert.deepEqual(fastVerify(token), claims); // fast-jwt reads our tokens too
  // The same claims object on both sides, serialized alike: the two tokens differ only in their
  // header (ours names its key, `kid`), so both verifiers parse and check the same payload.
  assert.equal(fastToken.split('.')[1], token.split('.')[1]);
  const { iat: _iat, exp: _exp, jti: _jti, ...bare } = claims;

  cases.push(
    {
      group: 'HS256 sign',
      role: 'floor',
      name: 'floor: createHmac(...).digest(base64url)',
      fn: () => createHmac('sha256', secret).update(signingInput).digest('base64url'),
    },
    { group: 'HS256 sign', role: 'ours', name: 'tessera jwt sign (same claims)', fn: () => jwt.sign(claims) },
    { group: 'HS256 sign', role: 'ours', name: 'tessera codec.encode (+iat, exp, random jti)', fn: () => jwtCodec.encode(bare) },
    { group: 'HS256 sign', role: 'library', name: 'fast-jwt createSigner (sync)', fn: () => fastSign(claims) },
    {
      group: 'HS256 verify',
      role: 'floor',
      name: 'floor: createHmac + timingSafeEqual',
      fn: () => timingSafeEqual(createHmac('sha256', secret).update(signingInput).digest(), macBytes),
    },
    { group: 'HS256 verify', role: 'ours', name: 'tessera codec.decode (claims + exp check)', fn: () => jwtCodec.decode(token) },
    { group: 'HS256 verify', role: 'ours', name: 'tessera jwt verify (JWS + JSON, no time checks)', fn: () => jwt.verify(token) },
    { group: 'HS256 verify', role: 'library', name: 'fast-jwt createVerifier (sync, no cache)', fn: () => fastVerify(fastToken) },
  );

  // --- HS256 verify of a token seen before (caches of verified tokens) --------------------------
  const cachedCodec = createCodec({ format: 'jwt', secret, cacheSize: 1000 });
  const fastVerifyCached = createVerifier({ key: secret, algorithms: ['HS256'], cache: true });
  const floorMap = new Map([[token.slice(1), claims]]);
  assert.equal(floorMap.get(token.slice(1)), claims);
  assert.deepEqual(cachedCodec.decode(token), claims);
  assert.deepEqual(fastVerifyCached(fastToken), claims);
  cases.push(
    {
      group: 'HS256 verify again (cache)',
      role: 'floor',
      name: 'floor: Map.get(a fresh key as long as the token)',
      fn: () => floorMap.get(token.slice(1)),
    },
    {
      group: 'HS256 verify again (cache)',
      role: 'ours',
      name: 'tessera codec.decode (cacheSize 1000; claim checks each time)',
      fn: () => cachedCodec.decode(token),
    },
    {
      group: 'HS256 verify again (cache)',
      role: 'library',
      name: 'fast-jwt createVerifier (cache: true)',
      fn: () => fastVerifyCached(fastToken),
    },
  );

  // --- sealed (AES-256-CBC + HMAC-SHA256, HKDF-derived keys) ------------------------------------
  const sealed = createCodec({ format: 'sealed', secret });
  const sealedToken = sealed.encode(claims);
  assert.deepEqual(sealed.decode(sealedToken), claims);
  const salt = Buffer.from('tessera sealed v1');
  const encKey = Buffer.from(hkdfSync('sha256', secret, salt, Buffer.from('tessera sealed v1 aes-256-cbc'), 32));
  const macKey = Buffer.from(hkdfSync('sha256', secret, salt, Buffer.from('tessera sealed v1 hmac-sha256'), 32));
  const plaintext = Buffer.from(JSON.stringify(claims));
  const kid = Buffer.from(ring.primary.kid);
  const head = Buffer.concat([Buffer.from([1, kid.length]), kid]);
  const floorSeal = (): string => {
    const iv = randomBytes(16);
    const c = createCipheriv('aes-256-cbc', encKey, iv);
    const body = Buffer.concat([head, iv, c.update(plaintext), c.final()]);
    return Buffer.concat([body, createHmac('sha256', macKey).update(body).digest()]).toString('base64url');
  };
  const floorOpen = (t: string): Buffer => {
    const raw = Buffer.from(t, 'base64url');
    const tagAt = raw.length - 32;
    if (!timingSafeEqual(createHmac('sha256', macKey).update(raw.subarray(0, tagAt)).digest(), raw.subarray(tagAt)))
      throw new Error('mac');
    const ivAt = head.length;
    const d = createDecipheriv('aes-256-cbc', encKey, raw.subarray(ivAt, ivAt + 16));
    return Buffer.concat([d.update(raw.subarray(ivAt + 16, tagAt)), d.final()]);
  };
  // The floor speaks the same format: it opens our tokens and we open its.
  assert.deepEqual(JSON.parse(floorOpen(sealedToken).toString()), claims);
  assert.deepEqual(sealed.decode(floorSeal()), claims);
  cases.push(
    { group: 'sealed encode', role: 'floor', name: 'floor: AES-256-CBC + HMAC + base64url', fn: floorSeal },
    { group: 'sealed encode', role: 'ours', name: 'tessera sealed encode', fn: () => sealed.encode(claims) },
    {
      group: 'sealed decode',
      role: 'floor',
      name: 'floor: HMAC + timingSafeEqual + AES-256-CBC',
      fn: () => floorOpen(sealedToken),
    },
    {
      group: 'sealed decode',
      role: 'ours',
      name: 'tessera sealed decode (claims + exp check)',
      fn: () => sealed.decode(sealedToken),
    },
  );

  // --- fernet (AES-128-CBC + HMAC-SHA256, padded base64url) -----------------------------------
  const fernetSecret = secret.toString('base64url');
  const fernet = createCodec({ format: 'fernet', secret });
  const fernetToken = fernet.encode(claims);
  assert.deepEqual(fernet.decode(fernetToken), claims);
  const fSign = secret.subarray(0, 16);
  const fEnc = secret.subarray(16, 32);
  const tsHead = Buffer.alloc(9);
  tsHead[0] = 0x80;
  tsHead.writeBigUInt64BE(BigInt(now), 1);
  const pad = (s: string) => s + '='.repeat((4 - (s.length % 4)) % 4);
  const floorFernetEncrypt = (): string => {
    const iv = randomBytes(16);
    const c = createCipheriv('aes-128-cbc', fEnc, iv);
    const body = Buffer.concat([tsHead, iv, c.update(plaintext), c.final()]);
    return pad(Buffer.concat([body, createHmac('sha256', fSign).update(body).digest()]).toString('base64url'));
  };
  const floorFernetDecrypt = (t: string): Buffer => {
    const raw = Buffer.from(t, 'base64url');
    const tagAt = raw.length - 32;
    if (!timingSafeEqual(createHmac('sha256', fSign).update(raw.subarray(0, tagAt)).digest(), raw.subarray(tagAt)))
      throw new Error('mac');
    const d = createDecipheriv('aes-128-cbc', fEnc, raw.subarray(9, 25));
    return Buffer.concat([d.update(raw.subarray(25, tagAt)), d.final()]);
  };
  assert.deepEqual(JSON.parse(floorFernetDecrypt(fernetToken).toString()), claims);
  assert.deepEqual(fernet.decode(floorFernetEncrypt()), claims);
  const npmSecret = new fernetNpm.Secret(pad(fernetSecret));
  const plaintextString = plaintext.toString('utf8');
  const npmToken = new fernetNpm.Token({ secret: npmSecret, ttl: 0 }).encode(plaintextString);
  assert.deepEqual(fernet.decode(npmToken), claims);
  assert.deepEqual(JSON.parse(new fernetNpm.Token({ secret: npmSecret, token: fernetToken, ttl: 0 }).decode()), claims);
  cases.push(
    { group: 'fernet encode', role: 'floor', name: 'floor: AES-128-CBC + HMAC + base64url', fn: floorFernetEncrypt },
    { group: 'fernet encode', role: 'ours', name: 'tessera fernet encode', fn: () => fernet.encode(claims) },
    {
      group: 'fernet encode',
      role: 'library',
      name: 'fernet (npm) Token.encode',
      fn: () => new fernetNpm.Token({ secret: npmSecret, ttl: 0 }).encode(plaintextString),
    },
    {
      group: 'fernet decode',
      role: 'floor',
      name: 'floor: HMAC + timingSafeEqual + AES-128-CBC',
      fn: () => floorFernetDecrypt(fernetToken),
    },
    {
      group: 'fernet decode',
      role: 'ours',
      name: 'tessera fernet decode (claims + exp check)',
      fn: () => fernet.decode(fernetToken),
    },
    {
      group: 'fernet decode',
      role: 'library',
      name: 'fernet (npm) Token.decode (ttl 0)',
      fn: () => new fernetNpm.Token({ secret: npmSecret, token: npmToken, ttl: 0 }).decode(),
    },
  );
  return cases;
}
