/**
 * Property tests (fast-check) for every self-contained format:
 * - any single-character substitution, deletion or insertion in a valid token is
 *   refused with a TokenError (never accepted, never another exception);
 * - encode/decode round-trips arbitrary JSON claims.
 * Runs are CI-sized; FC_RUNS scales them.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { TokenError } from '../../src/errors.js';
import type { Claims } from '../../src/tokens/claims.js';
import { createCodec, SELF_CONTAINED_FORMATS } from '../../src/tokens/codec.js';

const RUNS = Number(process.env.FC_RUNS ?? 500);
const SECRET = Buffer.alloc(32, 0x5c);
const NOW = 1_750_000_000;
const clock = () => NOW * 1000;

const REGISTERED = new Set(['exp', 'nbf', 'iat', 'sub', 'type', 'iss', 'aud', 'jti', '__proto__']);
const extraClaims = fc
  .dictionary(
    fc.string({ maxLength: 12 }).filter((k) => !REGISTERED.has(k)),
    fc.jsonValue({ maxDepth: 3 }),
    { maxKeys: 6 },
  )
  .map((o) => JSON.parse(JSON.stringify(o)) as Record<string, unknown>);
const claimsArb = fc.record({
  sub: fc.string({ maxLength: 40, unit: 'binary' }),
  type: fc.constantFrom('access', 'refresh'),
  extra: extraClaims,
});

/** Characters to substitute or insert: the token alphabets, separators, padding and a few hostile ones. */
const mutationChar = fc.oneof(
  fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'),
  fc.constantFrom('.', '=', '+', '/', ' ', '\n', '\t', '%', '?', '#', '\u0000', 'é', '\uFEFF'),
  fc.string({ minLength: 1, maxLength: 1, unit: 'binary' }),
);

type Mutation = { kind: 'replace' | 'delete' | 'insert'; at: number; ch: string };
const mutationArb = fc.record({
  kind: fc.constantFrom('replace', 'delete', 'insert') as fc.Arbitrary<Mutation['kind']>,
  at: fc.nat(),
  ch: mutationChar,
});

function mutate(token: string, m: Mutation): string {
  const i = m.at % (token.length + (m.kind === 'insert' ? 1 : 0));
  if (m.kind === 'delete') return token.slice(0, i) + token.slice(i + 1);
  if (m.kind === 'insert') return token.slice(0, i) + m.ch + token.slice(i);
  return token.slice(0, i) + m.ch + token.slice(i + 1);
}

for (const format of SELF_CONTAINED_FORMATS) {
  describe(`${format} properties`, () => {
    const codec = createCodec({ format, secret: SECRET, clock });

    test('any single-character change of a valid token is refused with a TokenError', () => {
      let counted = 0;
      fc.assert(
        fc.property(claimsArb, fc.array(mutationArb, { minLength: 4, maxLength: 4 }), (c, mutations) => {
          const token = codec.encode({ ...c.extra, sub: c.sub, type: c.type });
          assert.equal(codec.decode(token, { now: NOW * 1000 }).sub, c.sub); // the original is valid
          for (const m of mutations) {
            const changed = mutate(token, m);
            if (changed === token) continue; // replaced a character by itself
            counted++;
            try {
              codec.decode(changed, { now: NOW * 1000 });
            } catch (e) {
              if (e instanceof TokenError) continue;
              throw new Error(`non-TokenError for ${m.kind} at ${m.at}: ${(e as Error).name}: ${(e as Error).message}`);
            }
            assert.fail(`${m.kind} of ${JSON.stringify(m.ch)} at ${m.at % token.length} was accepted`);
          }
        }),
        { numRuns: RUNS },
      );
      assert.ok(counted > RUNS * 3, 'mutations were actually tried');
    });

    test('every single-bit flip of every character position of one token is refused', () => {
      const token = codec.encode({ sub: 'alice', type: 'access', scope: 'read' });
      for (let i = 0; i < token.length; i++) {
        for (let bit = 0; bit < 7; bit++) {
          const ch = String.fromCharCode(token.charCodeAt(i) ^ (1 << bit));
          const changed = token.slice(0, i) + ch + token.slice(i + 1);
          assert.throws(() => codec.decode(changed, { now: NOW * 1000 }), TokenError, `position ${i} bit ${bit}`);
        }
      }
    });

    test('large and non-ASCII claims round-trip (buffers reused between tokens grow as needed)', () => {
      const roomy = createCodec({ format, secret: SECRET, clock, maxTokenLength: 100_000 });
      for (const size of [0, 10, 700, 2000, 5000, 20_000, 10, 0]) {
        const blob = 'é€😀a'.repeat(size / 4);
        const token = roomy.encode({ sub: 'alice', blob });
        assert.equal(roomy.decode(token, { now: NOW * 1000 }).blob, blob);
      }
    });

    test('encode/decode round-trips arbitrary JSON claims', () => {
      fc.assert(
        fc.property(claimsArb, fc.option(fc.integer({ min: 1, max: 10 ** 6 }), { nil: undefined }), (c, ttl) => {
          const input: Claims = { ...c.extra, sub: c.sub, type: c.type };
          if (ttl !== undefined) input.exp = NOW + ttl;
          const token = codec.encode(input);
          const out = codec.decode(token, { now: NOW * 1000, type: c.type });
          const expected = { ...input, iat: NOW, exp: input.exp ?? NOW + 900, jti: out.jti };
          assert.equal(typeof out.jti, 'string');
          assert.deepEqual(out, JSON.parse(JSON.stringify(expected)));
        }),
        { numRuns: RUNS },
      );
    });
  });
}
