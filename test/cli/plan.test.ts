// Pure planning functions: install order, link objects, rollback, unlink, gateway address, trust check.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parse } from 'yaml';
import {
  installPlan, uninstallPlan, rollbackPlan, unlinkPlan, gatewayAddress, compareTrust, linkSpec, linkObject,
  linkKubeconfig, credentialsSecret, parseSelector, secretText, linkApiServer, type DoneStep,
} from '../../src/cli/plan.js';
import { describe as describeId } from '../../src/cli/kinds.js';
import { podTrouble } from '../../src/cli/cmd-install.js';

const trust = { issuerCertPem: 'ISSUER', issuerKeyPem: 'KEY', rootsPem: 'ROOT' };

test('install plan: namespace before the trust material, workloads last, CRDs (if any) first', () => {
  const plan = installPlan({ clusterName: 'east', image: 'mesh-federation:1', version: '1' }, trust);
  const names = plan.map((o) => `${o.kind}/${o.metadata.name}`);
  const idx = (n: string) => names.indexOf(n);
  assert.ok(idx('Namespace/mesh-system') >= 0);
  assert.ok(idx('Namespace/mesh-system') < idx('Secret/mesh-issuer'));
  assert.ok(idx('Secret/mesh-issuer') < idx('Deployment/mesh-controller'));
  assert.ok(idx('ConfigMap/mesh-trust-roots') < idx('Deployment/mesh-gateway'));
  assert.ok(idx('ServiceAccount/mesh-controller') < idx('Deployment/mesh-controller'));
  const crds = plan.filter((o) => o.kind === 'CustomResourceDefinition');
  for (const c of crds) assert.ok(plan.indexOf(c) < idx('Namespace/mesh-system'));
  const secret = plan[idx('Secret/mesh-issuer')] as unknown as { type: string; data: Record<string, string> };
  assert.equal(secret.type, 'kubernetes.io/tls');
  assert.deepEqual(['tls.crt', 'tls.key', 'ca.crt'].map((k) => secretText(secret, k)), ['ISSUER', 'KEY', 'ROOT']);
  const cm = plan[idx('ConfigMap/mesh-trust-roots')] as unknown as { data: Record<string, string> };
  assert.deepEqual(cm.data, { 'ca-bundle.crt': 'ROOT' });
  const un = uninstallPlan(plan).map(describeId);
  assert.equal(un[un.length - 1 - crds.length], 'Namespace mesh-system', 'namespace is removed after everything in it');
});

test('rollback undoes only what this run created, newest first', () => {
  const done: DoneStep[] = [
    { side: 'target', id: { apiVersion: 'v1', kind: 'ServiceAccount', name: 'mesh-link-a', namespace: 'mesh-system' }, created: true },
    { side: 'target', id: { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', name: 'mesh-link-a' }, created: false },
    { side: 'source', id: { apiVersion: 'v1', kind: 'Secret', name: 'cluster-credentials-b', namespace: 'mesh-system' }, created: true },
  ];
  assert.deepEqual(rollbackPlan(done).map((u) => [u.side, u.id.kind, u.action]), [
    ['source', 'Secret', 'delete'],
    ['target', 'ClusterRole', 'keep'],
    ['target', 'ServiceAccount', 'delete'],
  ]);
  assert.deepEqual(rollbackPlan([]), []);
});

test('unlink removes the Link first, then the Secret, then every target-side object', () => {
  const plan = unlinkPlan('a', 'b');
  assert.deepEqual(plan.map((p) => `${p.side}:${describeId(p.id)}`), [
    'source:Link mesh-system/b',
    'source:Secret mesh-system/cluster-credentials-b',
    'target:RoleBinding mesh-system/mesh-link-a',
    'target:Role mesh-system/mesh-link-a',
    'target:ClusterRoleBinding mesh-link-a',
    'target:ClusterRole mesh-link-a',
    'target:ServiceAccount mesh-system/mesh-link-a',
  ]);
});

const svc = (type: string, extra: object = {}) => ({ spec: { type, ports: [{ name: 'tunnel', port: 4143, nodePort: 31443 }, { name: 'admin', port: 4191, nodePort: 31191 }] }, ...extra });
const nodes = [{ status: { addresses: [{ type: 'InternalIP', address: '172.18.0.3' }, { type: 'Hostname', address: 'n1' }] } }];

test('gateway address: LoadBalancer ingress (IP or hostname), NodePort fallback, clear refusals', () => {
  assert.deepEqual(gatewayAddress(svc('LoadBalancer', { status: { loadBalancer: { ingress: [{ ip: '127.0.5.10' }, { hostname: 'gw.example' }] } } }), nodes), {
    ok: true, addresses: ['127.0.5.10', 'gw.example'], port: 4143, via: 'LoadBalancer',
  });
  assert.deepEqual(gatewayAddress(svc('NodePort'), nodes), { ok: true, addresses: ['172.18.0.3'], port: 31443, via: 'NodePort' });
  assert.deepEqual(gatewayAddress(svc('LoadBalancer'), nodes), { ok: true, addresses: ['172.18.0.3'], port: 31443, via: 'NodePort' });
  const noIngress = gatewayAddress({ spec: { type: 'LoadBalancer', ports: [{ name: 'tunnel', port: 4143 }] } }, nodes);
  assert.equal(noIngress.ok, false);
  assert.match(!noIngress.ok ? noIngress.reason : '', /no ingress address yet/);
  const clusterIp = gatewayAddress({ spec: { type: 'ClusterIP', ports: [{ name: 'tunnel', port: 4143 }] } }, nodes);
  assert.match(!clusterIp.ok ? clusterIp.reason : '', /ClusterIP/);
  assert.match((gatewayAddress(svc('NodePort'), []) as { reason: string }).reason, /no node reports an address/);
  assert.match((gatewayAddress({ spec: { type: 'NodePort', ports: [] } }, nodes) as { reason: string }).reason, /no tunnel port/);
});

test('trust comparison: shared root passes; different roots refused with both fingerprints explained', () => {
  const r1 = { fingerprint: 'AA:BB:CC:DD:EE:FF:00:11:22:33:44', trustDomain: 'mesh.local' };
  const r2 = { fingerprint: '99:88:77:66:55:44:33:22:11:00:FF', trustDomain: 'mesh.local' };
  assert.deepEqual(compareTrust({ name: 'a', roots: [r1] }, { name: 'b', roots: [r2, r1] }), { ok: true, shared: [r1.fingerprint] });
  const no = compareTrust({ name: 'a', roots: [r1] }, { name: 'b', roots: [r2] });
  assert.equal(no.ok, false);
  const text = !no.ok ? no.explanation : '';
  assert.match(text, /a and b do not share a trust root/);
  assert.match(text, /AA:BB:CC/);
  assert.match(text, /99:88:77/);
});

test('link spec: gateway mode carries the gateway and its identity; flat mode has none; --selector maps per mode', () => {
  const base = { targetClusterName: 'b', targetClusterDomain: 'cluster.local', trustDomain: 'mesh.local' };
  const g = linkSpec({ ...base, mode: 'gateway', gateway: { addresses: ['127.0.2.1'], port: 4143 } });
  assert.deepEqual(g.gateway, { addresses: ['127.0.2.1'], port: 4143, identity: 'spiffe://mesh.local/ns/mesh-system/sa/mesh-gateway' });
  assert.equal(g.clusterCredentialsSecret, 'cluster-credentials-b');
  const f = linkSpec({ ...base, mode: 'flat', selector: { app: 'web' } });
  assert.equal(f.gateway, undefined);
  assert.deepEqual(f.flatSelector, { matchLabels: { app: 'web' } });
  assert.throws(() => linkSpec({ ...base, mode: 'gateway' }), /gateway address/);
  const link = linkObject({ ...base, mode: 'flat' }, f);
  assert.equal(link.metadata.name, 'b');
  assert.equal(link.metadata.namespace, 'mesh-system');
});

test('link kubeconfig holds the target API address, its CA and the token; the Secret is labelled by target', () => {
  const text = linkKubeconfig({ clusterName: 'b', server: 'https://127.0.0.1:6443', caPem: 'CA PEM', token: 'tok', user: 'mesh-link-a' });
  const kc = parse(text) as { clusters: { cluster: Record<string, string> }[]; users: { user: { token: string } }[]; 'current-context': string };
  assert.equal(kc.clusters[0].cluster.server, 'https://127.0.0.1:6443');
  assert.equal(Buffer.from(kc.clusters[0].cluster['certificate-authority-data'], 'base64').toString(), 'CA PEM');
  assert.equal(kc.users[0].user.token, 'tok');
  assert.equal(kc['current-context'], 'b');
  const s = credentialsSecret('b', text);
  assert.equal(s.metadata.name, 'cluster-credentials-b');
  assert.equal(s.metadata.labels?.['mesh.io/link-target'], 'b');
  assert.equal(secretText(s, 'kubeconfig'), text);
});

test('selector parsing: equality only, clear error otherwise', () => {
  assert.deepEqual(parseSelector('app=web,tier==api'), { app: 'web', tier: 'api' });
  assert.throws(() => parseSelector('app in (a,b)'), /not key=value/);
  assert.throws(() => parseSelector('=x'), /not key=value/);
});

test('link API address: override, else the advertised address when the kubeconfig only reaches loopback', () => {
  assert.equal(linkApiServer('https://127.0.0.1:40000', { ip: '172.18.0.3', port: 6443 }).server, 'https://172.18.0.3:6443');
  assert.equal(linkApiServer('https://127.0.0.1:40000', { ip: '172.18.0.3', port: 6443 }, 'https://b-control-plane:6443').server, 'https://b-control-plane:6443');
  // The sandbox (loopback mode) advertises a loopback address: the kubeconfig's is right.
  assert.equal(linkApiServer('https://127.168.0.1:39913', { ip: '127.168.0.1', port: 39913 }).server, 'https://127.168.0.1:39913');
  assert.equal(linkApiServer('https://api.prod.example:443', { ip: '10.0.0.1', port: 443 }).server, 'https://api.prod.example:443');
  assert.equal(linkApiServer('https://localhost:6443', { ip: 'fd00::1', port: 6443 }).server, 'https://[fd00::1]:6443');
  assert.equal(linkApiServer('https://127.0.0.1:1', undefined).server, 'https://127.0.0.1:1');
});

test('install names why pods are not ready', () => {
  assert.equal(podTrouble([{ metadata: { name: 'gw-1' }, status: { phase: 'Running', containerStatuses: [{ ready: false, restartCount: 3, state: { waiting: { reason: 'CrashLoopBackOff' } } }] } }]), 'gw-1: CrashLoopBackOff, 3 restarts');
  assert.equal(podTrouble([{ metadata: { name: 'c-1' }, status: { phase: 'Pending' } }]), 'c-1: Pending');
  assert.equal(podTrouble([{ metadata: { name: 'ok' }, status: { phase: 'Running', containerStatuses: [{ ready: true }] } }]), undefined);
  assert.equal(podTrouble([]), undefined);
});
