/**
 * TESSERA_ACCESS_ALG and TESSERA_SIGNING_KEY_FILE: parsing, refusals (one line each),
 * the development key set (0600 in a 0700 directory), production refusal, the
 * `tessera keygen --alg` output, and a started server serving its JWKS.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { ConfigError } from '../../src/errors.js';
import { generateSecret } from '../../src/keys.js';
import { parseConfig, resolveSecret, resolveSigningKeys, SETTINGS } from '../../src/server/config.js';
import { startServer } from '../../src/server/server.js';
import { generateSigningJwk, jwkThumbprint } from '../../src/tokens/jwk.js';
import { runMain } from '../support/main-io.js';

const secret = generateSecret();
const dirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'tessera-signing-'));
  dirs.push(d);
  return d;
}
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function refused(env: NodeJS.ProcessEnv, message: RegExp): void {
  assert.throws(
    () => parseConfig(env),
    (e: unknown) => {
      assert.ok(e instanceof ConfigError, String(e));
      assert.match(e.message, message);
      assert.ok(!e.message.includes('\n'), 'one line');
      return true;
    },
  );
}

function keyFile(keys: object[]): string {
  const path = join(tmp(), 'keys.json');
  writeFileSync(path, JSON.stringify({ keys }), { mode: 0o600 });
  return path;
}

const keygen = (args: string[]) => runMain(['keygen', ...args]);

describe('tessera keygen --alg', () => {
  for (const alg of ['EdDSA', 'ES256', 'RS256'] as const) {
    test(`--alg ${alg}: a JWK Set with one private key, kid = its RFC 7638 thumbprint, alg, use sig`, async () => {
      const r = await keygen(['--alg', alg]);
      assert.equal(r.code, 0);
      const set = JSON.parse(r.out) as { keys: Record<string, string>[] };
      assert.equal(set.keys.length, 1);
      const k = set.keys[0] as Record<string, string>;
      assert.equal(k.alg, alg);
      assert.equal(k.use, 'sig');
      assert.equal(typeof k.d, 'string');
      assert.equal(k.kid, jwkThumbprint(k as never));
      assert.deepEqual(
        Object.keys(k).sort(),
        (alg === 'EdDSA'
          ? ['alg', 'crv', 'd', 'kid', 'kty', 'use', 'x']
          : alg === 'ES256'
            ? ['alg', 'crv', 'd', 'kid', 'kty', 'use', 'x', 'y']
            : ['alg', 'd', 'dp', 'dq', 'e', 'kid', 'kty', 'n', 'p', 'q', 'qi', 'use']
        ).sort(),
      );
      if (alg === 'RS256') {
        // RFC 7518 §3.3: 2048 bits (a 256-octet modulus with its top bit set); e = 65537.
        const n = Buffer.from(k.n as string, 'base64url');
        assert.equal(n.length, 256);
        assert.ok((n[0] as number) >= 0x80);
        assert.equal(k.e, 'AQAB');
      }
    });
  }
  test('plain keygen is unchanged; a bad --alg is a usage error', async () => {
    const r = await keygen([]);
    assert.equal(r.code, 0);
    assert.equal(Buffer.from(r.out.trim(), 'base64url').length, 32);
    assert.equal((await keygen(['--alg', 'RS384'])).code, 2);
    assert.equal((await keygen(['--alg', 'PS256'])).code, 2);
    assert.equal((await keygen(['--alg', 'HS256'])).code, 2);
    assert.equal((await keygen(['--bogus'])).code, 2);
  });
  test('RFC 7638 §3.1: the thumbprint of the RSA key of its example', () => {
    const n =
      '0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw';
    assert.equal(jwkThumbprint({ kty: 'RSA', n, e: 'AQAB' }), 'NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs');
  });
  test('RFC 8037 Appendix A.3: the RFC 7638 thumbprint of the Ed25519 key of A.2', () => {
    // RFC 8037 Appendix A.3: the thumbprint of the Ed25519 key of A.2.
    assert.equal(
      jwkThumbprint({ kty: 'OKP', crv: 'Ed25519', x: '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo' }),
      'kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k',
    );
  });
});

describe('TESSERA_ACCESS_ALG / TESSERA_SIGNING_KEY_FILE', () => {
  test('listed in --help settings, after the existing ones', () => {
    const names = Object.keys(SETTINGS);
    assert.ok(names.indexOf('accessAlg') > names.indexOf('noDemo'));
    assert.equal(SETTINGS.accessAlg.env, 'TESSERA_ACCESS_ALG');
    assert.equal(SETTINGS.signingKeyFile.env, 'TESSERA_SIGNING_KEY_FILE');
  });

  test('HS256 by default, no signing keys', () => {
    const c = parseConfig({ TESSERA_SECRET: secret });
    assert.equal(c.accessAlg, 'HS256');
    assert.equal(c.signingKeys, undefined);
  });

  test('a key file: the first key signs, all are published', () => {
    const a = generateSigningJwk('ES256');
    const b = generateSigningJwk('EdDSA');
    const c = parseConfig({ TESSERA_SECRET: secret, TESSERA_ACCESS_ALG: 'ES256', TESSERA_SIGNING_KEY_FILE: keyFile([a, b]) });
    assert.equal(c.signingKeys?.signer.kid, a.kid);
    assert.deepEqual(
      c.signingKeys?.publicJwks().keys.map((k) => k.kid),
      [a.kid, b.kid],
    );
  });

  test('refusals, one line each', () => {
    const ed = generateSigningJwk('EdDSA');
    refused({ TESSERA_ACCESS_ALG: 'RS384', TESSERA_SECRET: secret }, /TESSERA_ACCESS_ALG must be HS256, EdDSA, ES256 or RS256/);
    refused({ TESSERA_ACCESS_ALG: 'none', TESSERA_SECRET: secret }, /TESSERA_ACCESS_ALG/);
    refused(
      { TESSERA_SIGNING_KEY_FILE: keyFile([ed]), TESSERA_SECRET: secret },
      /TESSERA_SIGNING_KEY_FILE is set but TESSERA_ACCESS_ALG is HS256/,
    );
    refused(
      { TESSERA_ACCESS_ALG: 'ES256', TESSERA_SIGNING_KEY_FILE: keyFile([ed]), TESSERA_SECRET: secret },
      /EdDSA key but TESSERA_ACCESS_ALG is ES256/,
    );
    refused({ TESSERA_ACCESS_ALG: 'EdDSA', TESSERA_SCHEME: 'opaque', TESSERA_SECRET: secret }, /signs jwt access tokens/);
    refused(
      { TESSERA_ACCESS_ALG: 'EdDSA', TESSERA_SIGNING_KEY_FILE: '/nonexistent/keys.json', TESSERA_SECRET: secret },
      /cannot read/,
    );
    const { d: _d, ...pub } = ed;
    refused({ TESSERA_ACCESS_ALG: 'EdDSA', TESSERA_SIGNING_KEY_FILE: keyFile([pub]), TESSERA_SECRET: secret }, /no private part/);
    const other = generateSigningJwk('EdDSA');
    refused(
      { TESSERA_ACCESS_ALG: 'EdDSA', TESSERA_SIGNING_KEY_FILE: keyFile([{ ...ed, x: other.x }]), TESSERA_SECRET: secret },
      /does not match d/,
    );
    refused(
      { TESSERA_ACCESS_ALG: 'EdDSA', TESSERA_SIGNING_KEY_FILE: keyFile([ed, ed]), TESSERA_SECRET: secret },
      /appears twice/,
    );
    refused(
      { TESSERA_ACCESS_ALG: 'EdDSA', TESSERA_SIGNING_KEY_FILE: keyFile([{ ...ed, alg: 'ES256' }]), TESSERA_SECRET: secret },
      /says alg "ES256"/,
    );
  });

  test('RS256: a key file signs and publishes n, e; RSA keys under 2048 bits, without CRT members, with a foreign n or multi-prime are refused', async () => {
    const rsa = generateSigningJwk('RS256');
    const c = parseConfig({ TESSERA_SECRET: secret, TESSERA_ACCESS_ALG: 'RS256', TESSERA_SIGNING_KEY_FILE: keyFile([rsa]) });
    assert.equal(c.accessAlg, 'RS256');
    assert.deepEqual(c.signingKeys?.publicJwks().keys, [
      { kty: 'RSA', n: rsa.n, e: rsa.e, kid: rsa.kid, alg: 'RS256', use: 'sig' },
    ]);
    const env = (keys: object[]) => ({
      TESSERA_ACCESS_ALG: 'RS256',
      TESSERA_SIGNING_KEY_FILE: keyFile(keys),
      TESSERA_SECRET: secret,
    });
    const small = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ format: 'jwk' });
    refused(env([small]), /not a valid RS256 key .*fewer than 2048 bits/);
    const almost = generateKeyPairSync('rsa', { modulusLength: 2040 }).privateKey.export({ format: 'jwk' });
    refused(env([almost]), /not a valid RS256 key/);
    const { p: _p, ...noP } = rsa;
    refused(env([noP]), /lacks the RSA private members p/);
    refused(env([{ ...rsa, n: generateSigningJwk('RS256').n }]), /not a valid RS256 key/);
    refused(env([{ ...rsa, d: generateSigningJwk('RS256').d }]), /not a valid RS256 key/);
    refused(env([{ ...rsa, oth: [] }]), /other primes/);
    refused(env([{ ...rsa, alg: 'RS384' }]), /says alg "RS384", but an RSA key is RS256/);
    refused(env([{ ...rsa, crv: 'P-256' }]), /unsupported key type/);
    // n with a leading zero octet, or padded: not the minimal, canonical encoding (RFC 7518 §6.3.1.1).
    const n = Buffer.from(rsa.n as string, 'base64url');
    refused(env([{ ...rsa, n: Buffer.concat([Buffer.from([0]), n]).toString('base64url') }]), /not a valid RS256 key/);
    refused(env([{ ...rsa, n: `${rsa.n}=` }]), /not a valid RS256 key/);
    refused(
      { TESSERA_ACCESS_ALG: 'RS256', TESSERA_SIGNING_KEY_FILE: keyFile([generateSigningJwk('ES256')]), TESSERA_SECRET: secret },
      /ES256 key but TESSERA_ACCESS_ALG is RS256/,
    );
    refused({ NODE_ENV: 'production', TESSERA_ACCESS_ALG: 'RS256', TESSERA_SECRET: secret }, /tessera keygen --alg RS256/);
  });

  test('production refuses to start without a key file, in one line', () => {
    refused(
      { NODE_ENV: 'production', TESSERA_ACCESS_ALG: 'EdDSA', TESSERA_SECRET: secret },
      /TESSERA_SIGNING_KEY_FILE.*tessera keygen --alg EdDSA/,
    );
  });

  test('development: generated once in the data directory (0600 in 0700), then reused', () => {
    const dir = join(tmp(), 'data');
    const c = parseConfig({ TESSERA_ACCESS_ALG: 'ES256', TESSERA_DATA_DIR: dir });
    resolveSecret(c);
    const warnings = resolveSigningKeys(c);
    assert.match(warnings.join('\n'), /DEVELOPMENT MODE.*generated the ES256 signing keys/);
    const path = join(dir, 'signing-keys-ES256.json');
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    const kid = c.signingKeys?.signer.kid;
    const again = parseConfig({ TESSERA_ACCESS_ALG: 'ES256', TESSERA_DATA_DIR: dir });
    resolveSecret(again);
    assert.match(resolveSigningKeys(again).join('\n'), /using the ES256 signing keys/);
    assert.equal(again.signingKeys?.signer.kid, kid);
    assert.equal(JSON.parse(readFileSync(path, 'utf8')).keys[0].kid, kid);
  });

  test('a started server signs EdDSA access tokens and serves the JWKS', async () => {
    const ed = generateSigningJwk('EdDSA');
    const c = parseConfig({
      TESSERA_SECRET: secret,
      TESSERA_ACCESS_ALG: 'EdDSA',
      TESSERA_SIGNING_KEY_FILE: keyFile([ed]),
      TESSERA_STORE: 'memory',
      PORT: '0',
      TESSERA_NO_DEMO: '1',
      TESSERA_NO_DOCS: '1',
    });
    const notes: string[] = [];
    const server = await startServer(c, { note: (l) => notes.push(l) });
    try {
      assert.match(notes.join('\n'), /access jwt EdDSA \(kid /);
      const res = await fetch(`${server.url}/.well-known/jwks.json`);
      assert.equal(res.status, 200);
      assert.deepEqual(await res.json(), {
        keys: [{ kty: 'OKP', crv: 'Ed25519', x: ed.x, kid: ed.kid, alg: 'EdDSA', use: 'sig' }],
      });
      const pair = await server.tokens.issue({ sub: 'alice' });
      const header = JSON.parse(Buffer.from(pair.accessToken.split('.')[0] as string, 'base64url').toString());
      assert.deepEqual(header, { alg: 'EdDSA', typ: 'at+jwt', kid: ed.kid });
      const me = await fetch(`${server.url}/me`, { headers: { authorization: `Bearer ${pair.accessToken}` } });
      assert.equal(me.status, 200);
    } finally {
      await server.close();
    }
  });

  test('a started server signs RS256 access tokens and serves n and e in its JWKS (no private member)', async () => {
    const rsa = generateSigningJwk('RS256');
    const c = parseConfig({
      TESSERA_SECRET: secret,
      TESSERA_ACCESS_ALG: 'RS256',
      TESSERA_SIGNING_KEY_FILE: keyFile([rsa]),
      TESSERA_STORE: 'memory',
      PORT: '0',
      TESSERA_NO_DEMO: '1',
      TESSERA_NO_DOCS: '1',
    });
    const server = await startServer(c, { note: () => {} });
    try {
      const res = await fetch(`${server.url}/.well-known/jwks.json`);
      assert.equal(res.status, 200);
      assert.deepEqual(await res.json(), {
        keys: [{ kty: 'RSA', n: rsa.n, e: rsa.e, kid: rsa.kid, alg: 'RS256', use: 'sig' }],
      });
      const pair = await server.tokens.issue({ sub: 'alice' });
      const header = JSON.parse(Buffer.from(pair.accessToken.split('.')[0] as string, 'base64url').toString());
      assert.deepEqual(header, { alg: 'RS256', typ: 'at+jwt', kid: rsa.kid });
      assert.equal(Buffer.from(pair.accessToken.split('.')[2] as string, 'base64url').length, 256);
      const me = await fetch(`${server.url}/me`, { headers: { authorization: `Bearer ${pair.accessToken}` } });
      assert.equal(me.status, 200);
    } finally {
      await server.close();
    }
  });

  test('an HS256 server serves no JWKS (its key must never be published)', async () => {
    const c = parseConfig({
      TESSERA_SECRET: secret,
      TESSERA_STORE: 'memory',
      PORT: '0',
      TESSERA_NO_DEMO: '1',
      TESSERA_NO_DOCS: '1',
    });
    const server = await startServer(c, { note: () => {} });
    try {
      assert.equal((await fetch(`${server.url}/.well-known/jwks.json`)).status, 404);
    } finally {
      await server.close();
    }
  });
});
