/**
 * The pinned majors of every printed install line (src/internal/peers.ts) agree
 * with package.json: each optional peer has one, inside its peer range and the
 * range's newest major, except where that major needs a newer Node than
 * `engines` allows; the server's line holds the default store's driver; and the
 * README's Install section names the same majors.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { installLine, PEER_MAJORS, SERVER_PEERS } from '../../src/internal/peers.js';
import { pkg, ROOT } from './pack.js';

/** The majors of a range made of `^X.Y.Z` alternatives (the only form package.json uses for peers). */
function majors(range: string): number[] {
  return range.split('||').map((alt) => {
    const m = /^\s*\^(\d+)\.\d+\.\d+\s*$/.exec(alt);
    assert.ok(m, `peer range "${range}" is not a list of ^X.Y.Z`);
    return Number(m[1]);
  });
}

/** Newest majors left out on purpose: they need Node 22, and tessera supports Node 20 (engines). */
const NEEDS_NEWER_NODE: Record<string, number> = { 'better-sqlite3': 13 };

test('every optional peer has a pinned major: the newest its range accepts', () => {
  assert.deepEqual(Object.keys(PEER_MAJORS).sort(), Object.keys(pkg.peerDependencies).sort());
  for (const [name, range] of Object.entries(pkg.peerDependencies)) {
    const accepted = majors(range);
    const pinned = PEER_MAJORS[name as keyof typeof PEER_MAJORS];
    assert.ok(accepted.includes(pinned), `${name}@${pinned} is outside its peer range ${range}`);
    assert.equal(pinned, Math.max(...accepted), `${name}: the range accepts a newer major than the pinned ${pinned}`);
    assert.notEqual(pinned, NEEDS_NEWER_NODE[name], `${name}@${pinned} needs a newer Node than engines allows`);
  }
});

test("the server's install line names the default store's driver and pins every major", () => {
  assert.ok(SERVER_PEERS.includes('better-sqlite3'));
  assert.match(installLine(SERVER_PEERS), /^npm install (\S+@\d+ )+\S+@\d+$/);
  assert.equal(installLine(['ioredis', 'pg']), `npm install ioredis@${PEER_MAJORS.ioredis} pg@8`);
});

test("the README's Install section names each peer with the pinned major, nowhere another", () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Install'), readme.indexOf('\n## ', readme.indexOf('## Install') + 1));
  const named = [...section.matchAll(/(?<![\w/-])((?:@[a-z0-9-]+\/)?[a-z0-9.-]+)@(\d+)\b/g)].filter(
    ([, name]) => (name as string) in PEER_MAJORS,
  );
  assert.ok(named.length >= Object.keys(PEER_MAJORS).length, 'every peer is named with a major');
  for (const [text, name, major] of named) {
    assert.equal(Number(major), PEER_MAJORS[name as keyof typeof PEER_MAJORS], `README names ${text}`);
  }
  for (const name of Object.keys(PEER_MAJORS)) {
    assert.ok(
      named.some(([, n]) => n === name),
      `README's Install section never names ${name}@N`,
    );
  }
});
