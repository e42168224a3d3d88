/**
 * Summarises a V8 CPU profile (`node --cpu-prof`, `npm run bench -- --filter http --cpu-prof DIR`):
 * self time by function and by where the code lives (tessera, a package, Node's
 * internals, native/GC), and the inclusive time of the functions that matter.
 *
 *     node --import tsx bench/profile.ts FILE.cpuprofile [--top 25] [--match TEXT] [--focus NAME,NAME]
 *
 * `--match TEXT` keeps the inclusive-time rows whose location contains TEXT.
 * Note: on a loaded machine a thread preempted in a system call is sampled
 * there, so `writev` and friends also absorb time the process spent waiting
 * for a CPU; compare the JavaScript rows, not the native ones.
 *
 * @module
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface ProfileSummary {
  totalMs: number;
  idleMs: number;
  /** Self time by function, descending. */
  functions: { name: string; where: string; selfMs: number; share: number }[];
  /** Self time by location (tessera file, package, node internals, native), descending. */
  locations: { where: string; selfMs: number; share: number }[];
  /** Inclusive time of the focused function names. */
  focus: { name: string; totalMs: number; share: number }[];
  /** Inclusive time by function, descending. */
  inclusive: { name: string; where: string; totalMs: number; share: number }[];
}

/** Where a frame's code lives: `tessera src/x.ts`, `fastify`, `node:internal`, `(native)`. */
function locate(url: string, name: string): string {
  if (url === '') return name.startsWith('(') ? name : '(native)';
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + '/node_modules/'.length).split('/');
    return rest[0]?.startsWith('@') ? `${rest[0]}/${rest[1]}` : (rest[0] as string);
  }
  if (url.startsWith('node:')) return 'node:internal';
  const dist = url.indexOf('/dist/');
  if (dist >= 0) return `tessera ${url.slice(dist + 1)}`;
  const src = url.indexOf('/src/');
  if (src >= 0) return `tessera ${url.slice(src + 1)}`;
  const bench = url.indexOf('/bench/');
  if (bench >= 0) return `bench ${url.slice(bench + 1)}`;
  return url;
}

export function summarise(profile: CpuProfile, focusNames: readonly string[] = []): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  // Sample time: each sample lasts until the next one (timeDeltas[i + 1]).
  const selfUs = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const dt = profile.timeDeltas[i + 1] ?? 0;
    const id = profile.samples[i] as number;
    selfUs.set(id, (selfUs.get(id) ?? 0) + dt);
  }
  let total = 0;
  let idle = 0;
  const fn = new Map<string, { name: string; where: string; us: number }>();
  const loc = new Map<string, number>();
  const focus = new Map<string, number>(focusNames.map((f) => [f, 0]));
  const incl = new Map<string, { name: string; where: string; us: number }>();
  for (const [id, us] of selfUs) {
    const node = byId.get(id) as ProfileNode;
    const { functionName, url, lineNumber } = node.callFrame;
    total += us;
    if (functionName === '(idle)') {
      idle += us;
      continue;
    }
    const where = locate(url, functionName);
    const key = `${functionName}@${url}:${lineNumber}`;
    const entry = fn.get(key) ?? { name: functionName || '(anonymous)', where: `${where}:${lineNumber + 1}`, us: 0 };
    entry.us += us;
    fn.set(key, entry);
    loc.set(where, (loc.get(where) ?? 0) + us);
    // Inclusive time: count the sample once for every function (and focused name) on its stack.
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const f = (byId.get(cur) as ProfileNode).callFrame;
      const k = `${f.functionName}@${f.url}:${f.lineNumber}`;
      if (seen.has(k)) continue;
      seen.add(k);
      const e = incl.get(k) ?? {
        name: f.functionName || '(anonymous)',
        where: `${locate(f.url, f.functionName)}:${f.lineNumber + 1}`,
        us: 0,
      };
      e.us += us;
      incl.set(k, e);
      if (focus.has(f.functionName) && !seen.has(`focus ${f.functionName}`)) {
        seen.add(`focus ${f.functionName}`);
        focus.set(f.functionName, (focus.get(f.functionName) as number) + us);
      }
    }
  }
  const busy = Math.max(1, total - idle);
  return {
    totalMs: total / 1000,
    idleMs: idle / 1000,
    functions: [...fn.values()]
      .sort((a, b) => b.us - a.us)
      .map((f) => ({ name: f.name, where: f.where, selfMs: f.us / 1000, share: f.us / busy })),
    locations: [...loc.entries()]
      .sort((a, b) => b[1] - a[1])
      .map(([where, us]) => ({ where, selfMs: us / 1000, share: us / busy })),
    focus: [...focus.entries()].map(([name, us]) => ({ name, totalMs: us / 1000, share: us / busy })),
    inclusive: [...incl.values()]
      .sort((a, b) => b.us - a.us)
      .map((f) => ({ name: f.name, where: f.where, totalMs: f.us / 1000, share: f.us / busy })),
  };
}

/** `match`: only inclusive rows whose location contains this text (e.g. "tessera"). */
export function formatSummary(s: ProfileSummary, top = 25, match?: string): string {
  const pct = (x: number) => `${(x * 100).toFixed(1).padStart(5)}%`;
  const lines = [`busy ${(s.totalMs - s.idleMs).toFixed(0)} ms of ${s.totalMs.toFixed(0)} ms sampled (shares are of busy time)`];
  lines.push('', 'self time by location:');
  for (const l of s.locations.slice(0, 15)) lines.push(`  ${pct(l.share)}  ${l.where}`);
  lines.push('', `self time by function (top ${top}):`);
  for (const f of s.functions.slice(0, top)) lines.push(`  ${pct(f.share)}  ${f.name}  (${f.where})`);
  lines.push('', `inclusive time by function${match ? ` in ${match}` : ''} (top ${top}):`);
  for (const f of s.inclusive.filter((x) => !match || x.where.includes(match)).slice(0, top))
    lines.push(`  ${pct(f.share)}  ${f.name}  (${f.where})`);
  if (s.focus.length) {
    lines.push('', 'inclusive time:');
    for (const f of s.focus) lines.push(`  ${pct(f.share)}  ${f.name}`);
  }
  return lines.join('\n');
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const args = process.argv.slice(2);
  let file: string | undefined;
  let top = 25;
  let focus: string[] = [];
  let match: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    if (a === '--top') top = Number(args[++i]);
    else if (a === '--focus') focus = (args[++i] ?? '').split(',').filter(Boolean);
    else if (a === '--match') match = args[++i];
    else file = a;
  }
  if (!file) {
    process.stderr.write('usage: bench/profile.ts FILE.cpuprofile [--top N] [--focus NAME,NAME]\n');
    process.exit(2);
  }
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  console.log(formatSummary(summarise(profile, focus), top, match));
}
