/**
 * The `sealed` format against the two flaws of the seed's scheme 2 (a fixed IV, and
 * a MAC over the ciphertext only with the encryption key reused) and against the
 * usual encrypt-then-MAC tampering. Layout: version | kid length | kid | IV | ct | tag.
 */
import assert from 'node:assert/strict';
import { createCipheriv, createHmac } from 'node:crypto';
import { describe, test } from 'node:test';
import { createKeyRing } from '../../src/keys.js';
import { createCodec } from '../../src/tokens/codec.js';
import { createSealedCodec } from '../../src/tokens/sealed.js';
import { codeOf } from '../support/codes.js';

const SECRET = Buffer.alloc(32, 0x11);
const NOW = 1_750_000_000;
const clock = () => NOW * 1000;
const codec = createCodec({ format: 'sealed', secret: SECRET, clock });
const ring = createKeyRing([{ secret: SECRET }]);
const kidLen = Buffer.byteLength(ring.primary.kid);
const IV_AT = 2 + kidLen;
const CT_AT = IV_AT + 16;

const raw = (t: string) => Buffer.from(t, 'base64url');
const str = (b: Buffer) => b.toString('base64url');
const decodeCode = (t: string) => codeOf(() => codec.decode(t, { now: NOW * 1000 }));

describe('sealed: tampering', () => {
  const token = codec.encode({ sub: 'alice', type: 'access', role: 'user' });
  const bytes = raw(token);

  test('control: the token decodes', () => {
    assert.equal(codec.decode(token, { now: NOW * 1000 }).role, 'user');
  });
  test('the seed flaw: flipping a bit of the IV (which would flip the first plaintext block) -> bad_signature', () => {
    for (let bit = 0; bit < 128; bit++) {
      const b = Buffer.from(bytes);
      b[IV_AT + (bit >> 3)] = (b[IV_AT + (bit >> 3)] as number) ^ (1 << (bit & 7));
      assert.equal(decodeCode(str(b)), 'bad_signature', `IV bit ${bit}`);
    }
  });
  test('flipping any bit of the ciphertext or the tag -> bad_signature', () => {
    for (let i = CT_AT; i < bytes.length; i++) {
      const b = Buffer.from(bytes);
      b[i] = (b[i] as number) ^ 0x80;
      assert.equal(decodeCode(str(b)), 'bad_signature', `byte ${i}`);
    }
  });
  test('version byte changed -> malformed; kid changed -> unknown_key; kid length changed -> unknown_key', () => {
    const v = Buffer.from(bytes);
    v[0] = 0x02;
    assert.equal(decodeCode(str(v)), 'malformed');
    const k = Buffer.from(bytes);
    k[2] = (k[2] as number) ^ 0x01;
    assert.equal(decodeCode(str(k)), 'unknown_key');
    const l = Buffer.from(bytes);
    l[1] = (l[1] as number) + 1;
    assert.equal(decodeCode(str(l)), 'unknown_key'); // the kid now swallows an IV byte
  });
  test('truncation, extension and block splicing -> refused', () => {
    assert.equal(decodeCode(str(bytes.subarray(0, -1))), 'bad_signature');
    assert.equal(decodeCode(str(bytes.subarray(0, CT_AT + 16 + 31))), 'malformed');
    assert.equal(decodeCode(str(Buffer.concat([bytes, Buffer.alloc(16)]))), 'bad_signature');
    // Ciphertext of another token under the same IV/tag: the tag covers it.
    const other = raw(codec.encode({ sub: 'mallory', type: 'access', role: 'admin' }));
    const spliced = Buffer.concat([bytes.subarray(0, CT_AT), other.subarray(CT_AT)]);
    assert.equal(decodeCode(str(spliced)), 'bad_signature');
  });
  test('padded or standard-alphabet encodings of a valid token -> malformed', () => {
    const padded = token + '='.repeat((4 - (token.length % 4)) % 4);
    if (padded !== token) assert.equal(decodeCode(padded), 'malformed');
    let t = token;
    while (!/[-_]/.test(t)) t = codec.encode({ sub: 'alice' });
    assert.equal(decodeCode(t.replace(/-/g, '+').replace(/_/g, '/')), 'malformed');
    assert.equal(decodeCode(`${token} `), 'malformed');
  });
});

describe('sealed: the seed construction is not accepted', () => {
  test('a token built the seed way (key reused for AES and the MAC, MAC over the ciphertext only) -> bad_signature', () => {
    const iv = Buffer.alloc(16, 0x33); // the seed's fixed IV from the environment
    const c = createCipheriv('aes-256-cbc', SECRET, iv);
    const ct = Buffer.concat([c.update(JSON.stringify({ sub: 'alice', exp: NOW + 900, type: 'access' })), c.final()]);
    const tag = createHmac('sha256', SECRET).update(ct).digest();
    const head = Buffer.concat([Buffer.from([0x01, kidLen]), Buffer.from(ring.primary.kid)]);
    assert.equal(decodeCode(str(Buffer.concat([head, iv, ct, tag]))), 'bad_signature');
  });
  test('every token gets a fresh IV: equal claims give unrelated tokens', () => {
    const sealed = createSealedCodec(ring);
    const a = raw(sealed.encode({ sub: 'alice', exp: NOW + 900 }));
    const b = raw(sealed.encode({ sub: 'alice', exp: NOW + 900 }));
    assert.notDeepEqual(a.subarray(IV_AT, CT_AT), b.subarray(IV_AT, CT_AT));
    assert.notDeepEqual(a.subarray(CT_AT, CT_AT + 16), b.subarray(CT_AT, CT_AT + 16));
  });
  test('the encryption and MAC keys are derived (HKDF), not the secret itself', () => {
    const t = raw(codec.encode({ sub: 'alice' }));
    const body = t.subarray(0, -32);
    assert.notDeepEqual(createHmac('sha256', SECRET).update(body).digest(), t.subarray(-32));
  });
});
