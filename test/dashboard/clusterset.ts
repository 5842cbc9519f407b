// The dashboard's browser tests' clusterset: three sandbox clusters with the mesh installed under one root,
// the demo's apps exported from cluster-b (and its web app, not yet exported, in cluster-c), the traffic
// agent in cluster-a, and Links a→b, a→c and c→b. Built with the demo's own steps; stop() removes it all.
import { mkdtempSync, rmSync, existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DEFAULT_IMAGE, collectionOf, demoApps, deployDemoApps, deployTrafficAgent, installMesh, link, setUpClusters, waitForShadows, demoTargets, eventually,
  type Clusters, type SandboxEnvironment,
} from '../../src/demo/index.js';
import { applyObject } from '../../src/kube/index.js';

export const A = 'cluster-a';
export const B = 'cluster-b';
export const C = 'cluster-c';

export interface Clusterset {
  dir: string;
  env: SandboxEnvironment;
  clusters: Clusters;
  sandboxId?: string;
  stop(): Promise<void>;
}

/** cluster-c runs the demo's web app (one replica) without exporting it: a test exports it later. */
async function webInC(env: SandboxEnvironment): Promise<void> {
  const c = await env.client(C);
  const objs = demoApps(C, DEFAULT_IMAGE, 1).filter((o) => o.kind === 'Namespace' || o.metadata.name === 'web');
  for (const o of objs) await applyObject(c, collectionOf(o), o);
  await eventually('web ready in cluster-c', async () => {
    const d = await c.get<{ status?: { readyReplicas?: number } }>('/apis/apps/v1/namespaces/demo/deployments/web');
    return (d.status?.readyReplicas ?? 0) >= 1;
  }, 120_000);
}

export async function startClusterset(log: (line: string) => void): Promise<Clusterset> {
  const dir = mkdtempSync(join(tmpdir(), 'mesh-dashboard-'));
  let clusters: Clusters | undefined;
  const stop = async () => {
    clusters?.env.close();
    await clusters?.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    clusters = await setUpClusters({ dir: join(dir, 'sandbox'), names: [A, B, C], network: 'auto', timeoutMs: 150_000 });
    const env = clusters.env;
    log(`network: ${env.network} — ${clusters.why}`);
    await installMesh(env, [A, B, C], { rootDir: join(dir, 'trust'), progress: log });
    await Promise.all([
      deployDemoApps(env, B, B, { progress: log }),
      deployTrafficAgent(env, A, A, { progress: log }),
      webInC(env),
    ]);
    await link(env, A, B, { progress: log });
    await link(env, A, C, { progress: log });
    await link(env, C, B, { progress: log });
    if (env.network === 'isolated') await env.flatRoute(A, B, false);
    await waitForShadows(env, A, demoTargets(B).filter((t) => t.mode === 'gateway'));
    const state = join(dir, 'sandbox', 'state.json');
    const sandboxId = existsSync(state) ? (JSON.parse(readFileSync(state, 'utf8')) as { sandboxId: string }).sandboxId : undefined;
    return { dir, env, clusters, ...(sandboxId ? { sandboxId } : {}), stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
