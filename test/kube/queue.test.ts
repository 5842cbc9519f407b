import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WorkQueue, ManualClock, ExponentialRateLimiter, BucketRateLimiter, MaxOfRateLimiter, Controller, TerminalError } from '../../src/kube/index.js';

test('queue dedupes keys and hands them out in order', async () => {
  const q = new WorkQueue({ clock: new ManualClock() });
  q.add('a');
  q.add('b');
  q.add('a');
  assert.equal(q.len(), 2);
  assert.equal(await q.get(), 'a');
  assert.equal(await q.get(), 'b');
  assert.equal(q.len(), 0);
});

test('a key being processed is not handed to a second worker; re-added on done if it changed', async () => {
  const q = new WorkQueue({ clock: new ManualClock() });
  q.add('a');
  const k = await q.get();
  assert.equal(k, 'a');
  q.add('a'); // changed while processing
  assert.equal(q.len(), 0, 'not queued while a worker holds it');
  let second: string | undefined;
  const p = q.get().then((x) => { second = x; });
  await new Promise((r) => setImmediate(r));
  assert.equal(second, undefined);
  q.done('a');
  await p;
  assert.equal(second, 'a');
  q.done('a');
  assert.equal(q.len(), 0);
});

test('done without a change does not requeue', async () => {
  const q = new WorkQueue({ clock: new ManualClock() });
  q.add('x');
  await q.get();
  q.done('x');
  assert.equal(q.len(), 0);
});

test('per-key exponential backoff is capped and reset by forget', () => {
  const rl = new ExponentialRateLimiter(5, 1000);
  const delays = Array.from({ length: 10 }, () => rl.when('k'));
  assert.deepEqual(delays, [5, 10, 20, 40, 80, 160, 320, 640, 1000, 1000]);
  assert.equal(rl.when('other'), 5, 'backoff is per key');
  assert.equal(rl.retries('k'), 10);
  rl.forget('k');
  assert.equal(rl.when('k'), 5);
});

test('token bucket allows a burst then paces at qps', () => {
  const clock = new ManualClock();
  const b = new BucketRateLimiter(10, 3, clock);
  assert.deepEqual([b.when(), b.when(), b.when()], [0, 0, 0]);
  assert.equal(b.when(), 100);
  assert.equal(b.when(), 200);
  clock.advance(1000);
  assert.equal(b.when(), 0);
});

test('MaxOf takes the longest wait', () => {
  const clock = new ManualClock();
  const rl = new MaxOfRateLimiter([new ExponentialRateLimiter(5, 1000), new BucketRateLimiter(10, 1, clock)]);
  assert.equal(rl.when('a'), 5);
  assert.equal(rl.when('a'), 100);
});

test('addAfter fires on the injected clock and keeps the earliest time', async () => {
  const clock = new ManualClock();
  const q = new WorkQueue({ clock });
  q.addAfter('a', 100);
  q.addAfter('a', 500);
  q.addAfter('b', 50);
  assert.equal(q.len(), 0);
  clock.advance(60);
  assert.equal(q.len(), 1);
  assert.equal(await q.get(), 'b');
  clock.advance(50);
  assert.equal(await q.get(), 'a');
  clock.advance(1000);
  assert.equal(q.len(), 0, 'the later addAfter was merged into the earlier one');
});

test('addRateLimited uses the backoff; shutDown releases waiting getters', async () => {
  const clock = new ManualClock();
  const q = new WorkQueue({ clock, rateLimiter: new ExponentialRateLimiter(10, 100) });
  assert.equal(q.addRateLimited('k'), 10);
  assert.equal(q.delayed(), 1);
  const p = q.get();
  q.shutDown();
  assert.equal(await p, undefined);
  q.add('z');
  assert.equal(q.len(), 0, 'no adds after shutdown');
});

test('controller: error requeues with backoff, terminal error is not retried, requeueAfter re-adds, success forgets', async () => {
  const clock = new ManualClock();
  const q = new WorkQueue({ clock, rateLimiter: new ExponentialRateLimiter(10, 1000) });
  const calls: string[] = [];
  let failures = 2;
  const c = new Controller({
    name: 'test',
    queue: q,
    workers: 2,
    reconcile: async (key) => {
      calls.push(key);
      if (key === 'flaky' && failures-- > 0) throw new Error('boom');
      if (key === 'bad') throw new TerminalError('invalid');
      if (key === 'later') return { requeueAfter: 500 };
      if (key === 'throwsString') throw 'not an error';
      return undefined;
    },
  });
  c.start();
  for (const k of ['flaky', 'bad', 'later', 'ok']) c.enqueue(k);
  const settle = () => new Promise((r) => setTimeout(r, 20));
  await settle();
  assert.equal(c.counts.error, 1);
  assert.equal(c.counts.terminal, 1);
  assert.equal(c.counts.requeue_after, 1);
  assert.equal(c.counts.success, 1);
  clock.advance(10);
  await settle();
  assert.equal(c.counts.error, 2);
  clock.advance(20);
  await settle();
  assert.equal(c.counts.success, 2, 'flaky succeeded on its third try');
  assert.equal(q.retries('flaky'), 0, 'success forgets the backoff');
  clock.advance(500);
  await settle();
  assert.equal(calls.filter((k) => k === 'later').length, 2);
  assert.equal(calls.filter((k) => k === 'bad').length, 1);
  await c.stop();
});

test('controller: a reconcile that times out is counted, requeued, and its key is not handed out again until it settles', async () => {
  const q = new WorkQueue({ rateLimiter: new ExponentialRateLimiter(1, 1) });
  let active = 0;
  let maxActive = 0;
  let calls = 0;
  let release: () => void = () => undefined;
  const c = new Controller({
    name: 'timeouts',
    queue: q,
    workers: 1,
    timeoutMs: 30,
    reconcile: async (key) => {
      if (key !== 'k') return;
      calls++;
      active++;
      maxActive = Math.max(maxActive, active);
      if (calls === 1) await new Promise<void>((r) => (release = r)); // hangs past the timeout
      active--;
    },
  });
  c.start();
  c.enqueue('k');
  await new Promise((r) => setTimeout(r, 120));
  c.enqueue('other');
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(c.counts.timeout, 1);
  assert.equal(c.counts.success, 1, 'the worker moved on to other keys');
  assert.equal(calls, 1, 'not reconciled again while the timed-out run is still going');
  assert.ok(q.isProcessing('k'));
  release();
  await new Promise((r) => setTimeout(r, 60));
  assert.equal(calls, 2, 'requeued once the first run settled');
  assert.equal(maxActive, 1, 'never two reconciles of one key at once');
  assert.equal(c.counts.success, 2);
  await c.stop();
});
