// The gateway's GC governor: wide old-generation growth only while bytes flow fast (pure decision + timer).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nextHeapGrowth, HeapGrowthGovernor, HEAP_GROWTH_DEFAULTS, type HeapGrowthOptions } from '../../src/gateway/index.js';

const o: HeapGrowthOptions = { busyPercent: 400, busyBytesPerSecond: 1000, quietBytesPerSecond: 100, quietHoldMs: 2000 };

test('busy above the threshold, V8 default once quiet long enough, unchanged in between (hysteresis)', () => {
  assert.equal(nextHeapGrowth(0, 5000, 0, o), 400);
  assert.equal(nextHeapGrowth(400, 500, 0, o), 400, 'between quiet and busy: stays busy');
  assert.equal(nextHeapGrowth(0, 500, 0, o), 0, 'between quiet and busy: stays default');
  assert.equal(nextHeapGrowth(400, 50, 1000, o), 400, 'quiet, but not for quietHoldMs yet: stays busy');
  assert.equal(nextHeapGrowth(400, 50, 2000, o), 0);
  assert.equal(nextHeapGrowth(0, 1e9, 0, { ...o, busyPercent: 0 }), 0, 'busyPercent 0 disables it');
  assert.ok(HEAP_GROWTH_DEFAULTS.quietBytesPerSecond < HEAP_GROWTH_DEFAULTS.busyBytesPerSecond);
});

test('the governor applies a change once per switch and restores the default on stop', () => {
  let bytes = 0;
  const applied: number[] = [];
  const g = new HeapGrowthGovernor(() => bytes, o, (p) => applied.push(p));
  const second = (n: number) => {
    bytes += n;
    g.sample(1000);
  };
  second(5000);
  second(5000);
  assert.deepEqual(applied, [400], 'busy once, not re-applied while busy');
  second(500);
  assert.deepEqual(applied, [400], 'between the rates: unchanged');
  second(0);
  assert.deepEqual(applied, [400], 'one quiet second: still busy (bursts a moment apart keep the wide growth)');
  second(5000);
  second(0);
  second(0);
  assert.deepEqual(applied, [400, 0], 'a burst resets the quiet spell; quiet for quietHoldMs: back to V8 default');
  second(2000);
  g.stop();
  assert.deepEqual(applied, [400, 0, 400, 0], 'stop restores the default');
});
