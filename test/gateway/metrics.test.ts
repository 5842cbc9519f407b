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

test('metrics: tunnel-open latency per exported Service (inbound) and per remote cluster (outbound), labels only from the current routes', async () => {
  const m = new GatewayMetrics();
  const svc = (name: string) => ({ namespace: 'demo', name, ports: [] });
  m.connect.setCurrent([svc('fast'), svc('slow')], [{ cluster: 'cluster-b', clusterDomain: 'cluster.local', addresses: ['127.0.0.1'], port: 4143 }]);
  for (let i = 0; i < 4; i++) m.connect.inbound('demo', 'fast', 0.0008);
  for (let i = 0; i < 2; i++) m.connect.inbound('demo', 'slow', 0.2);
  m.connect.inbound('demo', 'gone', 0.003);
  m.connect.outbound('cluster-b', 0.004);
  m.connect.outbound('cluster-x', 0.004);
  const h = 'gateway_connect_seconds';
  const inbound = (s: string, le: string) => `le="${le}",direction="inbound",remote_cluster="",namespace="demo",service="${s}"`;
  let text = await m.registry.metrics();
  assert.equal(value(text, `${h}_bucket`, inbound('fast', '0.001')), 4, 'the fast service: every open under 1 ms');
  assert.equal(value(text, `${h}_bucket`, inbound('slow', '0.001')), 0);
  assert.equal(value(text, `${h}_bucket`, inbound('slow', '0.25')), 2, 'the slow service: its own buckets');
  assert.equal(value(text, `${h}_count`, 'direction="inbound",remote_cluster="",namespace="other",service="other"'), 1, 'a Service not exported is "other"');
  assert.equal(value(text, `${h}_count`, 'direction="outbound",remote_cluster="cluster-b",namespace="",service=""'), 1);
  assert.equal(value(text, `${h}_count`, 'direction="outbound",remote_cluster="other",namespace="",service=""'), 1, 'a cluster not linked is "other"');
  assert.ok(!text.includes('cluster-x') && !text.includes('"gone"'), 'no label from outside the routes');
  // A Service no longer exported and a remote no longer linked take their series with them.
  m.connect.setCurrent([svc('fast')], []);
  text = await m.registry.metrics();
  assert.equal(value(text, `${h}_count`, 'direction="inbound",remote_cluster="",namespace="demo",service="fast"'), 4);
  assert.ok(!text.includes('service="slow"') && !text.includes('remote_cluster="cluster-b"'), 'the series of what left are gone');
});
