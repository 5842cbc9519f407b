// Scenario 10: the Multi-Cluster Services API on the three clusters. `hello` (cluster-b's and cluster-c's web
// pods, exported with a ServiceExport only, no export label) is imported in every cluster, the exporters
// included: one ServiceImport and one VIP each. From cluster-a the VIP reaches cluster-b through the gateways
// (a's Link to b has a gateway) and cluster-c pod to pod (a's Link to c is flat); from cluster-b it reaches
// its own pods. An unexported Service crosses neither way. Unexporting removes the import everywhere.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEMO_NS, deployDemoApps, deployTrafficAgent, eventually, link } from '../../../src/demo/index.js';
import { readRoot } from '../../../src/trust/index.js';
import type { KubeClient } from '../../../src/kube/index.js';
import { clusterName, describe, probeGateway, traffic, type Scenario, type ScenarioContext } from './context.js';
import { writeLeaf } from './security.js';

const MCS = '/apis/multicluster.x-k8s.io/v1beta1';
export const exports = `${MCS}/namespaces/${DEMO_NS}/serviceexports`;
const imports = `${MCS}/namespaces/${DEMO_NS}/serviceimports`;

export interface Import {
  spec?: { ips?: string[]; type?: string; ports?: Array<{ port: number; protocol?: string }> };
  status?: { clusters?: Array<{ cluster: string }> };
}

export async function getImport(c: KubeClient, name: string): Promise<Import | undefined> {
  return c.get<Import>(`${imports}/${name}`).catch(() => undefined);
}

/** `hello`: the web pods on 8080, exported with a ServiceExport (and nothing else). */
export async function exportHello(c: KubeClient): Promise<void> {
  await c.create(`/api/v1/namespaces/${DEMO_NS}/services`, { metadata: { name: 'hello' }, spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 8080, targetPort: 8080 }] } }).catch(() => undefined);
  await c.create(exports, { apiVersion: 'multicluster.x-k8s.io/v1beta1', kind: 'ServiceExport', metadata: { name: 'hello' } }).catch(() => undefined);
}

async function remoteGateway(ctx: ScenarioContext): Promise<{ host: string; port: number }> {
  const a = await ctx.env.client(ctx.a);
  const l = await a.get<{ spec: { gateway?: { addresses?: string[]; port?: number } } }>(`/apis/multicluster.mesh.io/v1alpha1/namespaces/mesh-system/links/${clusterName(ctx.b)}`);
  const host = l.spec.gateway?.addresses?.[0];
  assert.ok(host && l.spec.gateway?.port);
  return { host, port: l.spec.gateway.port };
}

export const mcs: Scenario = {
  id: 10,
  name: 'MCS API: ServiceExport in b (gateway) and c (flat) → a ServiceImport and VIP in every cluster; the VIP reaches the exporters; unexported stays home',
  skip: (ctx) => (ctx.c ? undefined : 'needs a third context (--context-c)'),
  async run(ctx, step) {
    const [A, B, C] = [clusterName(ctx.a), clusterName(ctx.b), clusterName(ctx.c!)];
    const [a, b, c] = await Promise.all([ctx.env.client(ctx.a), ctx.env.client(ctx.b), ctx.env.client(ctx.c!)]);
    await deployDemoApps(ctx.env, ctx.c!, C, { progress: ctx.log }); // already there after scenario 9
    await link(ctx.env, ctx.a, ctx.c!, { progress: ctx.log, mode: 'flat' });
    if (ctx.env.network === 'isolated' || ctx.env.network === 'docker') await ctx.env.flatRoute(ctx.a, ctx.c!, false);
    await link(ctx.env, ctx.b, ctx.a, { progress: ctx.log });
    await deployTrafficAgent(ctx.env, ctx.b, B, { progress: ctx.log });
    await Promise.all([exportHello(b), exportHello(c)]);
    await b.create(`/api/v1/namespaces/${DEMO_NS}/services`, { metadata: { name: 'hidden' }, spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 8080 }] } }).catch(() => undefined);
    try {
      await step('one ServiceImport with one VIP in every cluster, the exporters included', async () => {
        for (const [cl, name, want] of [[a, A, [B, C]], [b, B, [B]], [c, C, [C]]] as const) {
          const imp = await eventually(`ServiceImport hello in ${name} listing ${want.join(',')}`, async () => {
            const i = await getImport(cl, 'hello');
            return i?.spec?.ips?.length && (i.status?.clusters ?? []).map((x) => x.cluster).sort().join(',') === [...want].sort().join(',') ? i : undefined;
          }, 60_000);
          assert.equal(imp.spec?.type, 'ClusterSetIP');
          assert.equal(imp.spec?.ips?.length, 1, 'one VIP (IPv4)');
          assert.deepEqual(imp.spec?.ports?.map((p) => [p.port, p.protocol]), [[8080, 'TCP']]);
        }
      });
      await step(`from ${A}: the VIP reaches ${B} (through the gateways) and ${C} (flat)`, async () => {
        const vip = (await getImport(a, 'hello'))!.spec!.ips![0];
        const r = await eventually(`answers from both ${B} and ${C}`, async () => {
          const x = await traffic(ctx, { url: `http://${vip}:8080/`, count: 24 });
          return x.summary.ok === x.summary.total && Object.keys(x.summary.byCluster).length === 2 ? x : undefined;
        }, 60_000, 1_000).catch(async () => traffic(ctx, { url: `http://${vip}:8080/`, count: 24 }));
        assert.equal(r.summary.ok, r.summary.total, describe(r));
        assert.deepEqual(Object.keys(r.summary.byCluster).sort(), [B, C].sort(), describe(r));
      });
      await step(`from ${B}: its own VIP reaches its own pods`, async () => {
        const vip = (await getImport(b, 'hello'))!.spec!.ips![0];
        const r = await traffic(ctx, { url: `http://${vip}:8080/`, count: 8 }, ctx.b);
        assert.equal(r.summary.ok, r.summary.total, describe(r));
        assert.deepEqual(Object.keys(r.summary.byCluster), [B], describe(r));
      });
      await step(`the export in ${B} is Ready (imported in ${B} and ${A}) with no conflict`, async () => {
        await eventually('Ready=True', async () => {
          const e = await b.get<{ status?: { conditions?: Array<{ type: string; status: string }> } }>(`${exports}/hello`);
          const s = (t: string) => e.status?.conditions?.find((x) => x.type === t)?.status;
          return s('Valid') === 'True' && s('Ready') === 'True' && s('Conflict') === 'False';
        }, 30_000);
      });
      await step('a Service with no ServiceExport is not imported, and the gateway refuses it', async () => {
        assert.equal(await getImport(a, 'hidden'), undefined, `no import of hidden in ${A}`);
        if (!ctx.trustRoot) return;
        const dir = mkdtempSync(join(tmpdir(), 'mesh-e2e-mcs-'));
        try {
          // A gateway identity of a linked cluster: the default inbound policy admits only those.
          const member = writeLeaf(dir, 'member', await readRoot(ctx.trustRoot), clusterName(ctx.a));
          const r = await probeGateway(ctx, ctx.a, { ...(await remoteGateway(ctx)), ca: join(ctx.trustRoot, 'root.crt'), ...member, authorities: [`hello.${DEMO_NS}.svc.cluster.local:8080`, `hidden.${DEMO_NS}.svc.cluster.local:8080`] });
          assert.equal(r.results[0]?.status, 200, `the MCS export crosses: ${JSON.stringify(r.results[0])}`);
          assert.notEqual(r.results[1]?.status, 200, `the unexported Service must be refused: ${JSON.stringify(r.results[1])}`);
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      });
      await step('unexport in both clusters removes the import everywhere', async () => {
        await Promise.all([b.delete(`${exports}/hello`), c.delete(`${exports}/hello`)]);
        for (const [cl, name] of [[a, A], [b, B], [c, C]] as const) await eventually(`no ServiceImport hello in ${name}`, async () => (await getImport(cl, 'hello')) === undefined, 30_000);
      });
    } finally {
      await b.delete(`/api/v1/namespaces/${DEMO_NS}/services/hidden`).catch(() => undefined);
      for (const cl of [b, c]) await cl.delete(`/api/v1/namespaces/${DEMO_NS}/services/hello`).catch(() => undefined);
    }
  },
};
