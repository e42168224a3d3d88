import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  asciiPrefixOf,
  decodeBase64url,
  decodeBase64urlInto,
  decodeBase64urlPadded,
  decodeBase64urlText,
  decodeKeyMaterial,
  encodeBase64url,
  encodeBase64urlPadded,
  isBase64url,
} from '../../src/internal/base64url.js';
import { loadVectors } from '../vectors/load.js';

interface ValidVector {
  name: string;
  bytes_hex?: string;
  bytes_dec?: number[];
  base64url_nopad?: string;
  base64url_padded?: string;
  base64_padded?: string;
}
interface InvalidVector {
  input: string;
  why: string;
}
const vectors = loadVectors<{ valid: ValidVector[]; invalid_for_jws_base64url: InvalidVector[] }>('base64url_vectors.json');

function bytesOf(v: ValidVector): Buffer {
  if (v.bytes_hex !== undefined) return Buffer.from(v.bytes_hex, 'hex');
  if (v.bytes_dec !== undefined) return Buffer.from(v.bytes_dec);
  throw new Error(`vector ${v.name} has no bytes`);
}

/** The padded form of a vector: given, or (RFC 4648 §10 rows, where alphabets coincide) the standard padded one. */
function paddedOf(v: ValidVector): string | undefined {
  return v.base64url_padded ?? v.base64_padded;
}

describe('base64url vectors (RFC 4648 §10, RFC 7515 App. C and A.1, RFC 7518, fernet/spec)', () => {
  test('the file has the expected entries', () => {
    assert.equal(vectors.valid.length, 13);
    assert.equal(vectors.invalid_for_jws_base64url.length, 13);
  });

  for (const v of vectors.valid) {
    const bytes = bytesOf(v);
    if (v.base64url_nopad !== undefined) {
      const s = v.base64url_nopad;
      test(`unpadded round trip: ${v.name}`, () => {
        assert.equal(encodeBase64url(bytes), s);
        assert.ok(isBase64url(s));
        const decoded = decodeBase64url(s);
        assert.ok(decoded);
        assert.deepEqual([...decoded], [...bytes]);
      });
    }
    const padded = paddedOf(v);
    if (padded !== undefined) {
      test(`padded round trip: ${v.name}`, () => {
        assert.equal(encodeBase64urlPadded(bytes), padded);
        const decoded = decodeBase64urlPadded(padded);
        assert.ok(decoded);
        assert.deepEqual([...decoded], [...bytes]);
      });
    }
  }

  for (const v of vectors.invalid_for_jws_base64url) {
    test(`rejected by the JWS decoder: ${JSON.stringify(v.input)} (${v.why})`, () => {
      assert.equal(isBase64url(v.input), false);
      assert.equal(decodeBase64url(v.input), null);
    });
  }
});

describe('padded mode (Fernet)', () => {
  test('accepts exactly the padding the encoder produces', () => {
    assert.deepEqual([...(decodeBase64urlPadded('Zg==') ?? [])], [0x66]);
    assert.deepEqual([...(decodeBase64urlPadded('Zm8=') ?? [])], [0x66, 0x6f]);
    assert.deepEqual([...(decodeBase64urlPadded('Zm9v') ?? [])], [0x66, 0x6f, 0x6f]);
    assert.deepEqual([...(decodeBase64urlPadded('') ?? [0])], []);
  });

  for (const [input, why] of [
    ['Zg', 'missing padding'],
    ['Zg=', 'too little padding'],
    ['Zg===', 'too much padding'],
    ['Zm8==', 'padding where none is due (length 3 + 2)'],
    ['Zm9v====', 'a whole block of padding'],
    ['Z=g=', 'padding in the middle'],
    ['Zh==', 'non-canonical trailing bits'],
    ['Zm9=', 'non-canonical trailing bits with padding'],
    ['Zm8+', "standard alphabet '+'"],
    ['Zm8/', "standard alphabet '/'"],
    ['Zm 9v', 'whitespace'],
    ['Zm9v\n', 'trailing newline'],
    ['%%%%', 'non-alphabet characters'],
    ['A===', 'length 1 mod 4 plus padding'],
  ] as const) {
    test(`padded decoder rejects ${JSON.stringify(input)} (${why})`, () => {
      assert.equal(decodeBase64urlPadded(input), null);
    });
  }

  test('the JWS decoder refuses what the Fernet decoder accepts (and the reverse)', () => {
    assert.equal(decodeBase64url('Zg=='), null);
    assert.ok(decodeBase64urlPadded('Zg=='));
    assert.ok(decodeBase64url('Zg'));
    assert.equal(decodeBase64urlPadded('Zg'), null);
  });

  test('round trip of every length 0..64', () => {
    for (let n = 0; n <= 64; n++) {
      const bytes = Buffer.from(Array.from({ length: n }, (_, i) => (i * 37 + n) & 0xff));
      assert.deepEqual(decodeBase64urlPadded(encodeBase64urlPadded(bytes)), bytes);
      assert.deepEqual(decodeBase64url(encodeBase64url(bytes)), bytes);
      assert.equal(encodeBase64urlPadded(bytes).length % 4, 0);
    }
  });

  test('encoders honour a view into a larger buffer', () => {
    const big = Buffer.from('xxfooyy');
    const view = big.subarray(2, 5);
    assert.equal(encodeBase64url(view), 'Zm9v');
    assert.equal(encodeBase64urlPadded(big.subarray(2, 3)), 'Zg==');
  });
});

describe('key material (padded or not, never another alphabet)', () => {
  test('accepts both forms of the fernet/spec key', () => {
    const padded = 'cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4=';
    const a = decodeKeyMaterial(padded);
    const b = decodeKeyMaterial(padded.slice(0, -1));
    assert.equal(a?.toString('hex'), '730ff4c7af3d46923e8ed451ee813c87f790b0a226bc96a92de49b5e9c05e1ee');
    assert.deepEqual(a, b);
    assert.deepEqual(decodeKeyMaterial(`  ${padded}\n`), a);
  });
  test('refuses standard base64', () => {
    assert.equal(decodeKeyMaterial('cw/0x689RpI+jtRR7oE8h/eQsKImvJapLeSbXpwF4e4='), null);
  });
});

describe('decodeBase64url and isBase64url agree', () => {
  test('on random strings over the alphabet, the standard one, padding, whitespace and non-ASCII', () => {
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_+/= \n.é\u0000';
    fc.assert(
      fc.property(
        fc.string({ unit: fc.constantFrom(...alphabet), maxLength: 40 }),
        (s) => (decodeBase64url(s) !== null) === isBase64url(s),
      ),
      { numRuns: 20_000 },
    );
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 64 }),
        (b) => decodeBase64url(Buffer.from(b).toString('base64url'))?.equals(b) === true,
      ),
    );
  });
});

describe('decodeBase64urlInto and decodeBase64urlText (the JavaScript decoder of the asymmetric JWS path) agree with decodeBase64url', () => {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_+/= \n.é\u0000\u0101';
  const into = (s: string, start = 0, end = s.length): Buffer | null => {
    const out = Buffer.alloc(64);
    const n = decodeBase64urlInto(s, start, end, out);
    return n < 0 ? null : out.subarray(0, n);
  };

  test('the vectors: valid ones decode to their bytes, invalid ones are refused', () => {
    for (const v of vectors.valid) {
      if (v.base64url_nopad !== undefined) assert.deepEqual([...(into(v.base64url_nopad) ?? [-1])], [...bytesOf(v)], v.name);
    }
    for (const v of vectors.invalid_for_jws_base64url) assert.equal(into(v.input), null, v.why);
  });

  test('on random strings (alphabet, other symbols, padding, non-ASCII), inside a larger string too', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom(...alphabet), maxLength: 40 }), (s) => {
        const expected = decodeBase64url(s);
        const got = into(`x.${s}.y`, 2, 2 + s.length);
        return expected === null ? got === null : got?.equals(expected) === true;
      }),
      { numRuns: 20_000 },
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 48 }), (b) => into(Buffer.from(b).toString('base64url'))?.equals(b) === true),
    );
  });

  test('asciiPrefixOf: the characters of the string last read, only while it is that string and all ASCII', () => {
    const token = `eyJhbGciOiJSUzI1NiJ9.e30.${'A'.repeat(342)}`;
    const d2 = token.lastIndexOf('.');
    assert.equal(decodeBase64urlInto(token, d2 + 1, token.length, Buffer.alloc(256)), 256);
    assert.deepEqual(asciiPrefixOf(token, d2), Buffer.from(token.slice(0, d2), 'latin1'));
    assert.equal(asciiPrefixOf(token, token.length + 1), undefined);
    // Another string, then a non-ASCII one (its characters were not kept).
    assert.equal(asciiPrefixOf(`${token} `, d2), undefined);
    const wide = `é.${'A'.repeat(4)}`;
    assert.equal(decodeBase64urlInto(wide, 2, wide.length, Buffer.alloc(3)), 3);
    assert.equal(asciiPrefixOf(wide, 1), undefined);
    assert.equal(asciiPrefixOf(token, d2), undefined);
    // A longer string than the scratch held: the scratch grows and the prefix still matches.
    const long = `${'x'.repeat(20_000)}.AAAA`;
    assert.equal(decodeBase64urlInto(long, 20_001, long.length, Buffer.alloc(3)), 3);
    assert.deepEqual(asciiPrefixOf(long, 20_000), Buffer.from('x'.repeat(20_000), 'latin1'));
  });

  test('refuses output that does not fit', () => {
    assert.equal(decodeBase64urlInto('AAAA', 0, 4, Buffer.alloc(2)), -1);
    assert.equal(decodeBase64urlInto('AAAA', 0, 4, Buffer.alloc(3)), 3);
  });

  test('text: ASCII and UTF-8 decode; invalid UTF-8 (a lone continuation byte, an overlong form) is null, a BOM is kept', () => {
    const t = (b: Buffer | string) => {
      const s = Buffer.from(b).toString('base64url');
      return decodeBase64urlText(`.${s}.`, 1, 1 + s.length);
    };
    assert.equal(t('{"sub":"alice"}'), '{"sub":"alice"}');
    assert.equal(t('{"sub":"zoë ✓ 🎉"}'), '{"sub":"zoë ✓ 🎉"}');
    assert.equal(t(Buffer.from([0x7b, 0x80, 0x7d])), null);
    assert.equal(t(Buffer.from([0xc0, 0xaf])), null);
    assert.equal(t(Buffer.from([0xef, 0xbb, 0xbf, 0x7b, 0x7d])), '\ufeff{}');
    assert.equal(decodeBase64urlText('e30=', 0, 4), null);
    // A long payload (beyond the initial scratch) still decodes.
    const long = `{"x":"${'a'.repeat(10_000)}"}`;
    assert.equal(t(long), long);
  });
});
