/**
 * What the metrics read of an instance's revocation feed (src/refresh/revocations.ts): how long
 * it has been down, and how many revocations it delivered, on the injected clock.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RevocationSet } from '../../src/refresh/revocations.js';
import { FakeClock } from '../stores/harness.js';

test('downFor: since the set was made until the first up, 0 while up, since the last down after', () => {
  const clock = new FakeClock();
  const set = new RevocationSet({ horizonMs: 600_000, clock: clock.now });
  clock.advance(3);
  assert.equal(set.downFor(clock.ms), 3000, 'never up');
  set.status('up', true);
  clock.advance(10);
  assert.equal(set.downFor(clock.ms), 0);
  set.status('down');
  clock.advance(2);
  set.status('down');
  clock.advance(5);
  assert.equal(set.downFor(clock.ms), 7000, 'a repeated down does not restart the count');
  set.status('up', false);
  assert.equal(set.downFor(clock.ms), 0);
});

test('received counts the revocations delivered (snapshot replays included), not client removals', () => {
  const clock = new FakeClock();
  const set = new RevocationSet({ horizonMs: 600_000, clock: clock.now });
  const until = clock.ms + 60_000;
  set.event({ kind: 'family', familyId: 'f1', until });
  set.event({ kind: 'jti', jti: 'f2.a', until });
  set.event({ kind: 'user', sub: 'alice', notBefore: clock.ms, until });
  set.event({ kind: 'client', clientId: 'web', until });
  // Delivered again (a replay after a reconnection): counted again, held once.
  set.event({ kind: 'family', familyId: 'f1', until });
  assert.equal(set.received, 4);
  assert.equal(set.size, 3);
});
