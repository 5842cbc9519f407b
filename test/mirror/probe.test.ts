// Gateway probe: HTTP/2 GET /live over mutual TLS with the controller's own identity (issued from the mesh
// issuer Secret), against a tiny HTTP/2 TLS server standing in for the remote gateway.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stopAll } from '../helpers/process.js';
import { createRoot, createIssuer, issueLeaf, generateKeyPair, serverTlsOptions, secureContextOptions, peerIdentity } from '../../src/trust/index.js';
import {
  startCluster, stopCluster, prepareLocal, putSecret, adminKubeconfig, createLink, exportService, until, startController,
  getLink, condition, ensureNamespace, putSlice, slicesOf, GATEWAY_ID, type Cluster, type ControllerProc,
} from './env.js';

let local: Cluster;
let remote: Cluster;
let ctl: ControllerProc;
let server: http2.Http2SecureServer;
let healthy = true;
const peers: string[] = [];

const root = createRoot({ trustDomain: 'mesh.local' });
const localIssuer = createIssuer({ root, clusterName: 'local' });
const remoteIssuer = createIssuer({ root, clusterName: 'remote' });
const gwKey = generateKeyPair();
const gwLeaf = issueLeaf({ issuer: remoteIssuer, identity: GATEWAY_ID, publicKey: gwKey.publicKey });

before(async () => {
  server = http2.createSecureServer(serverTlsOptions({ keyPem: gwKey.keyPem, chainPem: gwLeaf.chainPem, bundle: root.certPem }, { alpn: ['h2'] }), (req, res) => {
    try {
      peers.push(peerIdentity(req.socket as TLSSocket).uri);
    } catch {
      peers.push('unknown');
    }
    res.writeHead(req.url === '/live' && healthy ? 200 : 503).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  [local, remote] = await Promise.all([startCluster('local'), startCluster('remote')]);
  await prepareLocal(local);
  await local.client.create('/api/v1/namespaces/mesh-system/secrets', {
    apiVersion: 'v1', kind: 'Secret', type: 'kubernetes.io/tls', metadata: { name: 'mesh-issuer', namespace: 'mesh-system' },
    data: { 'tls.crt': Buffer.from(localIssuer.certPem).toString('base64'), 'tls.key': Buffer.from(localIssuer.keyPem).toString('base64'), 'ca.crt': Buffer.from(root.certPem).toString('base64') },
  });
  await putSecret(local, 'cluster-credentials-remote', adminKubeconfig(remote));
  await putSlice(local, 'mesh-system', 'mesh-gateway', 'mesh-gateway-1', [{ ip: '127.0.20.1' }], [{ name: 'tunnel', port: 4143 }]);
  await ensureNamespace(local, 'shop');
  await createLink(local, 'remote', {
    targetClusterName: 'remote',
    clusterCredentialsSecret: 'cluster-credentials-remote',
    gateway: { addresses: ['127.0.0.1'], port: (server.address() as AddressInfo).port, identity: GATEWAY_ID },
    probe: { path: '/live', period: '1s', timeout: '500ms', failureThreshold: 2 },
  });
  ctl = await startController(local);
});

after(async () => {
  await stopAll();
  server?.close();
  await Promise.all([stopCluster(local), stopCluster(remote)]);
});

const readyStates = async () => (await slicesOf(local, 'shop', 'web-remote')).flatMap((s) => s.endpoints ?? []).map((e) => e.conditions?.ready);

test('probe succeeds with the controller identity; status and metrics show it', async () => {
  await exportService(remote, 'shop', 'web');
  const link = await until(async () => {
    const l = await getLink(local, 'remote');
    return condition(l, 'GatewayReachable')?.status === 'True' && l?.status?.lastProbe?.success ? l : undefined;
  }, 'GatewayReachable=True');
  assert.equal(typeof link.status?.lastProbe?.latencyMs, 'number');
  assert.equal(condition(link, 'Ready')?.status, 'True');
  assert.ok(peers.includes('spiffe://mesh.local/ns/mesh-system/sa/mesh-controller'), `gateway saw the controller identity: ${peers.slice(0, 3).join(',')}`);
  await until(async () => (await readyStates()).join() === 'true', 'shadow endpoints ready');
  const m = await ctl.metrics();
  assert.match(m, /mesh_mirror_gateway_probe_up\{link="remote"\} 1/);
  assert.match(m, /mesh_mirror_gateway_probe_latency_seconds_count\{link="remote"\} [1-9]/);
});

test('after failureThreshold misses shadow endpoints go not ready; back on the first success', async () => {
  healthy = false;
  const link = await until(async () => {
    const l = await getLink(local, 'remote');
    return condition(l, 'GatewayReachable')?.status === 'False' ? l : undefined;
  }, 'GatewayReachable=False');
  assert.match(condition(link, 'GatewayReachable')?.message ?? '', /503/);
  await until(async () => (await readyStates()).join() === 'false', 'shadow endpoints not ready');
  assert.match(await ctl.metrics(), /mesh_mirror_gateway_probe_up\{link="remote"\} 0/);
  healthy = true;
  await until(async () => (await readyStates()).join() === 'true', 'ready again after one success');
  await until(async () => condition(await getLink(local, 'remote'), 'GatewayReachable')?.status === 'True', 'GatewayReachable=True again');
});

test('a gateway with a certificate from another root fails the probe', async () => {
  const otherRoot = createRoot({ trustDomain: 'mesh.local' });
  const otherIssuer = createIssuer({ root: otherRoot, clusterName: 'remote' });
  const k = generateKeyPair();
  const leaf = issueLeaf({ issuer: otherIssuer, identity: GATEWAY_ID, publicKey: k.publicKey });
  server.setSecureContext(secureContextOptions({ keyPem: k.keyPem, chainPem: leaf.chainPem, bundle: root.certPem }));
  await until(async () => condition(await getLink(local, 'remote'), 'GatewayReachable')?.status === 'False', 'foreign root refused');
  await until(async () => (await readyStates()).join() === 'false', 'endpoints not ready with a foreign gateway');
  server.setSecureContext(secureContextOptions({ keyPem: gwKey.keyPem, chainPem: gwLeaf.chainPem, bundle: root.certPem }));
  await until(async () => (await readyStates()).join() === 'true', 'ready with the real gateway again');
});

// Issue 17 item 1: the probe's credentials were cached by issuer only, so a new root in the bundle (the
// first step of a root rotation) was ignored and gateways with leaves from the new root failed the probe.
test('root rotation, step 1: a root added to mesh-trust-roots (issuer unchanged) is trusted by the probe at once', async () => {
  const root2 = createRoot({ trustDomain: 'mesh.local' });
  const issuer2 = createIssuer({ root: root2, clusterName: 'remote' });
  const k = generateKeyPair();
  const leaf = issueLeaf({ issuer: issuer2, identity: GATEWAY_ID, publicKey: k.publicKey });
  await until(async () => condition(await getLink(local, 'remote'), 'GatewayReachable')?.status === 'True', 'probe healthy before');
  // The remote gateway already on the new root (it trusts both): refused while our bundle has only the old one.
  server.setSecureContext(secureContextOptions({ keyPem: k.keyPem, chainPem: leaf.chainPem, bundle: root.certPem + root2.certPem }));
  await until(async () => condition(await getLink(local, 'remote'), 'GatewayReachable')?.status === 'False', 'a gateway of an untrusted root refused');
  await local.client.create('/api/v1/namespaces/mesh-system/configmaps', {
    apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'mesh-trust-roots', namespace: 'mesh-system' }, data: { 'ca-bundle.crt': root.certPem + root2.certPem },
  });
  await until(async () => condition(await getLink(local, 'remote'), 'GatewayReachable')?.status === 'True', 'the probe trusts the new root', 30_000);
  await until(async () => (await readyStates()).join() === 'true', 'shadow endpoints ready again');
  assert.match(ctl.proc.stderr(), /probe identity re-issued: trust material changed/);
  server.setSecureContext(secureContextOptions({ keyPem: gwKey.keyPem, chainPem: gwLeaf.chainPem, bundle: root.certPem }));
});

// Issue 17 item 1, measured in the e2e: a mounted --trust-bundle lags a ConfigMap change by a kubelet sync;
// the probe must verify with the watched material the Identity service signs with, not the stale file.
test('root rotation: with --issuer-dir/--trust-bundle files still on the old root, the probe trusts the watched bundle', async () => {
  const root3 = createRoot({ trustDomain: 'mesh.local' });
  const issuer3 = createIssuer({ root: root3, clusterName: 'remote' });
  const k = generateKeyPair();
  const leaf = issueLeaf({ issuer: issuer3, identity: GATEWAY_ID, publicKey: k.publicKey });
  const dir = mkdtempSync(join(tmpdir(), 'probe-issuer-'));
  try {
    // The mounted files as a kubelet left them: the issuer and only the old root.
    writeFileSync(join(dir, 'tls.crt'), localIssuer.certPem);
    writeFileSync(join(dir, 'tls.key'), localIssuer.keyPem);
    writeFileSync(join(dir, 'ca-bundle.crt'), root.certPem);
    await ctl.proc.stop();
    ctl = await startController(local, ['--issuer-dir', dir, '--trust-bundle', join(dir, 'ca-bundle.crt')]);
    await until(async () => condition(await getLink(local, 'remote'), 'GatewayReachable')?.status === 'True', 'probe healthy with the files');
    // The watched ConfigMap gains root3 (the files do not); the remote gateway moves to a leaf under root3.
    await local.client.patch('/api/v1/namespaces/mesh-system/configmaps/mesh-trust-roots', { data: { 'ca-bundle.crt': root.certPem + root3.certPem } });
    await until(async () => /probe identity re-issued: trust material changed[^\n]*"roots":2/.test(ctl.proc.stderr()) || /"roots":2[^\n]*probe identity re-issued/.test(ctl.proc.stderr()), 'the probe re-derived its identity from the watched bundle', 30_000);
    server.setSecureContext(secureContextOptions({ keyPem: k.keyPem, chainPem: leaf.chainPem, bundle: root.certPem + root3.certPem }));
    const before = condition(await getLink(local, 'remote'), 'GatewayReachable');
    // Several probe periods (1 s) with the new gateway: still True, never a transition.
    const seen = peers.length;
    await until(async () => peers.length >= seen + 3, 'three probes answered by the gateway on the new root', 30_000);
    const after = condition(await getLink(local, 'remote'), 'GatewayReachable');
    assert.equal(after?.status, 'True');
    assert.equal(after?.lastTransitionTime, before?.lastTransitionTime, 'GatewayReachable never changed');
  } finally {
    server.setSecureContext(secureContextOptions({ keyPem: gwKey.keyPem, chainPem: gwLeaf.chainPem, bundle: root.certPem }));
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the controller hosts the Identity service once the issuer is present', async () => {
  await ctl.proc.waitFor(/identity service listening/, 20_000);
});
