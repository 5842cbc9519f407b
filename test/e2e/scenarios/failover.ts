// Scenario 12 (issue 14): one clusterset name, web.demo.svc.clusterset.local, served by cluster-a's own web
// pods, cluster-b's through the gateways (a's Link to b has one) and cluster-c's pod to pod (a's Link to c
// is flat), under a traffic policy, with the traffic agent in cluster-a sending a steady bounded loop (a new
// connection per request, 20 requests/s). local-first: all from a; a's pods gone → b and c with at most 3
// failed requests, a Failover Event; pods back → a again after the hold-down, a Failback Event. b's gateway
// gone → b leaves the import on its probe, requests keep succeeding through c (gateway mode); the flat
// route to c's pods cut → c leaves on the flat probe, requests go to b (flat mode). b's API server cut off (not
// its gateway) → b keeps serving, the import says its endpoints are the last known. ordered c,b → c while
// it has pods, then b.
import assert from 'node:assert/strict';
import { DEMO_NS, deployDemoApps, eventually, link } from '../../../src/demo/index.js';
import type { ClientReport } from '../../../src/apps/index.js';
import type { ImportClusterStatus } from '../../../src/api/index.js';
import type { KubeClient } from '../../../src/kube/index.js';
import { allFrom, clusterName, describe, podIPs, traffic, underLoad, type Scenario, type ScenarioContext } from './context.js';

const MCS = '/apis/multicluster.x-k8s.io/v1beta1';
const exportsPath = `${MCS}/namespaces/${DEMO_NS}/serviceexports`;
const importPath = `${MCS}/namespaces/${DEMO_NS}/serviceimports/web`;
const webPath = `/apis/apps/v1/namespaces/${DEMO_NS}/deployments/web`;
const gatewayPath = '/apis/apps/v1/namespaces/mesh-system/deployments/mesh-gateway';
const URL_ = `http://web.${DEMO_NS}.svc.clusterset.local:8080/`;
/** 20 requests/s, a new connection each (the agent's client), bounded in count and time. */
const LOOP = { url: URL_, intervalMs: 50, timeoutMs: 2_000 };
const HOLD_DOWN_S = 5;
const MAX_FAILED = 3;

interface Import {
  status?: { clusters?: ImportClusterStatus[]; trafficPolicy?: string };
}

const policy = (p: Record<string, string>) => ({ 'multicluster.mesh.io/traffic-policy': 'local-first', 'multicluster.mesh.io/hold-down-seconds': String(HOLD_DOWN_S), ...p });

/** The same annotations on every exporter's ServiceExport (the oldest wins; equal ones are no conflict). */
async function exportWeb(clients: KubeClient[], annotations: Record<string, string>): Promise<void> {
  const body = { apiVersion: 'multicluster.x-k8s.io/v1beta1', kind: 'ServiceExport', metadata: { name: 'web', namespace: DEMO_NS, annotations } };
  for (const c of clients) {
    // The controller writes the export's status meanwhile: a replace from a stale read gets 409, read again.
    for (let attempt = 1; ; attempt++) {
      const live = await c.get<{ metadata: { resourceVersion?: string } }>(`${exportsPath}/web`).catch(() => undefined);
      try {
        if (live) await c.replace(`${exportsPath}/web`, { ...body, metadata: { ...body.metadata, resourceVersion: live.metadata.resourceVersion } });
        else await c.create(exportsPath, body);
        break;
      } catch (err) {
        if (attempt >= 5 || !/\b409\b/.test((err as Error).message)) throw err;
      }
    }
  }
}

async function scale(ctx: ScenarioContext, context: string, path: string, selector: string, ns: string, replicas: number): Promise<void> {
  await (await ctx.env.client(context)).patch(path, { spec: { replicas } });
  await eventually(`${path} at ${replicas} ready pods in ${context}`, async () => (await podIPs(ctx, context, selector, ns)).length === replicas, 90_000);
}
const scaleWeb = (ctx: ScenarioContext, context: string, n: number) => scale(ctx, context, webPath, 'app=web', DEMO_NS, n);

/** cluster-a's view: per cluster [serving, reason, apiReachable]. */
async function view(a: KubeClient): Promise<Record<string, ImportClusterStatus>> {
  const i = await a.get<Import>(importPath).catch(() => undefined);
  return Object.fromEntries((i?.status?.clusters ?? []).map((c) => [c.cluster, c]));
}

async function servingIs(a: KubeClient, want: string[], what: string, timeoutMs = 60_000): Promise<void> {
  await eventually(what, async () => {
    const v = await view(a);
    return Object.values(v).filter((c) => c.serving).map((c) => c.cluster).sort().join(',') === [...want].sort().join(',');
  }, timeoutMs);
}

/** The loop's answers after its last failure or after `fromSeq`: who answered the tail. */
function tail(r: ClientReport, fromSeq: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const x of r.results) if (x.seq >= fromSeq && x.ok && x.cluster) out[x.cluster] = (out[x.cluster] ?? 0) + 1;
  return out;
}

async function events(a: KubeClient, reason: string): Promise<string[]> {
  const l = await a.list<{ reason?: string; message?: string; involvedObject?: { kind?: string; name?: string } }>(`/api/v1/namespaces/${DEMO_NS}/events`);
  return l.items.filter((e) => e.reason === reason && e.involvedObject?.kind === 'ServiceImport' && e.involvedObject.name === 'web').map((e) => e.message ?? '');
}

export const failover: Scenario = {
  id: 12,
  name: 'federated web under a traffic policy: local-first failover and failback, a remote gateway down, a remote API server cut off, ordered',
  skip: (ctx) => (ctx.c ? undefined : 'needs a third context (--context-c)'),
  async run(ctx, step) {
    const [A, B, C] = [clusterName(ctx.a), clusterName(ctx.b), clusterName(ctx.c!)];
    const [a, b, c] = await Promise.all([ctx.env.client(ctx.a), ctx.env.client(ctx.b), ctx.env.client(ctx.c!)]);
    await Promise.all([deployDemoApps(ctx.env, ctx.a, A, { progress: ctx.log }), deployDemoApps(ctx.env, ctx.c!, C, { progress: ctx.log })]);
    await link(ctx.env, ctx.a, ctx.c!, { progress: ctx.log, mode: 'flat' });
    if (ctx.env.network === 'isolated' || ctx.env.network === 'docker') await ctx.env.flatRoute(ctx.a, ctx.c!, false);
    const replicas = (await a.get<{ spec: { replicas: number } }>(webPath)).spec.replicas;
    try {
      await exportWeb([a, b, c], policy({}));
      await step(`local-first: every answer from ${A}`, async () => {
        await eventually(`${A}'s import of web listing ${A}, ${B}, ${C}`, async () => Object.keys(await view(a)).length === 3, 60_000);
        await servingIs(a, [A], `${A}'s import of web serving ${A} only`);
        const v = await view(a);
        assert.deepEqual([v[B]?.reason, v[C]?.reason], ['Policy', 'Policy'], JSON.stringify(v));
        await eventually('the clusterset name answers', async () => (await traffic(ctx, { url: URL_, count: 3 })).summary.ok === 3, 60_000, 1_000);
        allFrom(await traffic(ctx, { ...LOOP, count: 20 }), A, 'local-first with local pods');
      });
      await step(`${A}'s web pods gone under a 20 req/s loop → answers from ${B}/${C}, at most ${MAX_FAILED} failed, a Failover Event`, async () => {
        let mark = 0;
        const r = await underLoad(ctx, { ...LOOP, count: 160 }, async () => {
          await scaleWeb(ctx, ctx.a, 0);
          await servingIs(a, [B, C], `${B} and ${C} serving`);
          mark = 1;
        });
        assert.ok(mark, 'the import moved');
        assert.ok(r.summary.failed <= MAX_FAILED, `at most ${MAX_FAILED} failed requests: ${describe(r)}`);
        const lastA = Math.max(-1, ...r.results.filter((x) => x.cluster === A).map((x) => x.seq));
        const after = tail(r, lastA + 1);
        assert.ok(!after[A] && (after[B] ?? 0) + (after[C] ?? 0) > 20, `after ${A}'s last answer, ${B}/${C} answer: ${JSON.stringify(after)}; ${describe(r)}`);
        const ev = await eventually('a Failover Event on the ServiceImport', async () => (await events(a, 'Failover'))[0], 30_000);
        assert.match(ev, new RegExp(`was ${A}\\)`));
      });
      await step(`${A}'s pods back → answers from ${A} again after the ${HOLD_DOWN_S}s hold-down (no failed request), a Failback Event`, async () => {
        const r = await underLoad(ctx, { ...LOOP, count: 300 }, async () => {
          await scaleWeb(ctx, ctx.a, replicas);
          await servingIs(a, [A], `${A} serving again`);
        });
        assert.equal(r.summary.failed, 0, describe(r));
        const firstA = Math.min(...r.results.filter((x) => x.cluster === A).map((x) => x.seq));
        assert.ok(Number.isFinite(firstA), `answers from ${A} again: ${describe(r)}`);
        const after = tail(r, firstA + 10);
        assert.deepEqual(Object.keys(after), [A], `after failback only ${A}: ${JSON.stringify(after)}`);
        await eventually('a Failback Event', async () => (await events(a, 'Failback')).length > 0, 30_000);
      });
      await step(`${B}'s gateway gone → ${B} leaves the import on its probe (ProbeFailing), requests succeed through ${C}`, async () => {
        await scaleWeb(ctx, ctx.a, 0);
        await servingIs(a, [B, C], `${B} and ${C} serving`);
        await scale(ctx, ctx.b, gatewayPath, 'app.kubernetes.io/name=mesh-gateway', 'mesh-system', 0);
        try {
          // The Link's probe: period 3 s × failureThreshold 3; slack for a loaded machine.
          await servingIs(a, [C], `${B} out of the import`, 30_000);
          assert.equal((await view(a))[B]?.reason, 'ProbeFailing');
          allFrom(await traffic(ctx, { ...LOOP, count: 40 }), C, `requests while ${B}'s gateway is down`);
        } finally {
          await scale(ctx, ctx.b, gatewayPath, 'app.kubernetes.io/name=mesh-gateway', 'mesh-system', 1);
        }
        await servingIs(a, [B, C], `${B} back in the import once its probe passes`);
      });
      if (ctx.env.network === 'isolated' || ctx.env.network === 'docker') {
        await step(`flat: the route to ${C}'s pods cut → ${C} leaves the import on the flat probe (TCP connects), requests succeed through ${B}`, async () => {
          await ctx.env.flatRoute(ctx.a, ctx.c!, true);
          try {
            await servingIs(a, [B], `${C} out of the import`, 45_000);
            assert.equal((await view(a))[C]?.reason, 'ProbeFailing');
            allFrom(await traffic(ctx, { ...LOOP, count: 40 }), B, `requests while ${C}'s pods are unreachable`);
          } finally {
            await ctx.env.flatRoute(ctx.a, ctx.c!, false);
          }
          await servingIs(a, [B, C], `${C} back in the import once its endpoints answer`, 45_000);
        });
      } else {
        ctx.log(`  - skipped: flat mode's data path cut — the loopback network has no per-cluster routes to cut`);
      }
      if (ctx.env.kind === 'sandbox' && ctx.env.network !== 'isolated') {
        ctx.log(`  - skipped: ${B}'s API server cut off — the loopback network cannot cut one cluster's API server (needs root: isolated network)`);
      } else {
        await step(`${B}'s API server cut off (its gateway up) → ${B} keeps serving its last known endpoints, and the import says so`, async () => {
          await ctx.env.stopApiServer(ctx.b, { silent: true });
          try {
            await eventually(`${A}'s import: ${B} apiReachable=false and still serving`, async () => {
              const v = (await view(a))[B];
              return v?.apiReachable === false && v.serving === true;
            }, 45_000, 1_000);
            const r = await traffic(ctx, { ...LOOP, count: 60 });
            assert.equal(r.summary.failed, 0, describe(r));
            assert.ok((r.summary.byCluster[B] ?? 0) > 0, `${B} still answers: ${describe(r)}`);
          } finally {
            await ctx.env.startApiServer(ctx.b);
          }
          await eventually(`${B} apiReachable again`, async () => (await view(a))[B]?.apiReachable === true, 30_000, 1_000);
        });
      }
      await step(`ordered ${C},${B}: ${C} while it has pods, then ${B}`, async () => {
        await exportWeb([a, b, c], { 'multicluster.mesh.io/traffic-policy': 'ordered', 'multicluster.mesh.io/failover-order': `${C},${B}`, 'multicluster.mesh.io/hold-down-seconds': String(HOLD_DOWN_S) });
        await scaleWeb(ctx, ctx.a, replicas);
        await servingIs(a, [C], `ordered: ${C} serving`);
        allFrom(await traffic(ctx, { ...LOOP, count: 20 }), C, `ordered with ${C} up`);
        await scaleWeb(ctx, ctx.c!, 0);
        try {
          await servingIs(a, [B], `ordered: ${B} serving once ${C} has no pods`);
          allFrom(await traffic(ctx, { ...LOOP, count: 20 }), B, `ordered with ${C} down`);
        } finally {
          await scaleWeb(ctx, ctx.c!, replicas);
        }
      });
    } finally {
      for (const cl of [a, b, c]) await cl.delete(`${exportsPath}/web`).catch(() => undefined);
      await scaleWeb(ctx, ctx.a, replicas).catch(() => undefined);
    }
  },
};
