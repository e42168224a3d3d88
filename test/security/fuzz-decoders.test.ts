/**
 * Fuzzing the decoders: random and mutated inputs must only ever
 * produce a TokenError, and nothing that was not issued is ever accepted.
 * `FUZZ_RUNS` sets the cases per format and generator (default: CI-sized, about
 * 100k cases per format in total); `npm run fuzz` runs millions.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { TokenError } from '../../src/errors.js';
import { createCodec, type SelfContainedFormat } from '../../src/tokens/codec.js';
import { parseOpaqueToken } from '../../src/tokens/opaque.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 50_000);
const SECRET = Buffer.alloc(32, 7);
const NOW = 1_800_000_000;
const clock = () => NOW * 1000;

/** Characters that appear in tokens, plus the ones attackers like. */
const tokenChar = fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ \n%?#\u0000é');

function mustOnlyRefuse(decode: () => unknown, issued: ReadonlySet<string>, token: string): void {
  try {
    decode();
  } catch (e) {
    if (e instanceof TokenError) return;
    throw new Error(`decoder threw a non-TokenError (${(e as Error)?.name}: ${(e as Error)?.message})`);
  }
  assert.ok(issued.has(token), 'a token that was never issued was accepted');
}

for (const format of ['jwt', 'sealed', 'fernet'] as const satisfies readonly SelfContainedFormat[]) {
  describe(`fuzz ${format} decoder`, () => {
    const codec = createCodec({ format, secret: SECRET, clock });
    const samples = Array.from({ length: 8 }, (_, i) =>
      codec.encode({ sub: `user-${i}`, type: i % 2 ? 'access' : 'refresh', exp: NOW + 900, scope: 'read'.repeat(i) }),
    );
    const issued = new Set(samples);

    test('random strings are refused with a TokenError', () => {
      fc.assert(
        fc.property(
          fc.oneof(
            fc.string({ unit: tokenChar, maxLength: 400 }),
            fc.string({ maxLength: 200 }),
            fc.string({ unit: 'binary', maxLength: 200 }),
          ),
          (s) => mustOnlyRefuse(() => codec.decode(s), issued, s),
        ),
        { numRuns: RUNS },
      );
    });

    test('mutated issued tokens are refused with a TokenError', () => {
      const mutation = fc.record({
        sample: fc.nat({ max: samples.length - 1 }),
        edits: fc.array(
          fc.record({
            kind: fc.constantFrom('replace', 'insert', 'delete', 'truncate', 'swap-segments', 'duplicate'),
            at: fc.nat(),
            ch: tokenChar,
          }),
          { minLength: 1, maxLength: 4 },
        ),
      });
      fc.assert(
        fc.property(mutation, ({ sample, edits }) => {
          let t = samples[sample] as string;
          for (const e of edits) {
            const i = t.length === 0 ? 0 : e.at % t.length;
            if (e.kind === 'replace') t = t.slice(0, i) + e.ch + t.slice(i + 1);
            else if (e.kind === 'insert') t = t.slice(0, i) + e.ch + t.slice(i);
            else if (e.kind === 'delete') t = t.slice(0, i) + t.slice(i + 1);
            else if (e.kind === 'truncate') t = t.slice(0, i);
            else if (e.kind === 'swap-segments') t = t.split('.').reverse().join('.');
            else t = t + t.slice(i);
          }
          mustOnlyRefuse(() => codec.decode(t), issued, t);
          mustOnlyRefuse(() => codec.decode(t, { type: 'access' }), issued, t);
        }),
        { numRuns: RUNS },
      );
    });
  });
}

describe('fuzz opaque token parser', () => {
  test('random strings never throw anything but TokenError', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: tokenChar, maxLength: 80 }), fc.string({ unit: 'binary', maxLength: 80 })), (s) => {
        try {
          parseOpaqueToken(s);
        } catch (e) {
          assert.ok(e instanceof TokenError, 'only TokenError');
        }
      }),
      { numRuns: RUNS },
    );
  });
});
