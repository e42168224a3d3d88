/**
 * DPoP at a protected route (RFC 9449 §7): what a request with a proof costs next to what it
 * cannot cost less than, in the same run:
 *   - floor: the Bearer path of the guard (a cached jwt) plus one ES256 verification on a
 *     prepared key of the same proofs' signatures (the one piece of work DPoP adds that is not
 *     bookkeeping);
 *   - tessera: the guard's DPoP path (the token, the proof's parse, its thumbprint, its signature,
 *     htm/htu/iat/ath, and its jti put once into the memory store's one-time records).
 * Target: within 1.15x of the floor. And the replay records' memory: bytes per proof held, and
 * the bound (records live for the window either side of the clock, then expire and are purged).
 *
 *     node --expose-gc --import tsx bench/dpop.ts [--quick]
 *
 * @module
 */
import { createHash, generateKeyPairSync, randomUUID, sign } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { HttpError } from '../src/http/core/errors.js';
import { createGuard } from '../src/http/core/guard.js';
import { prepareVerifier } from '../src/internal/signatures.js';
import { createTokenService } from '../src/refresh/service.js';
import { openStore } from '../src/stores/open.js';
import type { OneTimeRecords } from '../src/stores/types.js';
import { jwkThumbprint } from '../src/tokens/jwk.js';

const ISSUER = 'https://as.bench.test';
/** Proofs made per side: ROUNDS x n. */
const ROUNDS = 3;

export interface DpopBenchResult {
  floorNs: number;
  bearerNs: number;
  verifyNs: number;
  dpopNs: number;
  ratio: number;
  bytesPerProof: number;
  windowSeconds: number;
}

function b64(v: unknown): string {
  return Buffer.from(JSON.stringify(v)).toString('base64url');
}

export async function runDpopBench(options: { quick?: boolean; log?: (l: string) => void } = {}): Promise<DpopBenchResult> {
  const log = options.log ?? console.log;
  const n = options.quick ? 2000 : 20000;
  const now = Date.now();
  const store = await openStore('memory', { clock: () => now });
  const tokens = createTokenService({ secret: Buffer.alloc(32, 1), store, clock: () => now, issuer: ISSUER });
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const j = publicKey.export({ format: 'jwk' }) as { x: string; y: string };
  const jwk = { kty: 'EC', crv: 'P-256', x: j.x, y: j.y };
  const jkt = jwkThumbprint({ kty: 'EC', crv: 'P-256', x: j.x, y: j.y });
  const bound = await tokens.issue({ sub: 'bench', scope: 'api', jkt });
  const plain = await tokens.issue({ sub: 'bench', scope: 'api' });
  const ath = createHash('sha256').update(bound.accessToken).digest('base64url');
  const key = privateKey;
  const iat = Math.floor(now / 1000);
  const proofs: string[] = [];
  for (let i = 0; i < ROUNDS * (n + 200); i++) {
    const input = `${b64({ typ: 'dpop+jwt', alg: 'ES256', jwk })}.${b64({ jti: randomUUID(), htm: 'GET', htu: `${ISSUER}/me`, iat, ath })}`;
    proofs.push(`${input}.${sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`);
  }
  const records = store as unknown as OneTimeRecords;
  const guard = createGuard({ tokens, dpop: { records, clock: () => now, issuer: ISSUER } });
  const verifier = prepareVerifier('ES256', { kty: 'EC', crv: 'P-256', x: j.x, y: j.y });
  if (!verifier) throw new Error('no verifier');
  // The floor verifies the very signatures the DPoP side does, each over its own proof, its
  // second dot found beforehand (no parsing): ECDSA verification time depends on the signature,
  // so one fixed signature verified again and again is not the same work.
  const dots = proofs.map((p) => p.lastIndexOf('.'));

  const bearerHeader = `Bearer ${plain.accessToken}`;
  const dpopHeader = `DPoP ${bound.accessToken}`;
  // Fine-grained interleaving: batches of each side in turn, so all three see the same load;
  // per batch the ratio dpop / (bearer + verify), and the median of those ratios.
  const BATCH = 250;
  const timeBatch = async (fn: () => unknown): Promise<number> => {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < BATCH; i++) await fn();
    return Number(process.hrtime.bigint() - t0) / BATCH;
  };
  let k = 0;
  const bearer = async () => {
    const r = guard.start(bearerHeader, 'GET', '/me');
    if (r instanceof HttpError) throw r;
    return r;
  };
  let v = 0;
  const verify = () => {
    const i = v++ % proofs.length;
    return verifier.verifyCompact(proofs[i] as string, dots[i] as number);
  };
  const withProof = async () => {
    // Every proof once: a second use is a replay.
    const r = guard.start(dpopHeader, 'GET', '/me', { dpop: proofs[k++] });
    if (r instanceof HttpError) throw r;
    return r;
  };
  for (let i = 0; i < 200; i++) {
    await bearer();
    verify();
    await withProof();
  }
  const ratios: number[] = [];
  const sides = { bearer: [] as number[], verify: [] as number[], dpop: [] as number[] };
  const batches = Math.floor((ROUNDS * n) / BATCH);
  for (let b = 0; b < batches; b++) {
    const tb = await timeBatch(bearer);
    const tv = await timeBatch(verify);
    const td = await timeBatch(withProof);
    sides.bearer.push(tb);
    sides.verify.push(tv);
    sides.dpop.push(td);
    ratios.push(td / (tb + tv));
  }
  const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)] as number;
  const bearerNs = median(sides.bearer);
  const verifyNs = median(sides.verify);
  const dpopNs = median(sides.dpop);
  const floorNs = bearerNs + verifyNs;
  const ratio = median(ratios);

  // Memory of the replay records: a fresh store, N proofs' records, heap difference.
  const gc = (globalThis as { gc?: () => void }).gc;
  const mem = await openStore('memory', { clock: () => now });
  const m = mem as unknown as OneTimeRecords;
  const count = options.quick ? 5000 : 50000;
  gc?.();
  const before = process.memoryUsage().heapUsed;
  for (let i = 0; i < count; i++) {
    await m.putOnce({
      kind: 'dpop_jti',
      id: randomUUID().replace(/-/g, '').padEnd(43, 'x'),
      value: '',
      now,
      expiresAt: now + 121_000,
    });
  }
  gc?.();
  const bytesPerProof = Math.round((process.memoryUsage().heapUsed - before) / count);
  await mem.close();
  tokens.close();
  await store.close();
  log(
    `DPoP: ${(dpopNs / 1000).toFixed(2)} µs per protected request with a proof; floor (bearer ${(bearerNs / 1000).toFixed(2)} µs + ES256 verify ${(verifyNs / 1000).toFixed(2)} µs) ${(floorNs / 1000).toFixed(2)} µs; median ratio per batch ${ratio.toFixed(3)} (target <= 1.15)`,
  );
  log(
    `replay records: ~${bytesPerProof} bytes per proof${gc ? '' : ' (run with --expose-gc for a steady number)'}; held for 2 x window + 1 s (121 s at the default 60 s), so the bound is proofs per second x 121 x that: ${((bytesPerProof * 121 * 1000) / 1e6).toFixed(1)} MB at 1 000 proofs/s`,
  );
  return { floorNs, bearerNs, verifyNs, dpopNs, ratio, bytesPerProof, windowSeconds: 60 };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  await runDpopBench({ quick: process.argv.includes('--quick') });
}
