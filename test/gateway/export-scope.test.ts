// Export scope and the caller rules over real mTLS (issue 15): gateway B exports echo.demo with
// `export-to: cluster-a`. Cluster-a's gateway gets through; cluster-c's gateway, asking for it by name, is
// refused: a reset for the raw TCP client behind it, 403 with the reason for an HTTP/2 CONNECT; the refusal
// is logged (caller, cluster, service, rule) and counted in gateway_authz_denied_total by rule source.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import http2 from 'node:http2';
import { captureLogs } from '../helpers/logs.js';
import { freePort } from '../helpers/ports.js';
import { startGateway, MemoryRouteSource, MemoryCredentials, GatewayMetrics, type Gateway, type RouteFile, type Credentials, type ExportedService } from '../../src/gateway/index.js';
import { createPki, roundTrip, outcomeOf } from './fixtures.js';
import { startPair, waitUntil, type Pair } from './pair.js';

const pki = createPki(['cluster-a', 'cluster-b', 'cluster-c']);

/** One CONNECT with a leaf: status, refusal reason header and body. */
async function connectAs(port: number, c: Credentials, authority: string): Promise<{ status: number; reason: string; body: string }> {
  const s = http2.connect(`https://127.0.0.1:${port}`, { ca: c.bundle, cert: c.certChain, key: c.key, checkServerIdentity: () => undefined });
  try {
    return await new Promise((resolve, reject) => {
      s.once('error', reject);
      const req = s.request({ ':method': 'CONNECT', ':authority': authority }, { endStream: false });
      let status = 0;
      let reason = '';
      const body: Buffer[] = [];
      req.on('response', (h) => {
        status = Number(h[':status']);
        reason = String(h['mesh-refusal-reason'] ?? '');
        if (status === 200) {
          resolve({ status, reason, body: '' });
          req.close();
        }
      });
      req.on('data', (d: Buffer) => body.push(d));
      req.on('end', () => resolve({ status, reason, body: Buffer.concat(body).toString() }));
      req.on('error', reject);
    });
  } finally {
    s.close();
  }
}

describe('export-to and allow lists at the exporting gateway (A and C → B)', () => {
  let p: Pair;
  let c: Gateway;
  let cPort: number;
  let routes: (extra: Partial<ExportedService>) => RouteFile;

  before(async () => {
    p = await startPair('connect', {}, pki);
    const base = p.bRouteFile();
    routes = (extra) => ({ ...base, exported: base.exported!.map((e) => ({ ...e, ...extra })) });
    cPort = await freePort();
    const cRoutes = new MemoryRouteSource();
    cRoutes.set({
      outbound: [{ outboundPort: cPort, remoteCluster: 'cluster-b', namespace: 'demo', service: 'echo', port: 7 }],
      remotes: [{ cluster: 'cluster-b', addresses: ['127.0.0.1'], port: p.b.tunnelPort, transport: 'connect' }],
    });
    c = await startGateway({ clusterName: 'cluster-c', host: '127.0.0.1', tunnelPort: 0, adminPort: 0, outboundPorts: { min: 1024, max: 65535 } }, { credentials: new MemoryCredentials(pki.leaf('cluster-c')), routes: cRoutes, metrics: new GatewayMetrics() });
    await waitUntil(() => c.outboundPorts().includes(cPort) && c.poolReady('cluster-b') > 0, 30_000, 'gateway C ready');
  });
  after(async () => {
    await c?.close();
    await p?.close();
  });

  test('export-to: cluster-a passes, cluster-c asking by name is reset (TCP) and gets 403 with the reason (CONNECT)', async () => {
    p.bRoutes.set(routes({ exportTo: 'cluster-a' }));
    assert.equal((await roundTrip(p.port, Buffer.from('from a'))).toString(), 'from a');
    const s = net.connect({ port: cPort, host: '127.0.0.1', allowHalfOpen: true });
    s.end('from c');
    assert.equal(await outcomeOf(s), 'ECONNRESET');
    const r = await connectAs(p.b.tunnelPort, pki.leaf('cluster-c'), 'echo.demo.svc.cluster.local:7');
    assert.equal(r.status, 403);
    assert.equal(r.reason, 'FORBIDDEN');
    assert.match(r.body, /not exported to cluster cluster-c \(export-to: cluster-a\)/);
    assert.match(await p.b.metrics.registry.getSingleMetricAsString('gateway_authz_denied_total'), /namespace="demo",service="echo",source="export-to"} [2-9]/);
    // The list changes: cluster-c is admitted.
    p.bRoutes.set(routes({ exportTo: 'cluster-a,cluster-c' }));
    assert.equal((await roundTrip(cPort, Buffer.from('from c, listed'))).toString(), 'from c, listed');
  });

  test('allow list cluster:cluster-a refuses cluster-c; an unparsable list refuses everyone with its reason', async () => {
    p.bRoutes.set(routes({ allowedIdentities: ['cluster:cluster-a'] }));
    assert.equal((await roundTrip(p.port, Buffer.from('a allowed'))).toString(), 'a allowed');
    const r = await connectAs(p.b.tunnelPort, pki.leaf('cluster-c'), 'echo.demo.svc.cluster.local:7');
    assert.equal(r.status, 403);
    assert.match(r.body, /its allowed-identities \[cluster:cluster-a\] does not admit it/);
    p.bRoutes.set(routes({ allowedIdentities: ['cluster:cluster-a', 'cluster:'] }));
    const s = net.connect({ port: p.port, host: '127.0.0.1', allowHalfOpen: true });
    s.end('nobody');
    assert.equal(await outcomeOf(s), 'ECONNRESET');
    const bad = await connectAs(p.b.tunnelPort, pki.leaf('cluster-a'), 'echo.demo.svc.cluster.local:7');
    assert.equal(bad.status, 403);
    assert.match(bad.body, /unparsable and admits nobody: invalid entry: "cluster:"/);
    assert.match(await p.b.metrics.registry.getSingleMetricAsString('gateway_authz_denied_total'), /source="service"} [2-9]/);
  });

  test('the namespace default applies to a Service with no list of its own', async () => {
    p.bRoutes.set(routes({ defaultAllowedIdentities: ['cluster:cluster-c'] }));
    const s = net.connect({ port: p.port, host: '127.0.0.1', allowHalfOpen: true });
    s.end('a, not in the default');
    assert.equal(await outcomeOf(s), 'ECONNRESET');
    assert.equal((await roundTrip(cPort, Buffer.from('c, in the default'))).toString(), 'c, in the default');
    assert.match(await p.b.metrics.registry.getSingleMetricAsString('gateway_authz_denied_total'), /source="namespace"} [1-9]/);
  });
});

describe('the denial log line (rate-limited refusal log): caller, cluster, service, rule', () => {
  let b: Gateway;
  const log = captureLogs();
  const routes = new MemoryRouteSource();
  before(async () => {
    routes.set({ exported: [{ namespace: 'demo', name: 'web', exportTo: 'cluster-a', ports: [{ port: 80, backends: [{ address: '127.0.0.1', port: 9 }] }] }] });
    b = await startGateway({ clusterName: 'cluster-b', host: '127.0.0.1', tunnelPort: 0, adminPort: 0 }, { credentials: new MemoryCredentials(pki.leaf('cluster-b')), routes, metrics: new GatewayMetrics(), logger: log.logger });
  });
  after(async () => {
    await b?.close();
  });

  test('a refused caller is logged with the rule that refused it', async () => {
    const r = await connectAs(b.tunnelPort, pki.leaf('cluster-c'), 'web.demo.svc.cluster.local:80');
    assert.equal(r.status, 403);
    const line = () => log.lines().find((l) => l.message === 'inbound tunnel refused' && l.ruleSource === 'export-to');
    await waitUntil(() => line() !== undefined, 5_000, 'the refusal log line');
    const l = line()!;
    assert.equal(l.caller, 'spiffe://mesh.local/ns/mesh-system/sa/mesh-gateway');
    assert.equal(l.callerCluster, 'cluster-c');
    assert.equal(l.service, 'demo/web');
    assert.equal(l.rule, 'export-to: cluster-a');
    assert.equal(l.reason, 'FORBIDDEN');
  });

  test('an unparsable policy is logged once when routing state brings it, as deny-all', async () => {
    routes.set({ exported: [{ namespace: 'demo', name: 'web', allowedIdentities: ['cluster:'], ports: [{ port: 80, backends: [{ address: '127.0.0.1', port: 9 }] }] }] });
    const line = () => log.lines().find((l) => l.message === 'unparsable authorization policies: deny-all until fixed');
    await waitUntil(() => line() !== undefined, 5_000, 'the unparsable-policy log line');
    assert.match(JSON.stringify(line()!.policies), /Service demo\/web allowed-identities invalid entry: \\"cluster:\\" names no valid cluster.*admits nobody/);
  });
});
