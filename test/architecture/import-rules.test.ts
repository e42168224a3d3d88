/**
 * The import rules of docs/architecture.md ("Layers"), checked on the source: every import
 * and export of src/ (static, dynamic `import()`, type-only included) read with a regular
 * expression, comments removed first.
 * - no import cycle between the files of src/;
 * - imports only go down the layers (or stay in their folder);
 * - only src/internal/ imports node:crypto;
 * - no web framework below src/http/ (src/http/core/ included: it is framework-neutral);
 * - src/http/ never imports src/server/;
 * - src/client/ imports nothing from the rest of src/ (it ships to browsers on its own).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, test } from 'node:test';

const SRC = new URL('../../src/', import.meta.url).pathname;

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? walk(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** The module specifiers a TypeScript file imports or re-exports. */
export function importsOf(source: string): string[] {
  const code = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`\\])\/\/.*$/gm, '$1');
  const specs: string[] = [];
  const patterns = [
    /\b(?:import|export)\s[^;'"`]*?\bfrom\s*['"]([^'"]+)['"]/g, // import x from '...', export { x } from '...'
    /\bimport\s*['"]([^'"]+)['"]/g, // import '...'
    /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g, // import('...')
  ];
  for (const pattern of patterns) for (const m of code.matchAll(pattern)) specs.push(m[1] as string);
  return specs;
}

/** A path of src/ without the extension, relative to src/ (`http/core/errors`). */
const id = (abs: string) => relative(SRC, abs).replace(/\.(ts|js)$/, '');

interface Module {
  id: string;
  /** Modules of src/ it imports. */
  local: string[];
  /** Packages and node: modules it imports. */
  packages: string[];
}

const MODULES: Module[] = walk(SRC).map((file) => {
  const specs = importsOf(readFileSync(file, 'utf8'));
  return {
    id: id(file),
    local: specs.filter((s) => s.startsWith('.')).map((s) => id(resolve(dirname(file), s))),
    packages: specs.filter((s) => !s.startsWith('.')),
  };
});
const byId = new Map(MODULES.map((m) => [m.id, m]));

/** The layer of a module: its folder (`http/core` apart from the rest of `http`), or a top-level file. */
function layerOf(moduleId: string): string {
  const [first, second] = moduleId.split('/');
  if (first === 'http' && second === 'core') return 'http/core';
  return first as string;
}

/**
 * docs/architecture.md's layers, bottom up: a module may import its own layer and any layer
 * with a lower rank. `client` is apart (see its own test).
 */
const RANK: Record<string, number> = {
  errors: 0,
  internal: 1,
  keys: 2,
  'oauth-clients': 2,
  tokens: 3,
  stores: 3,
  users: 4,
  verify: 4,
  refresh: 4,
  'http/core': 5,
  http: 6,
  server: 7,
  cli: 8,
  index: 9,
};

const FRAMEWORKS = [/^fastify(-plugin)?$/, /^@fastify\//, /^express$/, /^@types\/express$/, /^hono(\/|$)/, /^@hono\//];
const isFramework = (pkg: string) => FRAMEWORKS.some((re) => re.test(pkg));

describe('the import rules of docs/architecture.md', () => {
  test('the regular expression finds every kind of import, and none in comments', () => {
    const source = [
      "import a from './a.js';",
      "import type { B } from '../b.js';",
      "import {\n  c,\n  type D,\n} from 'fastify';",
      "export { e } from './e.js';",
      "export * from './f.js';",
      "import './g.js';",
      "const h = await import('node:crypto');",
      "// import x from 'express';",
      "/** import y from 'hono'; */",
      "const url = 'https://example.com'; import z from './z.js';",
    ].join('\n');
    assert.deepEqual(importsOf(source).sort(), [
      '../b.js',
      './a.js',
      './e.js',
      './f.js',
      './g.js',
      './z.js',
      'fastify',
      'node:crypto',
    ]);
  });

  test('every relative import resolves to a file of src/', () => {
    for (const m of MODULES) {
      for (const target of m.local) assert.ok(byId.has(target), `${m.id} imports ${target}, which is not a file of src/`);
    }
  });

  test('no import cycle between the files of src/', () => {
    const state = new Map<string, 'visiting' | 'done'>();
    const cycles: string[] = [];
    const visit = (at: string, path: string[]) => {
      if (state.get(at) === 'done') return;
      if (state.get(at) === 'visiting') {
        cycles.push([...path.slice(path.indexOf(at)), at].join(' -> '));
        return;
      }
      state.set(at, 'visiting');
      for (const next of byId.get(at)?.local ?? []) visit(next, [...path, at]);
      state.set(at, 'done');
    };
    for (const m of MODULES) visit(m.id, []);
    assert.deepEqual(cycles, []);
  });

  test('imports only go down the layers (or stay within one)', () => {
    const up: string[] = [];
    for (const m of MODULES) {
      const from = layerOf(m.id);
      if (from === 'client') continue;
      assert.ok(from in RANK, `${m.id}: the layer ${from} is not in docs/architecture.md's table (RANK)`);
      for (const target of m.local) {
        const to = layerOf(target);
        if (to !== from && !((RANK[to] ?? Number.POSITIVE_INFINITY) < (RANK[from] as number))) up.push(`${m.id} -> ${target}`);
      }
    }
    assert.deepEqual(up, []);
  });

  test('only src/internal/ imports node:crypto', () => {
    const offenders = MODULES.filter((m) => layerOf(m.id) !== 'internal')
      .filter((m) => m.packages.some((p) => p === 'node:crypto' || p === 'crypto'))
      .map((m) => m.id);
    assert.deepEqual(offenders, []);
  });

  test('no web framework below src/http/, nor in src/http/core/', () => {
    const allowed = new Set(['http', 'server', 'cli']);
    const offenders = MODULES.filter((m) => !allowed.has(layerOf(m.id))).flatMap((m) =>
      m.packages.filter(isFramework).map((p) => `${m.id} imports ${p}`),
    );
    assert.deepEqual(offenders, []);
    // The rule is not vacuous: the adapters do import their frameworks.
    assert.ok(byId.get('http/express')?.packages.includes('express'));
  });

  test('src/http/ never imports src/server/', () => {
    const offenders = MODULES.filter((m) => m.id.startsWith('http/')).flatMap((m) =>
      m.local.filter((t) => t.startsWith('server/')).map((t) => `${m.id} -> ${t}`),
    );
    assert.deepEqual(offenders, []);
  });

  test('src/client/ imports nothing from the rest of src/, and no package', () => {
    const client = MODULES.filter((m) => layerOf(m.id) === 'client');
    assert.ok(client.length > 0);
    for (const m of client) {
      assert.deepEqual(
        m.local.filter((t) => !t.startsWith('client/')),
        [],
        m.id,
      );
      assert.deepEqual(m.packages, [], m.id);
    }
  });
});
