// Scenario 15 (issue 15): the caller's identity through the gateways. Client pods in cluster-a with their
// own ServiceAccounts call `web` in cluster-b (annotated mirror.mesh.io/proxy-protocol: v2); cluster-a's
// gateway attests each by its source address (Pod → ServiceAccount), cluster-b's gateway verifies the claim
// and hands it to web in a PROXY v2 header; web's answer shows the caller's SPIFFE id and cluster. Then
// web allows only SA frontend: the same request from SA other is refused at cluster-b's gateway.
import assert from 'node:assert/strict';
import { DEFAULT_TRUST_DOMAIN, PROXY_PROTOCOL_ANNOTATION, serviceAccountId } from '../../../src/api/index.js';
import type { ClientReport } from '../../../src/apps/index.js';
import { DEMO_NS, eventually, mustMesh, parseReport, shadowHost } from '../../../src/demo/index.js';
import { clusterName, describe, gatewayMetric, noneOk, podIPs, url, type Scenario, type ScenarioContext } from './context.js';

const DEPLOYMENTS = `/apis/apps/v1/namespaces/${DEMO_NS}/deployments`;
const ACCOUNTS = `/api/v1/namespaces/${DEMO_NS}/serviceaccounts`;
/** The client pods: the traffic agent's template under another name and ServiceAccount. */
const CALLERS = [
  { app: 'caller-frontend', serviceAccount: 'frontend' },
  { app: 'caller-other', serviceAccount: 'other' },
] as const;
const POST = "const [u,b]=process.argv.slice(1);fetch(u,{method:'POST',body:b,headers:{'content-type':'application/json'}}).then(async(r)=>{process.stdout.write(await r.text()+'\\n');process.exit(0)}).catch((e)=>{process.stdout.write(JSON.stringify({error:e.message})+'\\n');process.exit(0)})";

interface PodTemplate {
  metadata?: { labels?: Record<string, string> };
  spec: { serviceAccountName?: string; containers: Array<Record<string, unknown>> };
}

async function deployCallers(ctx: ScenarioContext): Promise<void> {
  const c = await ctx.env.client(ctx.a);
  const agent = await c.get<{ spec: { template: PodTemplate } }>(`${DEPLOYMENTS}/traffic-agent`);
  for (const { app, serviceAccount } of CALLERS) {
    await c.create(ACCOUNTS, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: serviceAccount, namespace: DEMO_NS } }).catch(ignoreExists);
    const template: PodTemplate = { metadata: { labels: { app } }, spec: { ...agent.spec.template.spec, serviceAccountName: serviceAccount } };
    await c.create(DEPLOYMENTS, { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: app, namespace: DEMO_NS }, spec: { replicas: 1, selector: { matchLabels: { app } }, template } }).catch(ignoreExists);
  }
  for (const { app } of CALLERS) await eventually(`${app} ready in ${ctx.a}`, async () => (await podIPs(ctx, ctx.a, `app=${app}`)).length === 1, 120_000);
}

async function removeCallers(ctx: ScenarioContext): Promise<void> {
  const c = await ctx.env.client(ctx.a);
  for (const { app, serviceAccount } of CALLERS) {
    await c.delete(`${DEPLOYMENTS}/${app}`).catch(() => undefined);
    await c.delete(`${ACCOUNTS}/${serviceAccount}`).catch(() => undefined);
  }
}

function ignoreExists(err: unknown): void {
  if (!/already exists|409/i.test(String(err instanceof Error ? err.message : err))) throw err;
}

/** Runs the traffic client inside the pod `app` (its POST /run, as the demo's traffic agent). */
async function trafficFrom(ctx: ScenarioContext, app: string, target: string | { grpc: string }, count: number): Promise<ClientReport> {
  const [pod] = await podIPs(ctx, ctx.a, `app=${app}`);
  assert.ok(pod, `a ready ${app} pod in ${ctx.a}`);
  const req = { ...(typeof target === 'string' ? { url: target } : target), count, intervalMs: 0, timeoutMs: 5_000 };
  const r = await ctx.env.execNode(ctx.a, ['-e', POST, `http://${pod.ip}:8081/run`, JSON.stringify(req)], 60_000);
  return parseReport(r.stdout || r.stderr, `traffic from ${app} to ${target}`);
}

/** Every request answered by cluster `from` with the caller `id` of cluster `cluster`. */
function allCalledAs(r: ClientReport, id: string, cluster: string, what: string): void {
  assert.ok(r.summary.total > 0, `${what}: no requests`);
  assert.equal(r.summary.ok, r.summary.total, `${what}: ${describe(r)}`);
  const seen = [...new Set(r.results.map((x) => `${x.callerIdentity ?? '(none)'} ${x.callerCluster ?? '(none)'}`))];
  assert.deepEqual(seen, [`${id} ${cluster}`], `${what}: callers the target saw`);
}

export const callerIdentity: Scenario = {
  id: 15,
  name: "caller identity: cluster-b's web sees each cluster-a client pod's ServiceAccount and cluster through both gateways (PROXY v2)",
  async run(ctx, step) {
    const A = clusterName(ctx.a);
    const B = clusterName(ctx.b);
    const b = await ctx.env.client(ctx.b);
    // The demo deploys web with the annotation; set it here too so the scenario stands on its own.
    await b.patch(`/api/v1/namespaces/${DEMO_NS}/services/web`, { metadata: { annotations: { [PROXY_PROTOCOL_ANNOTATION]: 'v2' } } });
    await deployCallers(ctx);
    try {
      await step('a pod with ServiceAccount frontend is seen as frontend of cluster-a', async () => {
        const id = serviceAccountId(DEFAULT_TRUST_DOMAIN, DEMO_NS, 'frontend');
        // The gateway's pod cache may lag the new pod by a moment (it then attests unknown-caller, never
        // someone else): wait until it knows the pod, then every request must carry the pod's identity.
        await eventually('cluster-a gateway attests the frontend pod', async () => (await trafficFrom(ctx, 'caller-frontend', url('web', B), 1)).results[0]?.callerIdentity === id, 60_000);
        allCalledAs(await trafficFrom(ctx, 'caller-frontend', url('web', B), 10), id, A, 'frontend → web');
      });
      await step('a pod with another ServiceAccount shows its own id', async () => {
        const id = serviceAccountId(DEFAULT_TRUST_DOMAIN, DEMO_NS, 'other');
        await eventually('cluster-a gateway attests the other pod', async () => (await trafficFrom(ctx, 'caller-other', url('web', B), 1)).results[0]?.callerIdentity === id, 60_000);
        allCalledAs(await trafficFrom(ctx, 'caller-other', url('web', B), 10), id, A, 'other → web');
      });
      await step('gRPC calls come from their pod too: grpc allows only SA frontend, frontend passes, other is refused', async () => {
        // grpc-echo reads no PROXY header: the allow list shows which pod cluster-a's gateway attested. A
        // gRPC client not bound to its POD_IP is attested unknown-caller and refused here as well.
        const frontend = serviceAccountId(DEFAULT_TRUST_DOMAIN, DEMO_NS, 'frontend');
        const grpc = { grpc: `${shadowHost('grpc', B)}:9090` };
        await mustMesh(['authz', 'grpc', '-n', DEMO_NS, '--context', ctx.b, '--set', frontend], ctx.env.kubeconfig);
        try {
          await eventually('cluster-b gateway refuses SA other over gRPC', async () => (await trafficFrom(ctx, 'caller-other', grpc, 1)).summary.ok === 0, 60_000);
          const ok = await trafficFrom(ctx, 'caller-frontend', grpc, 5);
          assert.equal(ok.summary.ok, ok.summary.total, `frontend → grpc (only frontend allowed): ${describe(ok)}`);
          assert.deepEqual(Object.keys(ok.summary.byCluster), [B], 'answered by cluster-b');
          noneOk(await trafficFrom(ctx, 'caller-other', grpc, 3), 'other → grpc (only frontend allowed)');
        } finally {
          await mustMesh(['authz', 'grpc', '-n', DEMO_NS, '--context', ctx.b, '--clear'], ctx.env.kubeconfig);
        }
      });
      await step("the demo's traffic agent (ServiceAccount default) shows default", async () => {
        allCalledAs(await ctx.env.traffic(ctx.a, { url: url('web', B), count: 5, intervalMs: 0, timeoutMs: 5_000 }), serviceAccountId(DEFAULT_TRUST_DOMAIN, DEMO_NS, 'default'), A, 'traffic-agent → web');
      });
      await step('web allows only SA frontend: frontend passes, other is refused at cluster-b\'s gateway and counted by rule', async () => {
        const frontend = serviceAccountId(DEFAULT_TRUST_DOMAIN, DEMO_NS, 'frontend');
        await mustMesh(['authz', 'web', '-n', DEMO_NS, '--context', ctx.b, '--set', frontend], ctx.env.kubeconfig);
        try {
          const before = await gatewayMetric(ctx, ctx.b, 'gateway_authz_denied_total', { source: 'service' });
          // The list reaches cluster-b's gateway with its next routing snapshot.
          await eventually('cluster-b gateway refuses SA other', async () => (await trafficFrom(ctx, 'caller-other', url('web', B), 1)).summary.ok === 0, 60_000);
          // Its HTTP client reaches cluster-a's outbound port as raw TCP: the refusal is a reset.
          noneOk(await trafficFrom(ctx, 'caller-other', url('web', B), 5), 'other → web (only frontend allowed)');
          allCalledAs(await trafficFrom(ctx, 'caller-frontend', url('web', B), 10), frontend, A, 'frontend → web (only frontend allowed)');
          assert.ok((await gatewayMetric(ctx, ctx.b, 'gateway_authz_denied_total', { source: 'service' })) > before, "cluster-b's gateway counts the per-caller denials");
        } finally {
          await mustMesh(['authz', 'web', '-n', DEMO_NS, '--context', ctx.b, '--clear'], ctx.env.kubeconfig);
        }
      });
    } finally {
      await removeCallers(ctx);
    }
  },
};
