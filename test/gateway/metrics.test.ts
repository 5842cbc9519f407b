// Tunnel metrics are tallied as plain numbers and written into prom-client on scrape: a scrape must show
// exactly what was counted, and later scrapes only the increments (no double counting).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GatewayMetrics } from '../../src/gateway/index.js';

function value(text: string, name: string, labels: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}}`));
  return line === undefined ? undefined : Number(line.split(' ').pop());
}

test('metrics: connections, tunnels opened/active and bytes appear on scrape and never double count', async () => {
  const m = new GatewayMetrics();
  const l = { direction: 'outbound', remote_cluster: 'b', namespace: 'ns', service: 's' } as const;
  const key = 'direction="outbound",remote_cluster="b",namespace="ns",service="s"';
  m.countConnection('outbound', 'b');
  m.countConnection('outbound', 'b');
  const t1 = m.openTunnel(l);
  const t2 = m.openTunnel(l);
  t1.up += 10;
  t2.down += 5;
  let text = await m.registry.metrics();
  assert.equal(value(text, 'gateway_connections_total', 'direction="outbound",remote_cluster="b"'), 2);
  assert.equal(value(text, 'gateway_streams_opened_total', key), 2);
  assert.equal(value(text, 'gateway_streams_active', key), 2);
  assert.equal(value(text, 'gateway_bytes_total', `${key},flow="up"`), 10);
  assert.equal(value(text, 'gateway_bytes_total', `${key},flow="down"`), 5);
  assert.equal(m.bytesRelayed(), 15, 'both directions of the open tunnels');
  m.closeTunnel(t1);
  m.closeTunnel(t1); // twice: counted once
  t2.down += 2;
  text = await m.registry.metrics();
  assert.equal(value(text, 'gateway_connections_total', 'direction="outbound",remote_cluster="b"'), 2);
  assert.equal(value(text, 'gateway_streams_opened_total', key), 2);
  assert.equal(value(text, 'gateway_streams_active', key), 1);
  assert.equal(value(text, 'gateway_bytes_total', `${key},flow="up"`), 10);
  assert.equal(value(text, 'gateway_bytes_total', `${key},flow="down"`), 7);
  assert.equal(m.bytesRelayed(), 17, 'closed tunnels still count, each byte once');
  m.closeTunnel(t2);
  text = await m.registry.metrics();
  assert.equal(value(text, 'gateway_streams_active', key), 0);
  assert.equal(value(text, 'gateway_bytes_total', `${key},flow="down"`), 7);
  assert.equal(m.bytesRelayed(), 17, 'after the last close');
});
