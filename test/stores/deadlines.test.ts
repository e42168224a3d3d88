/** Deadlines: one sweeping timer fails the calls that outlive the timeout, and only those. */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, mock, test } from 'node:test';
import { Deadlines } from '../../src/stores/deadlines.js';

let now = 0;
const clock = () => now;
const timeout = () => new Error('timed out');
/** Moves the injected clock and the mocked interval together. */
const advance = (ms: number) => {
  now += ms;
  mock.timers.tick(ms);
};
const never = () => new Promise<never>(() => {});

beforeEach(() => {
  now = 1000;
  mock.timers.enable({ apis: ['setInterval'] });
});
afterEach(() => mock.timers.reset());

test('a call that settles in time answers as its operation did, and leaves nothing pending', async () => {
  const d = new Deadlines(200, timeout, clock);
  assert.equal(await d.run(async () => 'ok'), 'ok');
  await assert.rejects(
    d.run(async () => {
      throw new Error('refused');
    }),
    /refused/,
  );
  await assert.rejects(
    d.run(() => {
      throw new Error('thrown at once');
    }),
    /thrown at once/,
  );
  assert.equal(d.pending, 0);
  d.close();
});

test('a call still in flight past its deadline fails with timeout() at the next sweep; a later one lives on', async () => {
  const d = new Deadlines(200, timeout, clock);
  const early = d.run(never);
  advance(100);
  const late = d.run(never);
  let lateSettled = false;
  late.then(
    () => (lateSettled = true),
    () => (lateSettled = true),
  );
  advance(50); // 150 ms: the first sweep, nothing due
  assert.equal(d.pending, 2);
  advance(100); // 250 ms: the early call is past 200 ms
  await assert.rejects(early, /timed out/);
  await Promise.resolve();
  assert.equal(lateSettled, false, 'the call started 100 ms later has 50 ms left');
  assert.equal(d.pending, 1);
  advance(100); // 350 ms: the late one is past its 300 ms
  await assert.rejects(late, /timed out/);
  assert.equal(d.pending, 0);
  d.close();
});

test('an answer after the timeout changes nothing: the caller already has its error', async () => {
  const d = new Deadlines(100, timeout, clock);
  let answer: (v: string) => void = () => {};
  const call = d.run(() => new Promise<string>((resolve) => (answer = resolve)));
  advance(150);
  await assert.rejects(call, /timed out/);
  answer('too late');
  await Promise.resolve();
  assert.equal(d.pending, 0);
  d.close();
});
