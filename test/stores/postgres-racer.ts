/**
 * One racing OS process of test/stores/postgres-outage.test.ts ("two processes"): opens the
 * store on the schema it is given, waits for the start time, then refreshes one token
 * RACERS times concurrently. Prints {"won": n, "codes": [...]} on stdout.
 */
import { TokenError } from '../../src/errors.js';
import { createTokenService } from '../../src/refresh/service.js';
import { openPostgresStore } from '../../src/stores/postgres.js';

const { PG_URL, SCHEMA, TOKEN, START_AT, RACERS, SCHEME } = process.env as Record<string, string>;
const store = await openPostgresStore(PG_URL as string, { schema: SCHEMA, purgeIntervalMs: 0, poolSize: 10 });
const tokens = createTokenService({ secret: Buffer.alloc(32, 0x5a), store, scheme: SCHEME as 'jwt' | 'opaque' });
await store.ping();
await new Promise((r) => setTimeout(r, Math.max(0, Number(START_AT) - Date.now())));
const results = await Promise.allSettled(Array.from({ length: Number(RACERS) }, () => tokens.refresh(TOKEN as string)));
const codes = results.flatMap((r) =>
  r.status === 'rejected' ? [r.reason instanceof TokenError ? r.reason.code : String(r.reason)] : [],
);
process.stdout.write(JSON.stringify({ won: results.filter((r) => r.status === 'fulfilled').length, codes }));
await store.close();
