// `npm run bench -- failover` (issue 14): on a 2-cluster sandbox (cluster-a linked to cluster-b through the
// gateways), `web` exported in both with traffic-policy local-first (hold-down 0, so each trial starts at
// once) and one web pod in cluster-a.
//  - failover: a loop inside cluster-a's network (a new connection every 20 ms to the import's VIP) runs while
//    the bench scales cluster-a's web to 0 (its last pod goes); the time from the local EndpointSlice showing no ready endpoint (the
//    bench's watch) to the loop's first answer from cluster-b. ≥ 20 trials, p50/p99.
//  - gateway removal: cluster-b's gateway scaled to 0 while b serves; from the moment its pod is gone to
//    cluster-a's import showing b not serving (ProbeFailing), beside the Link's probe window
//    (period × failureThreshold) measured in the same run.
// Same machine, same clock: the loop prints Date.now() with each answer.
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setUpClusters, installMesh, deployDemoApps, link, eventually, DEMO_NS, type Clusters } from '../src/demo/index.js';
import { Informer, type KubeClient } from '../src/kube/index.js';
import { DEFAULT_PROBE, durationMs } from '../src/api/index.js';
import type { EndpointSlice } from '../src/mirror/index.js';
import { stopAll } from '../test/helpers/process.js';
import type { BenchResult } from './report.js';

const [A, B] = ['cluster-a', 'cluster-b'];
const TRIALS = Number(process.env.MESH_BENCH_FAILOVER_TRIALS ?? 20);
const GATEWAY_TRIALS = Number(process.env.MESH_BENCH_GATEWAY_TRIALS ?? 3);
const MCS = '/apis/multicluster.x-k8s.io/v1beta1';
const webPath = `/apis/apps/v1/namespaces/${DEMO_NS}/deployments/web`;
const gwPath = '/apis/apps/v1/namespaces/mesh-system/deployments/mesh-gateway';

// Runs in cluster-a's network: GET every 20 ms (new connection each), prints `<ms> <cluster>` per answer;
// stops after 5 answers from another cluster than argv[2] or after argv[3] ms (bounded either way).
const LOOP = `
const http=require('node:http');const [url,home,maxMs]=[process.argv[1],process.argv[2],Number(process.argv[3])];
const end=Date.now()+maxMs;let remote=0;
function one(){if(Date.now()>end||remote>=5){process.exit(0)}
const r=http.get(url,{agent:false,timeout:1000},(res)=>{let b='';res.on('data',(d)=>b+=d);res.on('end',()=>{try{const c=JSON.parse(b).cluster;console.log(Date.now()+' '+c);if(c!==home)remote++}catch{console.log(Date.now()+' ?')}})});
r.on('error',()=>console.log(Date.now()+' error'));r.on('timeout',()=>r.destroy());setTimeout(one,20)}
one();`;

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((x, y) => x - y);
  return s.length ? s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]! : NaN;
};

interface Import {
  spec?: { ips?: string[] };
  status?: { clusters?: Array<{ cluster: string; serving?: boolean; reason?: string }> };
}

const servingOf = async (a: KubeClient) => ((await a.get<Import>(`${MCS}/namespaces/${DEMO_NS}/serviceimports/web`).catch(() => undefined))?.status?.clusters ?? []).filter((c) => c.serving).map((c) => c.cluster).sort().join(',');

async function pods(c: KubeClient, ns: string, selector: string): Promise<Array<{ name: string; ready: boolean }>> {
  const l = await c.list<{ metadata: { name: string; deletionTimestamp?: string }; status?: { conditions?: Array<{ type: string; status: string }> } }>(`/api/v1/namespaces/${ns}/pods`, { labelSelector: selector });
  return l.items.map((p) => ({ name: p.metadata.name, ready: !p.metadata.deletionTimestamp && !!p.status?.conditions?.some((x) => x.type === 'Ready' && x.status === 'True') }));
}

async function exportWeb(c: KubeClient): Promise<void> {
  const annotations = { 'multicluster.mesh.io/traffic-policy': 'local-first', 'multicluster.mesh.io/hold-down-seconds': '0' };
  await c.create(`${MCS}/namespaces/${DEMO_NS}/serviceexports`, { apiVersion: 'multicluster.x-k8s.io/v1beta1', kind: 'ServiceExport', metadata: { name: 'web', namespace: DEMO_NS, annotations } });
}

/** One failover trial: ms from the local slice's last ready endpoint going to the first remote answer. */
async function failoverTrial(cl: Clusters, a: KubeClient, vip: string, unreadyAt: () => number | undefined, reset: () => void): Promise<number> {
  await eventually('cluster-a serving alone with its one pod', async () => (await servingOf(a)) === A && (await pods(a, DEMO_NS, 'app=web')).filter((p) => p.ready).length === 1, 120_000, 200);
  reset();
  const loop = cl.env.execNode(A, ['-e', LOOP, `http://${vip}:8080/`, A, '30000'], 60_000);
  await new Promise((r) => setTimeout(r, 1000));
  // Scaled to 0, not the pod deleted: a replacement pod that is ready first would leave nothing to fail over.
  await a.patch(webPath, { spec: { replicas: 0 } });
  const out = await loop;
  await a.patch(webPath, { spec: { replicas: 1 } });
  const t0 = unreadyAt();
  if (t0 === undefined) throw new Error('the local slice never showed no ready endpoint');
  const first = out.stdout.split('\n').map((l) => l.split(' ')).find(([t, c]) => Number(t) >= t0 && c === B);
  if (!first) throw new Error(`no answer from ${B} after the local pod went unready: ${out.stdout.slice(-400)} ${out.stderr}`);
  return Number(first[0]) - t0;
}

async function gatewayTrial(a: KubeClient, b: KubeClient): Promise<number> {
  await eventually(`${B} serving`, async () => (await servingOf(a)) === B, 120_000, 200);
  await b.patch(gwPath, { spec: { replicas: 0 } });
  await eventually(`${B}'s gateway pod gone`, async () => (await pods(b, 'mesh-system', 'app.kubernetes.io/name=mesh-gateway')).length === 0, 60_000, 50);
  const gone = Date.now();
  await eventually(`${B} out of cluster-a's import`, async () => (await servingOf(a)) === '', 60_000, 50);
  const removed = Date.now();
  await b.patch(gwPath, { spec: { replicas: 1 } });
  return removed - gone;
}

export async function run(): Promise<BenchResult> {
  const dir = mkdtempSync(join(tmpdir(), 'mesh-bench-failover-'));
  let cl: Clusters | undefined;
  let inf: Informer<EndpointSlice> | undefined;
  try {
    cl = await setUpClusters({ dir: join(dir, 'sandbox'), names: [A, B], network: 'auto', timeoutMs: 150_000 });
    const progress = (l: string) => console.log(`# ${l}`);
    await installMesh(cl.env, [A, B], { rootDir: join(dir, 'trust'), progress });
    await Promise.all([deployDemoApps(cl.env, A, A, { progress }), deployDemoApps(cl.env, B, B, { progress })]);
    await link(cl.env, A, B, { progress });
    const [a, b] = await Promise.all([cl.env.client(A), cl.env.client(B)]);
    await a.patch(webPath, { spec: { replicas: 1 } });
    await Promise.all([exportWeb(a), exportWeb(b)]);
    const vip = await eventually('the import\'s VIP in cluster-a', async () => (await a.get<Import>(`${MCS}/namespaces/${DEMO_NS}/serviceimports/web`).catch(() => undefined))?.spec?.ips?.[0], 120_000);
    // The "last local pod unready" moment: the first time the watch sees web's local slices with no ready endpoint.
    let unready: number | undefined;
    inf = new Informer<EndpointSlice>(a, { path: `/apis/discovery.k8s.io/v1/namespaces/${DEMO_NS}/endpointslices`, labelSelector: 'kubernetes.io/service-name=web,endpointslice.kubernetes.io/managed-by=endpointslice-controller.k8s.io' });
    const seen = () => {
      const ready = inf!.list().reduce((n, s) => n + (s.endpoints ?? []).filter((e) => e.conditions?.ready !== false).length, 0);
      if (ready === 0 && unready === undefined) unready = Date.now();
    };
    inf.onObject({ onAdd: seen, onUpdate: seen, onDelete: seen });
    inf.start();
    await inf.waitForSync();
    const failovers: number[] = [];
    for (let i = 0; i < TRIALS; i++) {
      failovers.push(await failoverTrial(cl, a, vip, () => unready, () => (unready = undefined)));
      progress(`failover trial ${i + 1}/${TRIALS}: ${failovers[i]} ms`);
    }
    await a.patch(webPath, { spec: { replicas: 0 } });
    const removals: number[] = [];
    for (let i = 0; i < GATEWAY_TRIALS; i++) {
      removals.push(await gatewayTrial(a, b));
      progress(`gateway removal trial ${i + 1}/${GATEWAY_TRIALS}: ${removals[i]} ms`);
    }
    const window = durationMs(DEFAULT_PROBE.period) * DEFAULT_PROBE.failureThreshold;
    const period = durationMs(DEFAULT_PROBE.period);
    return {
      name: 'failover (issue 14): local-first, 2-cluster sandbox, gateway mode',
      notes: [
        `Failover: from cluster-a's EndpointSlice of web showing no ready endpoint (a watch in the bench) to the first answer from ${B} to a loop in cluster-a (new connection every 20 ms), ${TRIALS} trials. Gateway removal: from ${B}'s gateway pod gone to cluster-a's import showing ${B} not serving, ${GATEWAY_TRIALS} trials, beside the Link probe's period and its window (period × failureThreshold, the defaults).`,
        `Machine load (1-min average) at the end: ${loadavg()[0]?.toFixed(1)} on ${cpus().length} cores (shared).`,
      ],
      rows: [
        { metric: 'failover p50', subject: 'last local pod unready → first remote answer', value: pct(failovers, 50), unit: 'ms', baseline: { name: 'probe period', value: period } },
        { metric: 'failover p99', subject: 'last local pod unready → first remote answer', value: pct(failovers, 99), unit: 'ms', baseline: { name: 'probe period', value: period }, target: '< 2000 ms', met: pct(failovers, 99) < 2000 },
        { metric: 'gateway removal p50', subject: 'remote gateway gone → out of the import', value: pct(removals, 50), unit: 'ms', baseline: { name: 'probe window', value: window } },
        { metric: 'gateway removal max', subject: 'remote gateway gone → out of the import', value: Math.max(...removals), unit: 'ms', baseline: { name: 'probe window', value: window }, target: `≤ probe window + 1 period (${window + period} ms)`, met: Math.max(...removals) <= window + period },
      ],
    };
  } finally {
    inf?.stop();
    cl?.env.close();
    await cl?.stop();
    await stopAll();
    rmSync(dir, { recursive: true, force: true });
  }
}
