// The whole demo: two sandbox clusters, one root, the mesh in both, apps in B, traffic from A, a report, and
// a failover act (local-first: A's own web pods, gone and back).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DemoError } from './errors.js';
import { setUpClusters, type Clusters, type NetworkChoice } from './sandbox.js';
import { demoTargets } from './names.js';
import { deployDemoApps, deployTrafficAgent, gatewayFacts, installMesh, link, sendTraffic, waitForShadows, type Progress } from './steps.js';
import { renderReport, summarize } from './report.js';
import { failoverAct } from './failover-act.js';

export interface DemoOptions {
  dir: string;
  network: NetworkChoice;
  progress: Progress;
  /** Where the report goes (stdout in the CLI). */
  out: (text: string) => void;
  /** Aborting stops the clusters at once; the step in flight then fails and runDemo throws Interrupted. */
  signal?: AbortSignal;
}

export interface RunningDemo {
  clusters: Clusters;
  summaryPath: string;
  stop(): Promise<void>;
}

export async function runDemo(o: DemoOptions): Promise<RunningDemo> {
  const [A, B] = ['cluster-a', 'cluster-b'];
  const dir = resolve(o.dir);
  const sandboxDir = join(dir, 'sandbox');
  mkdirSync(dir, { recursive: true });
  o.progress(`starting two clusters (${A}, ${B}) in ${sandboxDir} …`);
  const clusters = await setUpClusters({ dir: sandboxDir, names: [A, B], network: o.network, ...(o.signal ? { signal: o.signal } : {}) });
  const { env } = clusters;
  const onAbort = () => void clusters.stop();
  o.signal?.addEventListener('abort', onAbort, { once: true });
  const step = async <T>(p: Promise<T>): Promise<T> => {
    const v = await p;
    if (o.signal?.aborted) throw new DemoError('Interrupted', 'interrupted during start-up; everything was removed');
    return v;
  };
  try {
    if (o.signal?.aborted) throw new DemoError('Interrupted', 'interrupted during start-up; everything was removed');
    o.progress(`clusters up; network: ${env.network} — ${clusters.why}`);
    o.progress('installing the mesh in both clusters with one shared trust root …');
    await step(installMesh(env, [A, B], { rootDir: join(dir, 'trust'), progress: o.progress }));
    await step(Promise.all([
      deployDemoApps(env, B, B, { progress: o.progress }),
      deployTrafficAgent(env, A, A, { progress: o.progress }),
    ]));
    o.progress(`linking: ${A} mirrors what ${B} exports …`);
    await step(link(env, A, B, { progress: o.progress }));
    const flatRoutes = env.network === 'isolated';
    if (flatRoutes) {
      o.progress(`isolated network: pods of ${A} cannot reach pods of ${B} until flat routes are added, so flat mode needs:`);
      o.progress(`$ mesh sandbox route --flat ${A} ${B} --dir ${sandboxDir}`);
      await step(env.flatRoute(A, B, false));
    }
    const targets = demoTargets(B);
    o.progress('waiting for the shadow Services in cluster-a …');
    await step(waitForShadows(env, A, targets));
    o.progress(`sending traffic from the client pod in ${A} …`);
    const results = await step(sendTraffic(env, A, targets));
    const gateways = await gatewayFacts(env, A).catch(() => []);
    const facts = { source: A, target: B, network: env.network, networkWhy: clusters.why, kubeconfig: env.kubeconfig, dir: sandboxDir, results, gateways, flatRoutes };
    o.out(renderReport(facts));
    // Issue 14: the last act moves the answers between clusters and back, printed as a timeline.
    o.out((await step(failoverAct(env, A, B, { progress: o.progress }))).join('\n') + '\n');
    const summaryPath = join(dir, 'demo-summary.json');
    writeFileSync(summaryPath, JSON.stringify(summarize(facts), null, 2) + '\n');
    const ok = results.every((r) => r.report.summary.ok === r.report.summary.total && r.report.summary.total > 0);
    o.out(`demo ready: ${ok ? 'every request was answered' : 'SOME REQUESTS FAILED (see errors above)'}; facts in ${summaryPath}. The clusters keep running; press Ctrl-C to stop and clean up.`);
    return {
      clusters,
      summaryPath,
      async stop() {
        env.close();
        await clusters.stop();
      },
    };
  } catch (err) {
    env.close();
    await clusters.stop();
    if (o.signal?.aborted && !(err instanceof DemoError && err.code === 'Interrupted')) throw new DemoError('Interrupted', 'interrupted during start-up; everything was removed');
    throw err;
  } finally {
    o.signal?.removeEventListener('abort', onAbort);
  }
}
