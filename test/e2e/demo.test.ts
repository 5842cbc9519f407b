// `mesh demo` as a user runs it (`npm start`): a process that brings up two clusters, prints a report and
// stays up; the printed facts must be true, and Ctrl-C must leave nothing behind.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startMesh, stopAll } from '../helpers/process.js';
import { KubeClient, kubeConfigFromString } from '../../src/kube/index.js';
import { listNetns } from '../../src/sandbox/netns.js';
import { markedProcesses } from '../sandbox/sandbox-helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'mesh-demo-test-'));
after(async () => {
  await stopAll();
  // If the test failed half-way, make sure no sandbox outlives it.
  if (existsSync(join(dir, 'sandbox', 'state.json'))) {
    const down = startMesh(['sandbox', 'down', '--dir', join(dir, 'sandbox')]);
    await down.exited;
  }
  rmSync(dir, { recursive: true, force: true });
});

interface Summary {
  source: string;
  target: string;
  network: string;
  targets: Array<{ label: string; shadow: string; path: string; ok: number; total: number; byCluster: Record<string, number>; byPod: Record<string, number> }>;
  gateways: Array<{ cluster: string; alive: boolean; identity?: string }>;
}

test('mesh demo: traffic from cluster-a answered by cluster-b pods through the gateway and flat; Ctrl-C removes everything', async () => {
  const demo = startMesh(['demo', '--dir', dir]);
  await demo.waitFor(/demo ready: /, 420_000);
  const out = demo.stdout();
  const err = demo.stderr();
  assert.match(err, /network: (isolated|loopback) — /, 'says which network and why');
  if (process.getuid?.() !== 0) assert.match(err, /falling back to loopback/);
  assert.match(out, /demo ready: every request was answered/, out);
  // The failover act: answers from cluster-a, then cluster-b, then cluster-a again, with the Events.
  const act = out.slice(out.indexOf('Failover act'));
  assert.match(act, /scale deployment\/web[\s\S]*answered by cluster-b[\s\S]*answered by cluster-a/, act);
  assert.match(act, /Event Failover: serving cluster-b \(was cluster-a\)/, act);
  assert.match(act, /Event Failback: serving cluster-a \(was cluster-b\)/, act);

  const summary = JSON.parse(readFileSync(join(dir, 'demo-summary.json'), 'utf8')) as Summary;
  const sandboxDir = join(dir, 'sandbox');
  const state = JSON.parse(readFileSync(join(sandboxDir, 'state.json'), 'utf8')) as { sandboxId: string };
  const kubeconfig = join(sandboxDir, 'kubeconfig');
  const b = await KubeClient.create(kubeConfigFromString(readFileSync(kubeconfig, 'utf8'), 'cluster-b'));
  const a = await KubeClient.create(kubeConfigFromString(readFileSync(kubeconfig, 'utf8'), 'cluster-a'));
  try {
    // The printed facts are true: every request was answered, only by pods that exist in cluster-b.
    const podsB = new Set((await b.list<{ metadata: { name: string } }>('/api/v1/namespaces/demo/pods')).items.map((p) => p.metadata.name));
    const paths = new Set<string>();
    for (const t of summary.targets) {
      assert.ok(t.total > 0 && t.ok === t.total, `${t.label}: ${t.ok}/${t.total}`);
      assert.deepEqual(Object.keys(t.byCluster), ['cluster-b'], `${t.label} answered by ${JSON.stringify(t.byCluster)}`);
      for (const pod of Object.keys(t.byPod)) assert.ok(podsB.has(pod), `${t.label}: ${pod} is a pod of cluster-b`);
      // The path printed is the shadow's real mode in cluster-a.
      const shadow = await a.get<{ metadata: { annotations?: Record<string, string> } }>(`/api/v1/namespaces/demo/services/${t.shadow}`);
      assert.equal(t.path, shadow.metadata.annotations?.['mirror.mesh.io/mode'], `${t.label}: path`);
      paths.add(t.path);
      assert.ok(out.includes(t.label), `report names ${t.label}`);
    }
    assert.deepEqual([...paths].sort(), ['flat', 'gateway'], 'both paths were exercised');
    assert.equal(summary.gateways[0]?.alive, true, JSON.stringify(summary.gateways));
    assert.equal(summary.gateways[0]?.identity, 'spiffe://mesh.local/ns/mesh-system/sa/mesh-gateway');
    assert.match(out, /kubectl --kubeconfig \S+ --context cluster-a get svc,endpointslices -n demo/);
    assert.match(out, /mesh links cluster-a/);
  } finally {
    a.close();
    b.close();
  }

  // Ctrl-C: everything it started goes away.
  demo.child.kill('SIGINT');
  const code = await Promise.race([demo.exited, new Promise<string>((r) => setTimeout(() => r('still running after 90s'), 90_000).unref())]);
  assert.equal(code, 0, `exit: ${code}\n${demo.stderr().slice(-2000)}`);
  assert.match(demo.stderr(), /stopped; nothing left running/);
  assert.deepEqual(markedProcesses(state.sandboxId), [], 'no process of the sandbox is left');
  assert.deepEqual(listNetns().filter((n) => n.startsWith(`msb${state.sandboxId}-`)), [], 'no network namespace is left');
  assert.equal(existsSync(join(sandboxDir, 'state.json')), false);
});
