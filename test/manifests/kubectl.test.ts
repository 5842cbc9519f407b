// The rendered manifests through kubectl itself: `kubectl apply --dry-run=server --validate=strict`
// against the embedded API server (a real API server round trip, admission included, nothing stored).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stopAll } from '../helpers/process.js';
import { startApiServer, type TestApiServer } from '../helpers/apiserver.js';
import { toYamlStream } from '../../src/cli/render.js';
import { installPlan } from '../../src/cli/plan.js';
import { renderLinkTargetRbac } from '../../src/cli/render.js';
import { createRoot, createIssuer } from '../../src/trust/index.js';

const hasKubectl = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' }).status === 0;
let api: TestApiServer | undefined;
let dir = '';

before(async () => {
  if (!hasKubectl) return;
  api = await startApiServer({ clusterName: 'cluster-a' });
  dir = mkdtempSync(join(tmpdir(), 'mesh-kubectl-'));
});
after(async () => {
  await stopAll();
  await api?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function kubectl(args: string[]): { code: number; out: string } {
  const r = spawnSync('kubectl', ['--kubeconfig', api!.kubeconfigPath, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status ?? -1, out: `${r.stdout}${r.stderr}` };
}

test('kubectl apply --dry-run=server accepts every rendered object and stores none', (t) => {
  if (!hasKubectl || !api) {
    t.skip('kubectl is not installed');
    return;
  }
  const root = createRoot({ trustDomain: 'mesh.local' });
  const issuer = createIssuer({ root, clusterName: 'cluster-a' });
  const plan = [...installPlan({ clusterName: 'cluster-a', image: 'mesh-federation:0.1.0', version: '0.1.0', ha: true, gatewayServiceType: 'NodePort' }, { issuerCertPem: issuer.certPem, issuerKeyPem: issuer.keyPem, rootsPem: root.certPem }), ...renderLinkTargetRbac('cluster-b')];
  // Namespaced objects need their namespace (and Links their CRD) to exist even in a dry run, as on any cluster.
  const pre = plan.filter((o) => o.kind === 'Namespace' || o.kind === 'CustomResourceDefinition');
  writeFileSync(join(dir, 'pre.yaml'), toYamlStream(pre));
  writeFileSync(join(dir, 'all.yaml'), toYamlStream(plan));
  const p = kubectl(['apply', '-f', join(dir, 'pre.yaml')]);
  assert.equal(p.code, 0, p.out);
  const r = kubectl(['apply', '--dry-run=server', '--validate=strict', '-f', join(dir, 'all.yaml')]);
  assert.equal(r.code, 0, r.out);
  const lines = r.out.trim().split('\n');
  assert.equal(lines.length, plan.length, r.out);
  for (const l of lines) assert.match(l, /\((server dry run)\)$/);
  const deploys = kubectl(['get', 'deployments', '-A', '-o', 'name']);
  assert.equal(deploys.out.trim(), '', 'a dry run stored something');
});

test('the server refuses a broken object in a dry run (so the test above can fail)', (t) => {
  if (!hasKubectl || !api) {
    t.skip('kubectl is not installed');
    return;
  }
  writeFileSync(join(dir, 'bad.yaml'), toYamlStream([{ apiVersion: 'v1', kind: 'Service', metadata: { name: 'x', namespace: 'mesh-system' }, spec: { ports: [{ port: 99999 }] } }]));
  const r = kubectl(['apply', '--dry-run=server', '-f', join(dir, 'bad.yaml')]);
  assert.notEqual(r.code, 0, r.out);
});
