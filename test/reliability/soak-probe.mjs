/**
 * Loaded into the soak's servers only (test/reliability/soak.test.ts starts
 * them with NODE_OPTIONS="--expose-gc --import <this file>"); nothing in src/
 * knows about it. On SIGUSR2 (the test sends one every few seconds of the
 * run's second half) it runs a full garbage collection and appends what the
 * process then holds to SOAK_PROBE_FILE, one JSON line per sample:
 * `{"at": ms since the epoch, "rss": KiB, "heapUsed", "heapTotal", "external": bytes}`.
 *
 * Why: the soak asks whether memory levels off. Read at arbitrary moments, a
 * server's resident set mostly shows where V8's old generation is in its
 * collection cycle. Under the soak's load 5-8 MiB/s of short-lived objects end
 * up in the old generation (ioredis pipelines and commands are the largest
 * part), which grows from ~22 MiB live to 65-95 MiB before a major collection;
 * RSS saws by 25-50 MiB with it, and on a busy 2-core machine the collections
 * came 3 to 22 s apart. The trough of a 7-second window then may lie just
 * after a collection or half-way up the next climb: a server whose live heap
 * stayed flat (heap snapshots at 65, 125 and 182 s: 28.3, 28.5, 28.6 MiB, the
 * difference compiled code) "grew" by 18-24 MiB. Right after a full collection
 * the resident set no longer depends on where that cycle is, and what the
 * process still holds (a leak in the JS heap, Buffers, native memory) shows.
 */
import { appendFileSync, readFileSync } from 'node:fs';

const file = process.env.SOAK_PROBE_FILE;
if (file) {
  const gc = globalThis.gc;
  if (typeof gc !== 'function') throw new Error('soak-probe: no gc(); start node with --expose-gc');
  const rssKiB = () => {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
    return m ? Number(m[1]) : Number.NaN;
  };
  // On request, not on a timer: a forced full collection every second made every request of
  // these servers 30-55 % dearer in CPU (0.38-0.51 -> 0.57-0.65 ms; the collections themselves
  // 0.035 ms of it), which also cut the soak's traffic by as much.
  process.on('SIGUSR2', () => {
    gc();
    const { heapUsed, heapTotal, external } = process.memoryUsage();
    appendFileSync(file, `${JSON.stringify({ at: Date.now(), rss: rssKiB(), heapUsed, heapTotal, external })}\n`);
  });
}
