// Scenario 17: a Headless ServiceImport through the gateway. The StatefulSet `db` (2 replicas, headless
// Service, deployed in cluster-b by the suite's set-up) is exported with a ServiceExport; cluster-a reaches
// cluster-b through the gateways. In cluster-a each pod gets a per-pod Service (a ClusterIP fronting the
// local gateway at that pod's own outbound port), so `db-0.cluster-b.db.<ns>.svc.clusterset.local` resolves
// (dig, against the cluster DNS, from cluster-a's network) to that Service and reaches exactly db-0 (the echo
// app names the pod that answered); `db.<ns>.svc.clusterset.local` lists both. The exporting Service's
// allowed-identities apply to the per-pod names as to the Service. Unexport removes the per-pod Services.
import assert from 'node:assert/strict';
import { ALLOWED_IDENTITIES_ANNOTATION, importPodServiceName } from '../../../src/api/index.js';
import { DEMO_NS, SandboxEnvironment, eventually, runCommand } from '../../../src/demo/index.js';
import type { KubeClient } from '../../../src/kube/index.js';
import { clusterName, describe, noneOk, traffic, type Scenario, type ScenarioContext } from './context.js';

const MCS = '/apis/multicluster.x-k8s.io/v1beta1';
const exportsPath = `${MCS}/namespaces/${DEMO_NS}/serviceexports`;
const importsPath = `${MCS}/namespaces/${DEMO_NS}/serviceimports`;

interface Svc {
  metadata?: { name?: string; annotations?: Record<string, string>; resourceVersion?: string };
  spec?: { clusterIP?: string };
}

/** `dig +short` from inside `context`'s network against its cluster DNS; undefined where the runner cannot (kind). */
async function dig(ctx: ScenarioContext, context: string, name: string, type: 'A' | 'SRV' = 'A'): Promise<string[] | undefined> {
  const env = ctx.env;
  if (!(env instanceof SandboxEnvironment)) return undefined;
  const info = env.clusters.find((c) => c.name === context);
  const dns = info?.dns;
  assert.ok(dns, `the cluster DNS address of ${context}`);
  const at = dns.lastIndexOf(':');
  const args = ['+short', '+time=2', '+tries=2', `@${dns.slice(0, at)}`, '-p', dns.slice(at + 1), name, type];
  // In the cluster's network namespace (isolated network), where its pods are; on the host in loopback mode.
  const r = info?.netns ? await runCommand('ip', ['netns', 'exec', info.netns, 'dig', ...args], { timeoutMs: 20_000 }) : await runCommand('dig', args, { timeoutMs: 20_000 });
  assert.equal(r.code, 0, `dig ${name} ${type} in ${context}: ${r.stderr}`);
  return r.stdout.split('\n').map((l) => l.trim()).filter(Boolean).sort();
}

async function podServiceIPs(a: KubeClient, cluster: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const host of ['db-0', 'db-1']) {
    const s = await a.get<Svc>(`/api/v1/namespaces/${DEMO_NS}/services/${importPodServiceName('db', cluster, host)}`).catch(() => undefined);
    if (s?.spec?.clusterIP && s.spec.clusterIP !== 'None') out.set(host, s.spec.clusterIP);
  }
  return out;
}

/** Sets (or with undefined removes) the exporting Service's allowed-identities, re-reading on a 409. */
async function allowOnly(b: KubeClient, value: string | undefined): Promise<void> {
  await eventually('the annotation written', async () => {
    const s = await b.get<Svc>(`/api/v1/namespaces/${DEMO_NS}/services/db`);
    const annotations = { ...(s.metadata?.annotations ?? {}) };
    if (value === undefined) delete annotations[ALLOWED_IDENTITIES_ANNOTATION];
    else annotations[ALLOWED_IDENTITIES_ANNOTATION] = value;
    return b.replace(`/api/v1/namespaces/${DEMO_NS}/services/db`, { ...s, metadata: { ...s.metadata, annotations } }).then(() => true, () => false);
  }, 15_000);
}

export const mcsHeadless: Scenario = {
  id: 17,
  name: 'MCS Headless through the gateway: StatefulSet db exported from cluster-b → db-0/db-1.cluster-b.db.<ns>.svc.clusterset.local each reach that pod from cluster-a; db.<ns>.svc.clusterset.local lists both',
  async run(ctx, step) {
    const [A, B] = [clusterName(ctx.a), clusterName(ctx.b)];
    const [a, b] = await Promise.all([ctx.env.client(ctx.a), ctx.env.client(ctx.b)]);
    const fq = (host?: string) => `${host ? `${host}.${B}.` : ''}db.${DEMO_NS}.svc.clusterset.local`;
    await b.create(exportsPath, { apiVersion: 'multicluster.x-k8s.io/v1beta1', kind: 'ServiceExport', metadata: { name: 'db' } }).catch(() => undefined);
    try {
      let ips = new Map<string, string>();
      await step(`a Headless ServiceImport in ${A} and one per-pod Service per pod of ${B}`, async () => {
        await eventually(`ServiceImport db in ${A}`, async () => {
          const i = await a.get<{ spec?: { type?: string; ips?: string[] }; status?: { clusters?: Array<{ cluster: string }> } }>(`${importsPath}/db`).catch(() => undefined);
          return i?.spec?.type === 'Headless' && !i.spec.ips?.length && i.status?.clusters?.some((c) => c.cluster === B);
        }, 60_000);
        ips = await eventually('two per-pod Services with ClusterIPs', async () => {
          const m = await podServiceIPs(a, B);
          return m.size === 2 ? m : undefined;
        }, 60_000);
      });
      await step(`dig in ${A}: each per-pod name is that pod's Service, the service name lists both, SRV names both pods`, async () => {
        const first = await dig(ctx, ctx.a, fq('db-0'));
        if (first === undefined) {
          ctx.log('not a sandbox: dig is not run here; the traffic steps resolve the same names');
          return;
        }
        for (const host of ['db-0', 'db-1']) {
          await eventually(`${fq(host)} → ${ips.get(host)}`, async () => JSON.stringify(await dig(ctx, ctx.a, fq(host))) === JSON.stringify([ips.get(host)]), 30_000);
        }
        await eventually(`${fq()} → both`, async () => JSON.stringify(await dig(ctx, ctx.a, fq())) === JSON.stringify([...ips.values()].sort()), 30_000);
        const want = [`8080 ${fq('db-0')}.`, `8080 ${fq('db-1')}.`];
        await eventually(`SRV _http._tcp.${fq()} names both pods`, async () => JSON.stringify((await dig(ctx, ctx.a, `_http._tcp.${fq()}`, 'SRV'))?.map((l) => l.split(' ').slice(2).join(' '))) === JSON.stringify(want), 30_000);
      });
      await step(`from ${A}: db-0 and db-1 by their clusterset names reach exactly that pod in ${B}`, async () => {
        for (const pod of ['db-0', 'db-1']) {
          const r = await eventually(`${pod} answers by name`, async () => {
            const x = await traffic(ctx, { url: `http://${fq(pod)}:8080/`, count: 4 });
            return x.summary.ok === x.summary.total ? x : undefined;
          }, 60_000, 1_000).catch(async () => traffic(ctx, { url: `http://${fq(pod)}:8080/`, count: 4 }));
          assert.equal(r.summary.ok, r.summary.total, describe(r));
          assert.deepEqual(Object.keys(r.summary.byCluster), [B], describe(r));
          assert.deepEqual(Object.keys(r.summary.byPod), [pod], `${fq(pod)} reaches ${pod} only: ${describe(r)}`);
        }
        const all = await traffic(ctx, { url: `http://${fq()}:8080/`, count: 8 });
        assert.equal(all.summary.ok, all.summary.total, describe(all));
        assert.deepEqual(Object.keys(all.summary.byCluster), [B], describe(all));
      });
      await step(`${B}'s allowed-identities on db apply to its per-pod names: a list without ${A} refuses them, and its removal lets them through`, async () => {
        await allowOnly(b, `cluster:${B}`);
        try {
          await eventually('db-0 by name refused', async () => {
            const r = await traffic(ctx, { url: `http://${fq('db-0')}:8080/`, count: 2, timeoutMs: 3_000 });
            return r.summary.ok === 0;
          }, 30_000, 500);
          noneOk(await traffic(ctx, { url: `http://${fq('db-1')}:8080/`, count: 2, timeoutMs: 3_000 }), `${fq('db-1')} with ${A} not allowed`);
        } finally {
          await allowOnly(b, undefined);
        }
        await eventually('db-0 by name answers again', async () => (await traffic(ctx, { url: `http://${fq('db-0')}:8080/`, count: 2 })).summary.ok === 2, 30_000, 500);
      });
      await step(`unexport removes the per-pod Services in ${A}`, async () => {
        await b.delete(`${exportsPath}/db`);
        await eventually('no per-pod Service and no import', async () => (await podServiceIPs(a, B)).size === 0 && !(await a.get(`${importsPath}/db`).catch(() => undefined)), 60_000);
      });
    } finally {
      await b.delete(`${exportsPath}/db`).catch(() => undefined);
    }
  },
};
