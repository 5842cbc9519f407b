// Outlier detection's decisions (pool/outlier.ts) from tables, and the detector on a hand-driven clock;
// the inbound backend-order bounds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HEALTHY, OutlierDetector, ejectionMs, onFailure, onReturn, onSuccess, type AddressHealth, type FailureKind, type OutlierClock, type OutlierEvent, type OutlierOptions } from '../../src/gateway/pool/outlier.js';
import { MAX_ATTEMPTS, tryAnother } from '../../src/gateway/inbound/backend-order.js';

const O: OutlierOptions = { consecutiveFailures: 3, baseEjectionMs: 1_000, maxEjectionMs: 8_000 };
const h = (over: Partial<AddressHealth> = {}): AddressHealth => ({ ...HEALTHY, ...over });

test('ejection time doubles with each repeated ejection, capped', () => {
  const table: Array<[number, number]> = [[1, 1_000], [2, 2_000], [3, 4_000], [4, 8_000], [5, 8_000], [60, 8_000]];
  for (const [n, ms] of table) assert.equal(ejectionMs(n, O), ms, `ejection ${n}`);
});

test('a failure: counted below the threshold, ejects at it, never the last eligible address; probation and a failed dial eject at once', () => {
  const now = 50_000;
  const table: Array<{ name: string; before: AddressHealth; others: number; action: string; next: Partial<AddressHealth>; kind?: FailureKind }> = [
    { name: 'first failure', before: h(), others: 1, action: 'count', next: { failures: 1 } },
    { name: 'second failure', before: h({ failures: 1 }), others: 1, action: 'count', next: { failures: 2 } },
    { name: 'third failure ejects for the base time', before: h({ failures: 2 }), others: 1, action: 'eject', next: { failures: 0, ejections: 1, ejectedUntil: now + 1_000 } },
    { name: 'a repeated ejection lasts twice as long', before: h({ failures: 2, ejections: 1, returnedAt: now - 10 }), others: 2, action: 'eject', next: { ejections: 2, ejectedUntil: now + 2_000 } },
    { name: 'the last eligible address is kept', before: h({ failures: 2 }), others: 0, action: 'keep-last', next: { failures: 3, ejectedUntil: 0 } },
    { name: 'on probation one failure ejects again', before: h({ ejections: 1, probation: true, returnedAt: now - 10 }), others: 1, action: 'eject', next: { ejections: 2, ejectedUntil: now + 2_000, probation: false } },
    { name: 'on probation but the last one: kept', before: h({ ejections: 1, probation: true }), others: 0, action: 'keep-last', next: { failures: 1 } },
    { name: 'a failed dial ejects at once', before: h(), others: 1, kind: 'connect', action: 'eject', next: { ejections: 1, ejectedUntil: now + 1_000 } },
    { name: 'a failed dial of the last one: kept', before: h(), others: 0, kind: 'connect', action: 'keep-last', next: { failures: 1 } },
    { name: 'a lost session counts like a tunnel failure', before: h(), others: 1, kind: 'closed', action: 'count', next: { failures: 1 } },
  ];
  for (const row of table) {
    const d = onFailure(row.before, now, row.others, O, row.kind);
    assert.equal(d.action, row.action, row.name);
    for (const [k, v] of Object.entries(row.next)) assert.equal(d.next[k as keyof AddressHealth], v, `${row.name}: ${k}`);
  }
});

test('a success clears the failure streak and probation; the ejection count is forgotten after a healthy max interval', () => {
  assert.deepEqual(onSuccess(h({ failures: 2 }), 0, O), h());
  assert.deepEqual(onSuccess(h({ ejections: 2, probation: true, returnedAt: 1_000 }), 2_000, O), h({ ejections: 2, returnedAt: 1_000 }));
  assert.deepEqual(onSuccess(h({ ejections: 2, returnedAt: 1_000 }), 1_000 + O.maxEjectionMs, O), h({ returnedAt: 1_000 }));
  const untouched = h();
  assert.equal(onSuccess(untouched, 5, O), untouched, 'a healthy address is not copied per tunnel');
  assert.deepEqual(onReturn(h({ ejections: 1, ejectedUntil: 9 }), 10), h({ ejections: 1, probation: true, returnedAt: 10 }));
});

/** A clock the test moves: timers run when their time comes. */
function manualClock(): OutlierClock & { advance(ms: number): void } {
  let now = 0;
  let timers: Array<{ at: number; f: () => void }> = [];
  return {
    now: () => now,
    after(ms, f) {
      const t = { at: now + ms, f };
      timers.push(t);
      return () => (timers = timers.filter((x) => x !== t));
    },
    advance(ms) {
      now += ms;
      const due = timers.filter((t) => t.at <= now);
      timers = timers.filter((t) => t.at > now);
      for (const t of due) t.f();
    },
  };
}

test('detector: ejects after the streak, skips the address, returns it after the ejection, re-ejects on probation for twice as long', () => {
  const clock = manualClock();
  const events: OutlierEvent[] = [];
  const d = new OutlierDetector(['10.0.0.1', '10.0.0.2'], O, (e) => events.push(e), clock);
  assert.deepEqual(d.eligibleFrom(0), { address: '10.0.0.1', index: 0 });
  d.failure('10.0.0.1', 'timeout', 'no answer');
  d.success('10.0.0.1'); // the streak is broken
  for (let i = 0; i < 2; i++) d.failure('10.0.0.1', 'timeout', 'no answer');
  assert.equal(d.isEjected('10.0.0.1'), false, 'two in a row are not three');
  d.failure('10.0.0.1', 'reset', 'rst');
  assert.equal(d.isEjected('10.0.0.1'), true);
  assert.deepEqual(events, [{ kind: 'ejected', address: '10.0.0.1', forMs: 1_000, ejections: 1, failure: 'reset', detail: 'rst' }]);
  assert.deepEqual(d.eligibleFrom(0), { address: '10.0.0.2', index: 1 }, 'an ejected address is skipped');
  assert.equal(d.ejectedCount(), 1);
  d.failure('10.0.0.1', 'timeout', 'late'); // failures of attempts made before the ejection are not counted twice
  clock.advance(999);
  assert.equal(d.isEjected('10.0.0.1'), true);
  clock.advance(1);
  assert.equal(d.isEjected('10.0.0.1'), false);
  assert.deepEqual(events.at(-1), { kind: 'returned', address: '10.0.0.1' });
  d.failure('10.0.0.1', 'connect', 'refused');
  assert.deepEqual(events.at(-1), { kind: 'ejected', address: '10.0.0.1', forMs: 2_000, ejections: 2, failure: 'connect', detail: 'refused' });
  clock.advance(2_000);
  d.success('10.0.0.1');
  for (let i = 0; i < 2; i++) d.failure('10.0.0.1', 'timeout', 'x');
  assert.equal(d.isEjected('10.0.0.1'), false, 'after a success, probation is over: a streak is needed again');
  d.stop();
});

test('detector: the last address not ejected is kept (one event per streak); an avoided address is used only when no other is eligible', () => {
  const clock = manualClock();
  const events: OutlierEvent[] = [];
  const d = new OutlierDetector(['a', 'b'], O, (e) => events.push(e), clock);
  for (let i = 0; i < 3; i++) d.failure('a', 'connect', 'refused');
  for (let i = 0; i < 6; i++) d.failure('b', 'connect', 'refused');
  assert.equal(d.isEjected('a'), true);
  assert.equal(d.isEjected('b'), false, 'never every address');
  assert.deepEqual(events.map((e) => `${e.kind} ${e.address}`), ['ejected a', 'kept-last b']);
  assert.deepEqual(d.eligibleFrom(0, 'b'), { address: 'b', index: 1 }, 'the only eligible address, even if avoided');
  clock.advance(1_000);
  assert.deepEqual(d.eligibleFrom(0, 'a'), { address: 'b', index: 1 }, 'avoid: another eligible address first');
  // A new address list: state of the addresses that left goes, with their timers.
  for (let i = 0; i < 3; i++) d.failure('b', 'timeout', 'x');
  assert.equal(d.isEjected('b'), true);
  d.setAddresses(['a', 'c']);
  assert.equal(d.ejectedCount(), 0);
  clock.advance(60_000);
  assert.equal(events.filter((e) => e.kind === 'returned' && e.address === 'b').length, 0, 'no return event for an address that left');
  d.stop();
});

test('one address: never ejected', () => {
  const events: OutlierEvent[] = [];
  const d = new OutlierDetector(['vip'], O, (e) => events.push(e), manualClock());
  for (let i = 0; i < 20; i++) d.failure('vip', 'timeout', 'x');
  assert.equal(d.isEjected('vip'), false);
  assert.deepEqual(events.map((e) => e.kind), ['kept-last']);
});

test('inbound backend order: every refusing candidate once (bounded), at most two that time out', () => {
  const table: Array<[failed: number, candidates: number, timeouts: number, again: boolean]> = [
    [1, 1, 0, false],
    [1, 3, 0, true],
    [2, 3, 0, true],
    [3, 3, 0, false],
    [1, 3, 1, true],
    [2, 3, 2, false],
    [MAX_ATTEMPTS, 100, 0, false],
    [MAX_ATTEMPTS - 1, 100, 0, true],
  ];
  for (const [failed, candidates, timeouts, again] of table) assert.equal(tryAnother(failed, candidates, timeouts), again, `${failed} failed of ${candidates}, ${timeouts} timeouts`);
});
