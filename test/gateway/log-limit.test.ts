// Refusal logs are rate-limited (issue 17 item 3): one peer must not decide how much the gateway writes.
// A real winston logger writes into a stream the test reads; the clock is injected.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { captureLogs } from '../helpers/logs.js';
import { RateLimitedLog } from '../../src/gateway/log-limit.js';

/** winston hands lines to its transports through streams: wait (bounded) until `n` lines have arrived. */
async function arrived(lines: () => unknown[], n: number): Promise<void> {
  for (let i = 0; i < 200 && lines().length < n; i++) await new Promise((r) => setTimeout(r, 5));
}

test('a burst is written, the rest counted by reason in one summary line per kind; the rate refills with time', async () => {
  let now = 0;
  const { logger, lines } = captureLogs();
  const log = new RateLimitedLog<'tunnel' | 'connection'>(logger, { burst: 3, perSecond: 1, summaryEveryMs: 10_000, now: () => now });
  for (let i = 0; i < 10; i++) log.warn('tunnel', i % 2 ? 'UNKNOWN_SERVICE' : 'BAD_AUTHORITY', 'inbound tunnel refused', { i });
  log.warn('connection', 'NO_CLIENT_CERT', 'inbound connection refused', {});
  assert.equal(log.pending('tunnel'), 7, 'a burst of 3 written, 7 counted');
  assert.equal(log.pending('connection'), 0);
  now += 2_000; // two tokens back
  log.warn('tunnel', 'BAD_AUTHORITY', 'inbound tunnel refused', { i: 10 });
  assert.equal(log.pending('tunnel'), 7);
  log.stop(); // writes the summary, the last line: once it is here, every line before it is too
  await arrived(lines, 6);
  const all = lines();
  assert.deepEqual(all.map((l) => l.i ?? l.message), [0, 1, 2, 'inbound connection refused', 10, 'log lines suppressed (rate limit); every refusal is still counted in gateway_refused_total']);
  const summary = all.at(-1)!;
  assert.deepEqual([summary.kind, summary.suppressed, summary.byReason], ['tunnel', 7, { UNKNOWN_SERVICE: 4, BAD_AUTHORITY: 3 }]);
  assert.equal(log.pending('tunnel'), 0);
});
