/**
 * Attacks on EdDSA/ES256/RS256 tokens, against both verifiers: the issuer's codec
 * (`createCodec({ format: 'jwt', signingKeys })`) and a resource server's
 * `createJwksVerifier`. Each builds a concrete token and asserts the exact code.
 * Recipes: test/vectors/data/jwt_attack_cases.md; RFC 8725 §2.1 and §3.1
 * (algorithm confusion, "none"), §3.10 (jku/x5u), Wycheproof json_web_crypto.md
 * ("Attacker-Chosen Verification Key", "Symmetric/Asymmetric Signature Type Confusion");
 * RSASSA-PKCS1-v1_5 signatures over malformed encoded messages (RFC 8017 §8.2.2 step 4,
 * §9.2; CVE-2006-4339), made with the private key, so only the padding is wrong. jose
 * serves as an oracle: it agrees on every RS256 verdict here.
 */
import assert from 'node:assert/strict';
import { constants, createHash, createHmac, createPrivateKey, createPublicKey, privateEncrypt, sign } from 'node:crypto';
import { describe, test } from 'node:test';
import { importJWK, jwtVerify, SignJWT } from 'jose';
import { TokenError, type TokenErrorCode } from '../../src/errors.js';
import { createCodec } from '../../src/tokens/codec.js';
import { generateSigningJwk, type PrivateJwk, parseSigningKeySet } from '../../src/tokens/jwk.js';
import { createJwksVerifier } from '../../src/verify/jwks.js';
import { b64, publicOf, signWith, stubFetch } from '../support/asymmetric.js';

const NOW = 1_750_000_000;
const clock = () => NOW * 1000;
const ISS = 'https://auth.example';
const AUD = 'https://api.example';
const ed = generateSigningJwk('EdDSA');
const ec = generateSigningJwk('ES256');
const rs = generateSigningJwk('RS256');
/** The three algorithms in one set, so alg swaps meet a real key of another type. */
const set = parseSigningKeySet({ keys: [ed, ec, rs] });
const issuerCodec = createCodec({ format: 'jwt', signingKeys: set, clock, issuer: ISS, audience: AUD });
const CLAIMS = { sub: 'alice', iss: ISS, aud: AUD, iat: NOW, exp: NOW + 900, jti: 'j1', type: 'access' };
const fetcher = stubFetch({ keys: [publicOf(ed), publicOf(ec), publicOf(rs)] });
const verifier = createJwksVerifier({
  jwksUri: `${ISS}/.well-known/jwks.json`,
  issuer: ISS,
  audience: AUD,
  clock,
  fetch: fetcher.fetch,
});

async function codes(token: string): Promise<{ codec: TokenErrorCode | 'accepted'; jwks: TokenErrorCode | 'accepted' }> {
  let codec: TokenErrorCode | 'accepted' = 'accepted';
  try {
    issuerCodec.decode(token);
  } catch (e) {
    if (!(e instanceof TokenError)) throw e;
    codec = e.code;
  }
  let jwks: TokenErrorCode | 'accepted' = 'accepted';
  try {
    await verifier.verify(token);
  } catch (e) {
    if (!(e instanceof TokenError)) throw e;
    jwks = e.code;
  }
  return { codec, jwks };
}
/** A signature with node:crypto directly: any hash, PKCS#1 v1.5 or PSS. */
const createSignature = (hash: string, input: string, key: import('node:crypto').KeyObject, padding: number) =>
  sign(hash, Buffer.from(input), { key, padding });
const both = (code: TokenErrorCode | 'accepted') => ({ codec: code, jwks: code });
const hs256 = (key: Uint8Array | string, kid: string) => {
  const input = `${b64({ alg: 'HS256', typ: 'at+jwt', kid })}.${b64(CLAIMS)}`;
  return `${input}.${createHmac('sha256', key).update(input).digest('base64url')}`;
};
const publicKeyObject = (jwk: PrivateJwk) =>
  createPublicKey({ key: publicOf(jwk) as import('node:crypto').JsonWebKey, format: 'jwk' });
const pem = (jwk: PrivateJwk) => publicKeyObject(jwk).export({ type: 'spki', format: 'pem' }) as string;
/** The public key as the bytes an HMAC-confused verifier might take for a secret. */
const rawPublic = (jwk: PrivateJwk): (string | Buffer)[] => {
  if (jwk.kty === 'RSA') {
    const key = publicKeyObject(jwk);
    return [
      key.export({ type: 'pkcs1', format: 'pem' }) as string,
      key.export({ type: 'pkcs1', format: 'der' }),
      key.export({ type: 'spki', format: 'der' }),
      Buffer.from(jwk.n as string, 'base64url'),
      jwk.n as string,
    ];
  }
  const x = Buffer.from(jwk.x as string, 'base64url');
  return jwk.kty === 'EC'
    ? [Buffer.concat([Buffer.from([4]), x, Buffer.from(jwk.y as string, 'base64url')]), jwk.x as string]
    : [x, jwk.x as string];
};

describe('asymmetric tokens: the baseline verifies', () => {
  test('tokens of every key (EdDSA first, then ES256 and RS256 by kid) verify in the codec and the JWKS verifier', async () => {
    assert.deepEqual(await codes(issuerCodec.encode(CLAIMS)), both('accepted'));
    const esToken = signWith(ec, { alg: 'ES256', typ: 'at+jwt', kid: ec.kid }, CLAIMS);
    assert.deepEqual(await codes(esToken), both('accepted'));
    const rsToken = signWith(rs, { alg: 'RS256', typ: 'at+jwt', kid: rs.kid }, CLAIMS);
    assert.deepEqual(await codes(rsToken), both('accepted'));
  });
});

describe('RS256 with jose as the oracle', () => {
  test('a token our codec signs with the RSA key verifies with jose (importJWK + jwtVerify); one jose signs verifies with ours', async () => {
    const rsCodec = createCodec({
      format: 'jwt',
      signingKeys: parseSigningKeySet({ keys: [rs, ed] }),
      clock,
      issuer: ISS,
      audience: AUD,
    });
    const ours = rsCodec.encode({ sub: 'alice', scope: 'read', iss: ISS, aud: AUD, iat: NOW });
    const joseKey = await importJWK(publicOf(rs), 'RS256');
    const { payload, protectedHeader } = await jwtVerify(ours, joseKey, {
      issuer: ISS,
      audience: AUD,
      typ: 'at+jwt',
      algorithms: ['RS256'],
      currentDate: new Date(NOW * 1000),
    });
    assert.equal(payload.sub, 'alice');
    assert.deepEqual(protectedHeader, { alg: 'RS256', typ: 'at+jwt', kid: rs.kid });
    const theirs = await new SignJWT({ ...CLAIMS, sub: 'bob' })
      .setProtectedHeader({ alg: 'RS256', typ: 'at+jwt', kid: rs.kid })
      .sign(await importJWK(rs, 'RS256'));
    assert.deepEqual(await codes(theirs), both('accepted'));
    assert.equal(rsCodec.decode(theirs).sub, 'bob');
  });
});

describe('asymmetric tokens: attacks refused', () => {
  for (const jwk of [ed, ec, rs]) {
    test(`HS256 with the ${jwk.alg} public key as the HMAC secret (JWK JSON, raw bytes, PEM): unsupported`, async () => {
      for (const key of [JSON.stringify(publicOf(jwk)), pem(jwk), ...rawPublic(jwk)]) {
        assert.deepEqual(await codes(hs256(key, jwk.kid)), both('unsupported'));
        // Without a kid too: HS256 is no algorithm of this set, whatever key it names.
        const input = `${b64({ alg: 'HS256', typ: 'at+jwt' })}.${b64(CLAIMS)}`;
        const token = `${input}.${createHmac('sha256', key).update(input).digest('base64url')}`;
        assert.deepEqual(await codes(token), both('unsupported'));
      }
    });
  }

  test('alg swapped: an EdDSA header on the ES256 key, and the reverse (each signed by the named key): unsupported', async () => {
    // The ES256 key signs, but the header claims EdDSA under its kid (and the reverse): the key decides the algorithm.
    assert.deepEqual(await codes(signWith(ec, { alg: 'EdDSA', typ: 'at+jwt', kid: ec.kid }, CLAIMS)), both('unsupported'));
    assert.deepEqual(await codes(signWith(ed, { alg: 'ES256', typ: 'at+jwt', kid: ed.kid }, CLAIMS)), both('unsupported'));
  });

  test('recipe 4.2 on the RSA key: an RS256 header over an HMAC-SHA256 of the public key (and a 256-byte HMAC stream): bad_signature', async () => {
    const input = `${b64({ alg: 'RS256', typ: 'at+jwt', kid: rs.kid })}.${b64(CLAIMS)}`;
    for (const key of [pem(rs), ...rawPublic(rs)]) {
      const mac = createHmac('sha256', key).update(input).digest();
      // The MAC as is (32 bytes), and repeated to the modulus length so the size check alone cannot end it.
      for (const sig of [mac, Buffer.concat(Array.from({ length: 8 }, () => mac))]) {
        assert.deepEqual(await codes(`${input}.${sig.toString('base64url')}`), both('bad_signature'));
      }
    }
  });

  test('alg swapped with RS256: an RS256 header on the EdDSA or ES256 key, an EdDSA/ES256 header on the RSA key: unsupported', async () => {
    for (const other of [ed, ec]) {
      assert.deepEqual(await codes(signWith(rs, { alg: 'RS256', typ: 'at+jwt', kid: other.kid }, CLAIMS)), both('unsupported'));
      assert.deepEqual(await codes(signWith(other, { alg: other.alg, typ: 'at+jwt', kid: rs.kid }, CLAIMS)), both('unsupported'));
    }
  });

  test('the RSA key verifies RS256 only: RS384, RS512, PS256 (signed with it) and RS256 spellings are unsupported', async () => {
    const key = createPrivateKey({ key: rs as unknown as import('node:crypto').JsonWebKey, format: 'jwk' });
    const signed = (alg: string, hash: string, padding: number) => {
      const input = `${b64({ alg, typ: 'at+jwt', kid: rs.kid })}.${b64(CLAIMS)}`;
      const sig = createSignature(hash, input, key, padding);
      return `${input}.${sig.toString('base64url')}`;
    };
    for (const [alg, hash, padding] of [
      ['RS384', 'sha384', constants.RSA_PKCS1_PADDING],
      ['RS512', 'sha512', constants.RSA_PKCS1_PADDING],
      ['PS256', 'sha256', constants.RSA_PKCS1_PSS_PADDING],
      ['rs256', 'sha256', constants.RSA_PKCS1_PADDING],
      ['RS256 ', 'sha256', constants.RSA_PKCS1_PADDING],
    ] as const) {
      assert.deepEqual(await codes(signed(alg, hash, padding)), both('unsupported'), alg);
    }
    // A PSS signature under an RS256 header: the right alg, the wrong scheme.
    const input = `${b64({ alg: 'RS256', typ: 'at+jwt', kid: rs.kid })}.${b64(CLAIMS)}`;
    const pss = createSignature('sha256', input, key, constants.RSA_PKCS1_PSS_PADDING);
    assert.deepEqual(await codes(`${input}.${pss.toString('base64url')}`), both('bad_signature'));
  });

  test('alg none (any case), with and without a signature: unsupported', async () => {
    for (const alg of ['none', 'None', 'NONE', 'nOnE']) {
      const input = `${b64({ alg, typ: 'at+jwt', kid: ed.kid })}.${b64(CLAIMS)}`;
      for (const sig of ['', 'AAAA']) {
        const r = await codes(`${input}.${sig}`);
        assert.ok(r.codec === 'unsupported' && r.jwks === 'unsupported', `${alg} "${sig}": ${JSON.stringify(r)}`);
      }
    }
  });

  test('a jwk, jku, x5u or x5c header, even with a valid signature by a key of the set: unsupported', async () => {
    const attacker = generateSigningJwk('EdDSA');
    const headers = [
      { jwk: publicOf(attacker) },
      { jku: 'https://evil.example/jwks.json' },
      { x5u: 'https://evil.example/cert.pem' },
      { x5c: ['MIIB'] },
    ];
    for (const extra of headers) {
      // Signed with the real key: the header alone must end it, before any key is fetched.
      const token = signWith(ed, { alg: 'EdDSA', typ: 'at+jwt', kid: ed.kid, ...extra }, CLAIMS);
      assert.deepEqual(await codes(token), both('unsupported'), Object.keys(extra)[0]);
      // And signed by the attacker's embedded key, without a kid.
      const forged = signWith(attacker, { alg: 'EdDSA', typ: 'at+jwt', ...extra }, CLAIMS);
      assert.deepEqual(await codes(forged), both('unsupported'));
    }
  });

  test('a valid signature by a key not in the set, under a known kid: bad_signature', async () => {
    for (const [real, alg] of [
      [ed, 'EdDSA'],
      [ec, 'ES256'],
      [rs, 'RS256'],
    ] as const) {
      const other = generateSigningJwk(alg);
      const token = signWith(other, { alg, typ: 'at+jwt', kid: real.kid }, CLAIMS);
      assert.deepEqual(await codes(token), both('bad_signature'));
    }
  });

  test('an unknown kid: unknown_key', async () => {
    const other = generateSigningJwk('EdDSA');
    assert.deepEqual(await codes(signWith(other, { alg: 'EdDSA', typ: 'at+jwt', kid: other.kid }, CLAIMS)), both('unknown_key'));
  });

  test('ES256 signatures in DER, or with r or s out of range (0, n, > n), or of the wrong size: bad_signature', async () => {
    const der = signWith(ec, { alg: 'ES256', typ: 'at+jwt', kid: ec.kid }, CLAIMS, { der: true });
    assert.deepEqual(await codes(der), both('bad_signature'));
    const good = signWith(ec, { alg: 'ES256', typ: 'at+jwt', kid: ec.kid }, CLAIMS);
    const [h, p, s] = good.split('.') as [string, string, string];
    const sig = Buffer.from(s, 'base64url');
    const r = sig.subarray(0, 32);
    const sv = sig.subarray(32);
    const n = Buffer.from('ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551', 'hex');
    const zero = Buffer.alloc(32);
    const ff = Buffer.alloc(32, 0xff);
    const rPlusN = (BigInt(`0x${r.toString('hex')}`) + BigInt(`0x${n.toString('hex')}`)).toString(16).padStart(66, '0');
    const variants = [
      Buffer.concat([zero, sv]),
      Buffer.concat([r, zero]),
      Buffer.concat([n, sv]),
      Buffer.concat([r, n]),
      Buffer.concat([ff, sv]),
      Buffer.concat([r, ff]),
      Buffer.from(rPlusN + sv.toString('hex'), 'hex'), // r + n: 65 bytes
      Buffer.concat([Buffer.from([0]), sig]),
      sig.subarray(0, 63),
      Buffer.concat([zero, zero]),
    ];
    for (const v of variants) {
      assert.deepEqual(await codes(`${h}.${p}.${v.toString('base64url')}`), both('bad_signature'), v.toString('hex'));
    }
  });

  test('Ed25519 signatures malleated (S + L), truncated or padded: bad_signature', async () => {
    const good = issuerCodec.encode(CLAIMS);
    const [h, p, s] = good.split('.') as [string, string, string];
    const sig = Buffer.from(s, 'base64url');
    const L = BigInt('0x1000000000000000000000000000000014def9dea2f79cd65812631a5cf5d3ed');
    const S = BigInt(`0x${Buffer.from(sig.subarray(32)).reverse().toString('hex')}`);
    const sPlusL = Buffer.from((S + L).toString(16).padStart(64, '0'), 'hex').reverse();
    for (const v of [Buffer.concat([sig.subarray(0, 32), sPlusL]), sig.subarray(0, 63), Buffer.concat([sig, Buffer.from([0])])]) {
      assert.deepEqual(await codes(`${h}.${p}.${v.toString('base64url')}`), both('bad_signature'));
    }
  });

  test('RS256 signatures resized or out of range (+1, + n, a leading zero octet, truncated, 0, n, all ones): bad_signature, and jose agrees', async () => {
    const good = signWith(rs, { alg: 'RS256', typ: 'at+jwt', kid: rs.kid }, CLAIMS);
    const [h, p, s] = good.split('.') as [string, string, string];
    const sig = Buffer.from(s, 'base64url');
    const n = Buffer.from(rs.n as string, 'base64url');
    const int = (b: Buffer) => BigInt(`0x${b.toString('hex')}`);
    const bytes = (v: bigint, len: number) => Buffer.from(v.toString(16).padStart(len * 2, '0'), 'hex');
    const variants: [string, Buffer][] = [
      ['signature + 1', bytes(int(sig) + 1n, 256)],
      ['signature + n (257 octets)', bytes(int(sig) + int(n), 257)],
      ['a leading zero octet', Buffer.concat([Buffer.from([0]), sig])],
      ['a trailing zero octet', Buffer.concat([sig, Buffer.from([0])])],
      ['truncated to 255 octets', sig.subarray(1)],
      ['the last octet cut', sig.subarray(0, 255)],
      ['zero', Buffer.alloc(256)],
      ['one', bytes(1n, 256)],
      ['n', n],
      ['n - 1', bytes(int(n) - 1n, 256)],
      ['all ones', Buffer.alloc(256, 0xff)],
      ['empty', Buffer.alloc(0)],
    ];
    const joseKey = await importJWK(publicOf(rs), 'RS256');
    for (const [what, v] of variants) {
      const token = `${h}.${p}.${v.toString('base64url')}`;
      assert.deepEqual(await codes(token), both('bad_signature'), what);
      await assert.rejects(jwtVerify(token, joseKey, { currentDate: new Date(NOW * 1000) }), `jose refuses ${what}`);
    }
    await jwtVerify(good, joseKey, { currentDate: new Date(NOW * 1000) });
  });

  test('RS256 signatures (by the real key) over a malformed PKCS#1 v1.5 encoding: bad_signature, and jose agrees', async () => {
    const input = `${b64({ alg: 'RS256', typ: 'at+jwt', kid: rs.kid })}.${b64(CLAIMS)}`;
    const hash = createHash('sha256').update(input).digest();
    const key = createPrivateKey({ key: rs as unknown as import('node:crypto').JsonWebKey, format: 'jwk' });
    // RFC 8017 §9.2: EM = 0x00 || 0x01 || PS (0xff..., >= 8 octets) || 0x00 || DigestInfo(SHA-256, H).
    const SHA256_INFO = Buffer.from('3031300d060960864801650304020105000420', 'hex');
    const em = (o: { bt?: number; psByte?: number; info?: Buffer; digest?: Buffer; tail?: Buffer; sep?: number } = {}) => {
      const t = Buffer.concat([o.info ?? SHA256_INFO, o.digest ?? hash, o.tail ?? Buffer.alloc(0)]);
      const ps = Buffer.alloc(256 - 3 - t.length, o.psByte ?? 0xff);
      return Buffer.concat([Buffer.from([0, o.bt ?? 1]), ps, Buffer.from([o.sep ?? 0]), t]);
    };
    // The private-key operation alone (EM^d mod n): the signature of whatever EM says.
    const rawSign = (m: Buffer) => privateEncrypt({ key, padding: constants.RSA_NO_PADDING }, m);
    const joseKey = await importJWK(publicOf(rs), 'RS256');
    const check = async (m: Buffer, expected: 'accepted' | 'bad_signature', what: string) => {
      const token = `${input}.${rawSign(m).toString('base64url')}`;
      assert.deepEqual(await codes(token), both(expected), what);
      const jose = await jwtVerify(token, joseKey, { currentDate: new Date(NOW * 1000) }).then(
        () => 'accepted',
        () => 'bad_signature',
      );
      assert.equal(jose, expected, `jose on ${what}`);
    };
    await check(em(), 'accepted', 'the correct encoding (the construction itself is right)');
    const shortInfo = Buffer.from('302f300b06096086480165030402010420', 'hex'); // no NULL parameters
    const sha512Info = Buffer.from('3051300d060960864801650304020305000440', 'hex');
    const cases: [string, Buffer][] = [
      ['block type 2 (encryption padding)', em({ bt: 2 })],
      ['block type 0', em({ bt: 0, psByte: 0 })],
      ['padding octets 0xfe', em({ psByte: 0xfe })],
      ['a non-zero separator', em({ sep: 1 })],
      ['DigestInfo without the NULL parameters', em({ info: shortInfo })],
      ['SHA-512 DigestInfo', em({ info: sha512Info, digest: createHash('sha512').update(input).digest() })],
      ['the bare hash, no DigestInfo', em({ info: Buffer.alloc(0) })],
      ['garbage after the hash (short padding, CVE-2006-4339)', em({ tail: Buffer.alloc(40, 0x41) })],
      ['the hash of another message', em({ digest: createHash('sha256').update(`${input}x`).digest() })],
    ];
    for (const [what, m] of cases) await check(m, 'bad_signature', what);
  });

  test('a payload changed after signing: bad_signature', async () => {
    const [h, , s] = issuerCodec.encode(CLAIMS).split('.');
    assert.deepEqual(await codes(`${h}.${b64({ ...CLAIMS, sub: 'mallory' })}.${s}`), both('bad_signature'));
  });

  test('crit and b64:false: unsupported; a non-string kid: malformed', async () => {
    assert.deepEqual(
      await codes(signWith(ed, { alg: 'EdDSA', typ: 'at+jwt', kid: ed.kid, crit: ['exp'], exp: 1 }, CLAIMS)),
      both('unsupported'),
    );
    assert.deepEqual(
      await codes(signWith(ed, { alg: 'EdDSA', typ: 'at+jwt', kid: ed.kid, b64: false }, CLAIMS)),
      both('unsupported'),
    );
    assert.deepEqual(await codes(signWith(ed, { alg: 'EdDSA', typ: 'at+jwt', kid: 7 }, CLAIMS)), both('malformed'));
  });

  test('a wrong typ (a JWT that is not an access token, e.g. an ID token): invalid_claims; application/at+jwt passes', async () => {
    for (const typ of ['JWT', 'id_token+jwt', undefined]) {
      const t = signWith(ed, { alg: 'EdDSA', ...(typ ? { typ } : {}), kid: ed.kid }, CLAIMS);
      assert.deepEqual(await codes(t), both('invalid_claims'), String(typ));
    }
    const ok = signWith(ed, { alg: 'EdDSA', typ: 'application/AT+JWT', kid: ed.kid }, CLAIMS);
    assert.deepEqual(await codes(ok), both('accepted'));
  });

  test('iss, aud, exp and nbf are checked', async () => {
    const t = (c: object) => signWith(ed, { alg: 'EdDSA', typ: 'at+jwt', kid: ed.kid }, { ...CLAIMS, ...c });
    assert.deepEqual(await codes(t({ iss: 'https://evil.example' })), both('invalid_claims'));
    assert.deepEqual(await codes(t({ aud: 'https://other-api.example' })), both('invalid_claims'));
    assert.deepEqual(await codes(t({ aud: ['x', AUD] })), both('accepted'));
    assert.deepEqual(await codes(t({ exp: NOW })), both('expired'));
    assert.deepEqual(await codes(t({ exp: undefined })), both('invalid_claims'));
    assert.deepEqual(await codes(t({ nbf: NOW + 60 })), both('not_yet_valid'));
  });
});
