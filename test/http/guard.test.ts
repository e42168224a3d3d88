/**
 * The guard's fast path (src/http/core/guard.ts): with a token service of ours it finds the
 * credential without checking its b64token syntax and checks the syntax only when the token is
 * refused (every format decodes strictly). Its answers must be exactly those of the plain path
 * (parseBearer first, then authenticate), which an authenticator without `authenticateNow` gets:
 * the same principal or the same refusal (status, error, reason) for any Authorization header.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { HttpError } from '../../src/http/core/errors.js';
import { createGuard, type Guard } from '../../src/http/core/guard.js';
import { generateSecret } from '../../src/keys.js';
import { createTokenService } from '../../src/refresh/service.js';
import type { TokenFormat } from '../../src/refresh/types.js';
import { openStore } from '../../src/stores/open.js';

const RUNS = Number(process.env.FC_RUNS ?? 200);
const FORMATS: TokenFormat[] = ['jwt', 'sealed', 'fernet', 'opaque'];

/** What a guard answers for a header: `ok <sub>` or `<status> <error> <reason>`. */
async function outcome(guard: Guard, header: string | undefined): Promise<string> {
  const show = (e: unknown): string => {
    const refusal = e instanceof HttpError ? e : guard.refusal(e);
    if (!refusal) throw e;
    return `${refusal.statusCode} ${refusal.error} ${refusal.reason ?? '-'}`;
  };
  let pending: ReturnType<Guard['start']>;
  try {
    pending = guard.start(header);
  } catch (e) {
    return `threw ${String(e)}`;
  }
  if (pending instanceof HttpError) return show(pending);
  try {
    return `ok ${(await pending).sub}`;
  } catch (e) {
    return show(e);
  }
}

const SCHEMES = ['Bearer ', 'bearer ', 'BEARER ', 'BeArEr   ', 'Bearer', 'Bearer\t', 'Basic ', '', ' Bearer ', 'Bearerx '];
// Mostly b64token characters, and each kind of character that breaks the syntax.
const CHARS = fc.oneof(
  { arbitrary: fc.constantFrom(...'ABCxyz019-._~+/'), weight: 6 },
  { arbitrary: fc.constantFrom('=', ' ', '\t', ',', '"', 'ö', '€', '\u0100', '\\'), weight: 2 },
);

for (const format of FORMATS) {
  describe(`guard fast path, ${format} access tokens`, async () => {
    const store = await openStore('memory');
    const service = createTokenService({
      secret: generateSecret(),
      store,
      access: { format },
      refresh: { format: format === 'fernet' ? 'sealed' : format },
    });
    const fast = createGuard({ tokens: service });
    // The plain path: the same service behind an authenticator that cannot answer synchronously.
    const plain = createGuard({ tokens: { authenticate: (t: string) => service.authenticate(t) } as never });
    const pair = await service.issue({ sub: 'alice', scope: 'api' });
    const token = pair.accessToken;

    test('a valid token: the principal, without a promise', async () => {
      const p = fast.start(`Bearer ${token}`);
      if (format === 'opaque') assert.ok(p instanceof Promise, 'opaque tokens are looked up');
      else assert.ok(!(p instanceof Promise) && !(p instanceof HttpError), 'answered synchronously');
      assert.equal(await outcome(fast, `Bearer ${token}`), 'ok alice');
      assert.equal(await outcome(fast, `bearer    ${token}   `), 'ok alice');
    });

    test('the refresh token, a malformed credential, garbage: the refusals of the plain path', async () => {
      const cases: (string | undefined)[] = [
        undefined,
        '',
        'Bearer',
        'Bearer ',
        'Bearer  ',
        `Bearer ${pair.refreshToken}`,
        `Bearer ${token} x`,
        `Bearer ${token},`,
        `Bearer ${token.slice(0, 20)} ${token.slice(20)}`,
        `Bearer ${token}ö`,
        `Bearer ${token.slice(0, -1)}=`,
        `Bearer ${token}==`,
        `Bearer\t${token}`,
        `Basic ${token}`,
        'Bearer a=b',
      ];
      for (const h of cases) assert.equal(await outcome(fast, h), await outcome(plain, h), JSON.stringify(h));
      assert.equal(await outcome(fast, `Bearer ${token} x`), '400 invalid_request -');
      assert.match(await outcome(fast, `Bearer ${pair.refreshToken}`), /^401 invalid_token /);
    });

    test('any header: the same answer as the plain path (model)', async () => {
      const header = fc.oneof(
        fc.tuple(fc.constantFrom(...SCHEMES), fc.array(CHARS, { maxLength: 40 })).map(([s, cs]) => s + cs.join('')),
        // The genuine token with one character inserted or replaced, or spaces around it.
        fc
          .tuple(fc.constantFrom(...SCHEMES), fc.nat(), CHARS, fc.boolean(), fc.constantFrom('', ' ', '  '))
          .map(([s, at, ch, replace, pad]) => {
            const i = at % (token.length + 1);
            return `${s}${token.slice(0, i)}${ch}${token.slice(replace ? i + 1 : i)}${pad}`;
          }),
        fc.constantFrom(...SCHEMES).map((s) => `${s}${token}`),
      );
      await fc.assert(
        fc.asyncProperty(header, async (h) => {
          assert.equal(await outcome(fast, h), await outcome(plain, h), JSON.stringify(h));
        }),
        { numRuns: RUNS },
      );
    });
  });
}
