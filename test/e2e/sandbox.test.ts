// The scenario suite on ONE sandbox of three clusters (isolated network when root, loopback otherwise —
// said plainly), the mesh installed in each with one shared root. Each scenario is a subtest; the runner's
// dry-run for kind is checked too. The `after` hook always removes the sandbox.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { setUpClusters, installMesh, type Clusters } from '../../src/demo/index.js';
import { listNetns } from '../../src/sandbox/netns.js';
import { markedProcesses } from '../sandbox/sandbox-helpers.js';
import { stopAll } from '../helpers/process.js';
import { SCENARIOS, type ScenarioContext } from './scenarios/index.js';
import { prepare, runScenario, renderResult, parseScenarioList, selected } from './runner.js';

const dir = mkdtempSync(join(tmpdir(), 'mesh-e2e-'));
const [A, B, C] = ['cluster-a', 'cluster-b', 'cluster-c'];
let clusters: Clusters | undefined;
let ctx: ScenarioContext | undefined;
let setupError: unknown;

before(async () => {
  try {
    clusters = await setUpClusters({ dir: join(dir, 'sandbox'), names: [A, B, C], network: 'auto', timeoutMs: 150_000 });
    console.log(`# e2e network: ${clusters.env.network} — ${clusters.why}`);
    const log = (l: string) => console.log(`# ${l}`);
    await installMesh(clusters.env, [A, B, C], { rootDir: join(dir, 'trust'), progress: log });
    ctx = { env: clusters.env, a: A, b: B, c: C, trustRoot: join(dir, 'trust'), log };
    await prepare(ctx);
  } catch (err) {
    setupError = err;
  }
});

after(async () => {
  const id = existsSync(join(dir, 'sandbox', 'state.json')) ? (JSON.parse(readFileSync(join(dir, 'sandbox', 'state.json'), 'utf8')) as { sandboxId: string }).sandboxId : undefined;
  clusters?.env.close();
  await clusters?.stop();
  await stopAll();
  if (id) {
    assert.deepEqual(markedProcesses(id), [], 'no sandbox process is left');
    assert.deepEqual(listNetns().filter((n) => n.startsWith(`msb${id}-`)), [], 'no network namespace is left');
  }
  rmSync(dir, { recursive: true, force: true });
});

test('setup: three sandbox clusters, mesh installed with one root, apps deployed, cluster-a linked to cluster-b', () => {
  if (setupError) throw setupError;
  assert.ok(ctx);
});

// MESH_E2E_SCENARIOS=9,10 runs only those (while working on them); CI runs all.
const only = parseScenarioList(process.env.MESH_E2E_SCENARIOS);
for (const s of only ? selected(only) : SCENARIOS) {
  test(`scenario ${s.id}: ${s.name}`, async (t) => {
    if (!ctx) { t.skip(`setup failed: ${setupError instanceof Error ? setupError.message : String(setupError)}`); return; }
    const r = await runScenario(s, ctx);
    console.log(`# ${renderResult(r).replaceAll('\n', '\n# ')}`);
    if (r.outcome === 'skip') { t.skip(r.detail ?? 'skipped'); return; }
    assert.equal(r.outcome, 'pass', r.detail);
  });
}

test('runner: --dry-run for kind prints the docker commands it would run and touches nothing', () => {
  const r = spawnSync(process.execPath, [new URL('./run.js', import.meta.url).pathname, '--env', 'kind', '--dry-run', '--context-a', 'kind-cluster-a', '--context-b', 'kind-cluster-b', '--scenarios', '2,7'], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, KUBECONFIG: join(dir, 'no-such-kubeconfig') } });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /dry-run: docker exec cluster-a-control-plane ip route replace <pod CIDR of kind-cluster-b> via <node IP of kind-cluster-b>/);
  assert.match(r.stdout, /dry-run: docker exec cluster-b-control-plane mv \/etc\/kubernetes\/manifests\/kube-apiserver.yaml/);
  assert.match(r.stdout, /dry-run: scenario 2\./);
  assert.doesNotMatch(r.stdout, /dry-run: scenario 1\./);
  const bad = spawnSync(process.execPath, [new URL('./run.js', import.meta.url).pathname, '--context-a', 'x', '--context-b', 'y', '--scenarios', '42'], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /no scenario 42/);
});
