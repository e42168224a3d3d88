/**
 * A child process for the cross-process tests (spawned with `node --import tsx`).
 * Input: one JSON object as argv[2]. Output: one JSON line on stdout.
 *
 *   {"mode":"race", store, keyPrefix?, scheme, token, count}
 *       prints {"ready":true}, waits for a line on stdin, fires `count` concurrent
 *       refreshes of `token`, prints {"ok":n,"codes":{code:n}}.
 *   {"mode":"restart", store, checks:[{op:"refresh"|"authenticate", token}]}
 *       reopens the store and prints the outcome code of each check.
 */
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { TokenError } from '../../../src/errors.js';
import { createTokenService } from '../../../src/refresh/service.js';
import type { Scheme } from '../../../src/refresh/types.js';
import { openStore } from '../../../src/stores/open.js';

interface Input {
  mode: 'race' | 'restart';
  store: string;
  secret: string;
  keyPrefix?: string;
  scheme?: Scheme;
  token?: string;
  count?: number;
  checks?: { op: 'refresh' | 'authenticate'; token: string }[];
}

const input = JSON.parse(process.argv[2] as string) as Input;
const store = await openStore(input.store, { keyPrefix: input.keyPrefix });
const tokens = createTokenService({
  secret: input.secret,
  store,
  scheme: input.scheme ?? 'jwt',
  access: { checkRevocation: true },
});

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (e) {
    return e instanceof TokenError ? e.code : `error: ${(e as Error).message}`;
  }
}

if (input.mode === 'race') {
  process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
  const rl = createInterface({ input: process.stdin });
  await once(rl, 'line');
  rl.close();
  const codes = await Promise.all(Array.from({ length: input.count ?? 50 }, () => code(tokens.refresh(input.token as string))));
  const counts: Record<string, number> = {};
  for (const c of codes) counts[c] = (counts[c] ?? 0) + 1;
  process.stdout.write(`${JSON.stringify({ ok: counts.ok ?? 0, codes: counts })}\n`);
} else {
  const results: string[] = [];
  for (const check of input.checks ?? []) {
    results.push(await code(check.op === 'refresh' ? tokens.refresh(check.token) : tokens.authenticate(check.token)));
  }
  process.stdout.write(`${JSON.stringify({ results })}\n`);
}
await store.close();
