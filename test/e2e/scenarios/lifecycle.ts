// Scenarios 5, 6 and 9: scaling under load, the life of exports and links, and three clusters.
import assert from 'node:assert/strict';
import { DEMO_NS, deployDemoApps, eventually, link, mustMesh, waitForShadows, demoTargets } from '../../../src/demo/index.js';
import { allFrom, clusterName, describe, podIPs, shadow, traffic, underLoad, url, waitShadow, type Scenario, type ScenarioContext } from './context.js';
import { rootRotation } from './rotation.js';

async function scaleWeb(ctx: ScenarioContext, replicas: number): Promise<void> {
  const c = await ctx.env.client(ctx.b);
  await c.patch(`/apis/apps/v1/namespaces/${DEMO_NS}/deployments/web`, { spec: { replicas } });
  await eventually(`${replicas} ready web pods in ${ctx.b}`, async () => (await podIPs(ctx, ctx.b, 'app=web')).length === replicas, 60_000);
}

export const scaling: Scenario = {
  id: 5,
  name: 'scale the remote Deployment up and down under load: nothing fails but requests to pods that went away; new pods get traffic',
  async run(ctx, step) {
    const B = clusterName(ctx.b);
    const before = new Set((await podIPs(ctx, ctx.b, 'app=web')).map((p) => p.name));
    try {
      await step('scale up 2 → 4 under load', async () => {
        const r = await underLoad(ctx, { url: url('web', B), count: 60, intervalMs: 50 }, () => scaleWeb(ctx, 4));
        allFrom(r, B, 'traffic while scaling up');
        // The mirror follows the remote EndpointSlices: the next requests reach the new pods too.
        const fresh = (await podIPs(ctx, ctx.b, 'app=web')).map((p) => p.name).filter((n) => !before.has(n));
        await eventually('a new web pod answering', async () => {
          const again = await traffic(ctx, { url: url('web', B), count: 20 });
          allFrom(again, B, 'traffic after scaling up');
          return fresh.some((n) => again.summary.byPod[n]) ? true : undefined;
        }, 30_000, 1_000);
      });
      await step('scale down 4 → 1 under load', async () => {
        const r = await underLoad(ctx, { url: url('web', B), count: 60, intervalMs: 50 }, () => scaleWeb(ctx, 1));
        // At most one in-flight request per pod that went away may fail.
        assert.ok(r.summary.failed <= 3, `at most 3 failures while 3 pods went away: ${describe(r)}`);
        allFrom(await traffic(ctx, { url: url('web', B), count: 5 }), B, 'traffic after scaling down');
      });
    } finally {
      await scaleWeb(ctx, 2);
    }
  },
};

export const lifecycle: Scenario = {
  id: 6,
  name: 'unexport, delete, re-export a Service; unlink and relink: shadows follow, nothing is left behind',
  async run(ctx, step) {
    const B = clusterName(ctx.b);
    const A = clusterName(ctx.a);
    const kc = ctx.env.kubeconfig;
    await step('unexport and re-export', async () => {
      await mustMesh(['unexport', 'tcp', '-n', DEMO_NS, '--context', ctx.b], kc);
      await waitShadow(ctx, `tcp-${B}`, 'gone');
      await mustMesh(['export', 'tcp', '-n', DEMO_NS, '--context', ctx.b, '--mode', 'gateway'], kc);
      await waitShadow(ctx, `tcp-${B}`, 'ready');
      allFrom(await traffic(ctx, { tcp: `tcp-${B}.${DEMO_NS}.svc.cluster.local:7070`, count: 2 }), B, 'TCP after re-export');
    });
    await step('delete and re-create the exported Service', async () => {
      const c = await ctx.env.client(ctx.b);
      const svc = await c.get<{ metadata: Record<string, unknown> & { labels?: Record<string, string> }; spec: Record<string, unknown> }>(`/api/v1/namespaces/${DEMO_NS}/services/grpc`);
      await c.delete(`/api/v1/namespaces/${DEMO_NS}/services/grpc`);
      await waitShadow(ctx, `grpc-${B}`, 'gone');
      const { clusterIP: _ip, clusterIPs: _ips, ...spec } = svc.spec;
      await c.create(`/api/v1/namespaces/${DEMO_NS}/services`, { metadata: { name: 'grpc', namespace: DEMO_NS, labels: svc.metadata.labels }, spec });
      await waitShadow(ctx, `grpc-${B}`, 'ready');
    });
    await step('unlink removes every shadow, the Link and both sides\' credentials; relink brings them back', async () => {
      await mustMesh(['unlink', ctx.a, ctx.b, '--wait-timeout', '60s'], kc, 90_000);
      const a = await ctx.env.client(ctx.a);
      const b = await ctx.env.client(ctx.b);
      await eventually(`no shadows of ${B} in ${ctx.a}`, async () => (await a.list('/api/v1/services', { labelSelector: `mirror.mesh.io/cluster-name=${B}` })).items.length === 0, 60_000);
      const leftovers = [
        ...(await a.list(`/apis/discovery.k8s.io/v1/endpointslices`, { labelSelector: `mirror.mesh.io/cluster-name=${B}` })).items.map((o) => `EndpointSlice ${o.metadata?.name}`),
        ...(await a.list('/apis/multicluster.mesh.io/v1alpha1/namespaces/mesh-system/links')).items.filter((o) => o.metadata?.name === B).map(() => 'Link'),
        ...(await a.list('/api/v1/namespaces/mesh-system/secrets')).items.filter((o) => o.metadata?.name === `cluster-credentials-${B}`).map(() => 'credentials Secret'),
        ...(await b.list('/api/v1/namespaces/mesh-system/serviceaccounts')).items.filter((o) => o.metadata?.name === `mesh-link-${A}`).map(() => `ServiceAccount mesh-link-${A} in ${ctx.b}`),
      ];
      assert.deepEqual(leftovers, [], 'nothing left behind after unlink');
      await link(ctx.env, ctx.a, ctx.b, { progress: ctx.log });
      await waitForShadows(ctx.env, ctx.a, demoTargets(B));
      allFrom(await traffic(ctx, { url: url('web', B), count: 4 }), B, 'traffic after relink');
    });
  },
};

export const threeClusters: Scenario = {
  id: 9,
  name: 'three clusters: a linked to b and c, both mirrored; a full root rotation under load; unlinking c leaves b untouched',
  skip: (ctx) => (ctx.c ? undefined : 'needs a third context (--context-c)'),
  async run(ctx, step) {
    const C = clusterName(ctx.c!);
    const B = clusterName(ctx.b);
    await deployDemoApps(ctx.env, ctx.c!, C, { progress: ctx.log });
    await link(ctx.env, ctx.a, ctx.c!, { progress: ctx.log });
    await step('both mirrored', async () => {
      await waitShadow(ctx, `web-${C}`, 'ready');
      allFrom(await traffic(ctx, { url: url('web', C), count: 6 }), C, `web-${C}`);
      allFrom(await traffic(ctx, { url: url('web', B), count: 6 }), B, `web-${B}`);
    });
    await step('root rotation across the three clusters under a steady request loop: zero failed requests, GatewayReachable unchanged', async () => {
      if (!ctx.trustRoot) {
        ctx.log('  skipped: needs the shared trust root (--trust-root) to add a new root next to it');
        return;
      }
      await rootRotation(ctx, [ctx.a, ctx.b, ctx.c!], [ctx.b, ctx.c!]);
    });
    await step(`unlinking ${C} leaves ${B} untouched`, async () => {
      const a = await ctx.env.client(ctx.a);
      const snapshot = async () => (await a.list('/api/v1/services', { labelSelector: `mirror.mesh.io/cluster-name=${B}` })).items.map((s) => `${s.metadata?.name}@${s.metadata?.uid}/${s.metadata?.resourceVersion}`).sort();
      const before = await snapshot();
      await mustMesh(['unlink', ctx.a, ctx.c!, '--wait-timeout', '60s'], ctx.env.kubeconfig, 90_000);
      await eventually(`no shadows of ${C} in ${ctx.a}`, async () => (await a.list('/api/v1/services', { labelSelector: `mirror.mesh.io/cluster-name=${C}` })).items.length === 0, 60_000);
      assert.deepEqual(await snapshot(), before, `${B}'s shadows unchanged`);
      assert.equal((await shadow(ctx, `web-${B}`))?.mode, 'gateway');
      allFrom(await traffic(ctx, { url: url('web', B), count: 6 }), B, `web-${B} after unlinking ${C}`);
    });
  },
};
