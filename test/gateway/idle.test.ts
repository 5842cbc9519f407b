// The coarse idle sweep: a tunnel whose byte counters stand still for the timeout is reported once; one
// whose counters move is not; unwatching stops it, and the timer stops with the last tunnel.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IdleSweep } from '../../src/gateway/idle.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('standing counters are reported once, moving ones never, unwatched ones never', async () => {
  const sweep = new IdleSweep(60);
  const still = { up: 5, down: 0 };
  const moving = { up: 0, down: 0 };
  const gone = { up: 0, down: 0 };
  const fired: string[] = [];
  sweep.watch(still, () => fired.push('still'));
  const stopMoving = sweep.watch(moving, () => fired.push('moving'));
  const stopGone = sweep.watch(gone, () => fired.push('gone'));
  stopGone();
  for (let i = 0; i < 20 && !fired.includes('still'); i++) {
    moving.down += 10;
    await sleep(15);
  }
  assert.deepEqual(fired, ['still']);
  for (let i = 0; i < 10; i++) {
    moving.up += 1;
    await sleep(15);
  }
  assert.deepEqual(fired, ['still'], 'reported once; the moving tunnel stays');
  stopMoving();
  assert.equal(sweep.size, 0);
});
