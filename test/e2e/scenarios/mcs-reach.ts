// Scenario 16: the MCS API from where users stand, in all three clusters. `hello` (the web pods) is exported
// from cluster-b (others reach it through the gateways) and cluster-c (others reach it pod to pod), and every
// cluster has both in its clusterset (mcs-topology.ts). From a pod in EACH cluster the VIP of that cluster's
// own ServiceImport is answered by pods of both exporters; `dig`/`nslookup`/`curl` in a netshoot pod resolve
// the clusterset name to that VIP and its SRV record; a Service cluster-b does not export cannot be reached
// from cluster-a or cluster-c by any name or through the gateway; and the README's MCS walk-through runs as
// written (mcs-readme.ts).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEMO_NS, DEFAULT_IMAGE, eventually } from '../../../src/demo/index.js';
import { readRoot } from '../../../src/trust/index.js';
import { OUTBOUND_ROUTES_CONFIGMAP, OUTBOUND_ROUTES_KEY, parseOutboundRoutes } from '../../../src/api/index.js';
import type { KubeClient } from '../../../src/kube/index.js';
import { clusterName, describe, noneOk, podIPs, probeGateway, traffic, type Scenario, type ScenarioContext } from './context.js';
import { exportHello, exports, getImport } from './mcs.js';
import { clustersetOfThree, debugPods, exec, hasKubectl } from './mcs-topology.js';
import { readmeWalkthrough } from './mcs-readme.js';
import { writeLeaf } from './security.js';

const DBG = 'mcs-dbg';
/** cluster-b's Service that nobody exports, with pods of its own (no other Service selects them). */
const PRIVATE = 'private';

async function vipOf(c: KubeClient, cluster: string, want: string[]): Promise<string> {
  const imp = await eventually(`ServiceImport hello in ${cluster} listing ${want.join(',')} with a VIP`, async () => {
    const i = await getImport(c, 'hello');
    return i?.spec?.ips?.length && (i.status?.clusters ?? []).map((x) => x.cluster).sort().join(',') === [...want].sort().join(',') ? i : undefined;
  }, 60_000);
  return imp.spec!.ips![0]!;
}

async function deployPrivate(ctx: ScenarioContext, b: KubeClient): Promise<void> {
  const B = clusterName(ctx.b);
  const labels = { app: PRIVATE };
  await b.create(`/apis/apps/v1/namespaces/${DEMO_NS}/deployments`, {
    metadata: { name: PRIVATE, labels },
    spec: {
      replicas: 1, selector: { matchLabels: labels },
      template: { metadata: { labels }, spec: { containers: [{ name: 'echo', image: DEFAULT_IMAGE, args: ['app', 'http-echo', '--port', '8080'], env: [{ name: 'CLUSTER_NAME', value: B }, { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } }, { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }], readinessProbe: { httpGet: { path: '/healthz', port: 8080 }, periodSeconds: 1 } }] } },
    },
  }).catch(() => undefined);
  await b.create(`/api/v1/namespaces/${DEMO_NS}/services`, { metadata: { name: PRIVATE }, spec: { selector: labels, ports: [{ name: 'http', port: 8080, targetPort: 8080 }] } }).catch(() => undefined);
  await eventually(`a ready ${PRIVATE} pod in ${ctx.b}`, async () => (await podIPs(ctx, ctx.b, `app=${PRIVATE}`)).length === 1, 60_000);
}

/** Every request to the VIP from `from` answered, and by pods of both exporters (web pods that exist). */
async function reachBoth(ctx: ScenarioContext, from: string, vip: string, pods: Set<string>): Promise<void> {
  const [B, C] = [clusterName(ctx.b), clusterName(ctx.c!)];
  const send = () => traffic(ctx, { url: `http://${vip}:8080/`, count: 24 }, from);
  // The first requests may come before the proxy has every slice; then it must hold for a whole batch.
  const r = await eventually(`answers from both ${B} and ${C} to ${from}'s VIP ${vip}`, async () => {
    const x = await send();
    return x.summary.ok === x.summary.total && Object.keys(x.summary.byCluster).length === 2 ? x : undefined;
  }, 60_000, 1_000).catch(send);
  assert.equal(r.summary.ok, r.summary.total, `from ${from}: ${describe(r)}`);
  assert.deepEqual(Object.keys(r.summary.byCluster).sort(), [B, C].sort(), `from ${from}: ${describe(r)}`);
  for (const p of Object.keys(r.summary.byPod)) assert.ok(pods.has(p), `from ${from}: ${p} is a web pod of ${B} or ${C}`);
}

export const mcsReach: Scenario = {
  id: 16,
  name: 'MCS API from every cluster: the VIP from a pod in a, b and c reaches both exporters; clusterset DNS in pods; an unexported Service is unreachable; the README walk-through runs',
  skip: (ctx) => (ctx.c ? undefined : 'needs a third context (--context-c)'),
  async run(ctx, step) {
    const [A, B, C] = [clusterName(ctx.a), clusterName(ctx.b), clusterName(ctx.c!)];
    const contexts = [ctx.a, ctx.b, ctx.c!];
    const [a, b, c] = await Promise.all(contexts.map((x) => ctx.env.client(x)));
    const set = await clustersetOfThree(ctx);
    const vips = new Map<string, string>();
    let removeDebug: (() => Promise<void>) | undefined;
    try {
      await Promise.all([exportHello(b!), exportHello(c!), deployPrivate(ctx, b!)]);
      await step('every cluster imports hello from both exporters: one ServiceImport, one VIP each', async () => {
        for (const [x, cl] of [[ctx.a, a], [ctx.b, b], [ctx.c!, c]] as const) vips.set(x, await vipOf(cl!, clusterName(x), [B, C]));
        assert.equal(new Set(vips.values()).size, 3, `each cluster has its own VIP: ${JSON.stringify([...vips])}`);
      });
      await step(`traffic to the VIP from a pod in ${A}, ${B} and ${C} reaches pods of ${B} and ${C}`, async () => {
        const pods = new Set([...(await podIPs(ctx, ctx.b, 'app=web')), ...(await podIPs(ctx, ctx.c!, 'app=web'))].map((p) => p.name));
        for (const x of contexts) await reachBoth(ctx, x, vips.get(x)!, pods);
      });
      const why = ctx.env.kind === 'sandbox' && ctx.env.network !== 'isolated' ? 'pods resolve through the cluster DNS only in an isolated sandbox (root)' : !(await hasKubectl()) ? 'kubectl is not installed' : undefined;
      if (why) ctx.log(`  skipped: DNS from pods, the README walk-through — ${why}`);
      else removeDebug = await debugPods(ctx, contexts, DBG);
      await step('DNS in a netshoot pod of each cluster: the clusterset name is that cluster\'s VIP, SRV names the port, curl by name is answered by both exporters, an unexported name is NXDOMAIN', async () => {
        if (why) return;
        for (const x of contexts) await dnsFrom(ctx, x, vips.get(x)!);
      });
      await step(`${B}'s unexported Service cannot be reached from ${A} or ${C}: no name, no import, no endpoints, refused by ${B}'s gateway; flat means routable pod addresses, nothing more`, async () => {
        await unreachable(ctx, [a!, c!], why === undefined);
      });
      await step('the README\'s Multi-Cluster Services walk-through, line by line with the real mesh and kubectl', async () => {
        if (why) return;
        await readmeWalkthrough(ctx);
      });
      await step('unexport in both clusters removes the import everywhere', async () => {
        await Promise.all([b!.delete(`${exports}/hello`), c!.delete(`${exports}/hello`)]);
        for (const [x, cl] of [[A, a], [B, b], [C, c]] as const) await eventually(`no ServiceImport hello in ${x}`, async () => (await getImport(cl!, 'hello')) === undefined, 30_000);
      });
    } finally {
      // Clean-up goes on past a failure of one part: the Links this added must go whatever happened.
      await removeDebug?.().catch((e: unknown) => ctx.log(`  (removing the debug pods failed: ${e instanceof Error ? e.message : String(e)})`));
      await b!.delete(`/apis/apps/v1/namespaces/${DEMO_NS}/deployments/${PRIVATE}`).catch(() => undefined);
      await b!.delete(`/api/v1/namespaces/${DEMO_NS}/services/${PRIVATE}`).catch(() => undefined);
      for (const cl of [b!, c!]) {
        await cl.delete(`${exports}/hello`).catch(() => undefined);
        await cl.delete(`/api/v1/namespaces/${DEMO_NS}/services/hello`).catch(() => undefined);
      }
      await set.undo();
    }
  },
};

async function dnsFrom(ctx: ScenarioContext, x: string, vip: string): Promise<void> {
  const name = `hello.${DEMO_NS}.svc.clusterset.local`;
  const a = await exec(ctx, x, DBG, ['dig', '+short', name]);
  assert.equal(a.code, 0, `dig in ${x}: ${a.stderr}`);
  assert.equal(a.stdout.trim(), vip, `dig +short ${name} in ${x}`);
  const ns = await exec(ctx, x, DBG, ['nslookup', name]);
  assert.match(ns.stdout, new RegExp(`Name:\\s*${name.replaceAll('.', '\\.')}\\s*Address:\\s*${vip.replaceAll('.', '\\.')}`), `nslookup in ${x}: ${ns.stdout}${ns.stderr}`);
  const srv = await exec(ctx, x, DBG, ['dig', '+short', 'SRV', `_http._tcp.${name}`]);
  assert.equal(srv.stdout.trim(), `0 100 8080 ${name}.`, `SRV _http._tcp.${name} in ${x}: ${srv.stderr}`);
  // curl by the clusterset name, through the pod's resolv.conf, 8 times (the proxy takes the endpoints in
  // turn, at most 5 here): every answer in time, and from both exporters. A host tool's source address is
  // not the traffic agent's pod address: this is the path the sandbox proxy once broke for flat endpoints.
  const curl = await exec(ctx, x, DBG, ['sh', '-c', `for i in 1 2 3 4 5 6 7 8; do curl -sS --max-time 5 http://${name}:8080/ || exit 1; echo; done`], 60_000);
  assert.equal(curl.code, 0, `curl ${name} in ${x}: ${curl.stderr}`);
  const answered = curl.stdout.split('\n').filter(Boolean).map((l) => /"cluster":"([^"]+)"/.exec(l)?.[1] ?? `?${l.slice(0, 80)}`);
  assert.equal(answered.length, 8, `8 answers in ${x}: ${curl.stdout}`);
  assert.deepEqual([...new Set(answered)].sort(), [clusterName(ctx.b), clusterName(ctx.c!)].sort(), `curl by name in ${x} answered by both exporters: ${answered.join(',')}`);
  for (const nx of [`${PRIVATE}.${DEMO_NS}.svc.clusterset.local`, `${clusterName(ctx.b)}.hello.${DEMO_NS}.svc.clusterset.local`]) {
    const r = await exec(ctx, x, DBG, ['dig', nx]);
    assert.match(r.stdout, /status: NXDOMAIN/, `dig ${nx} in ${x}: ${r.stdout}`);
  }
  const nxl = await exec(ctx, x, DBG, ['nslookup', `${PRIVATE}.${DEMO_NS}.svc.clusterset.local`]);
  assert.notEqual(nxl.code, 0, `nslookup of the unexported name in ${x} fails`);
  assert.match(nxl.stdout + nxl.stderr, /NXDOMAIN/, `nslookup in ${x}: ${nxl.stdout}${nxl.stderr}`);
}

/**
 * "Unreachable" for a Service cluster-b does not export, from cluster-a (gateway Link to b, flat routes left by
 * the runner) and cluster-c (gateway Link to b, flat routes b ↔ c): no shadow, no ServiceImport, no
 * EndpointSlice naming its pods, no clusterset name, and cluster-b's gateway refuses it by any authority a
 * client could ask for. Its ClusterIP is cluster-b's own (no other cluster routes b's Service range). In flat
 * mode the pod networks are routed to each other, so a pod address itself is as reachable as any other: that
 * is the network's (NetworkPolicy's) matter, not the mesh's — asserted as such, so the claim stays honest.
 */
async function unreachable(ctx: ScenarioContext, clients: KubeClient[], inPods: boolean): Promise<void> {
  const B = clusterName(ctx.b);
  const b = await ctx.env.client(ctx.b);
  const [pod] = await podIPs(ctx, ctx.b, `app=${PRIVATE}`);
  assert.ok(pod);
  const svc = await b.get<{ spec: { clusterIP: string } }>(`/api/v1/namespaces/${DEMO_NS}/services/${PRIVATE}`);
  for (const [i, from] of [ctx.a, ctx.c!].entries()) {
    const cl = clients[i]!;
    assert.equal(await cl.get(`/api/v1/namespaces/${DEMO_NS}/services/${PRIVATE}-${B}`).catch(() => undefined), undefined, `no shadow ${PRIVATE}-${B} in ${from}`);
    assert.equal(await getImport(cl, PRIVATE), undefined, `no ServiceImport ${PRIVATE} in ${from}`);
    const slices = await cl.list<{ metadata: { name: string }; endpoints?: Array<{ addresses: string[] }> }>('/apis/discovery.k8s.io/v1/endpointslices');
    const naming = slices.items.filter((s) => (s.endpoints ?? []).some((e) => e.addresses.includes(pod.ip))).map((s) => s.metadata.name);
    assert.deepEqual(naming, [], `no EndpointSlice in ${from} lists ${PRIVATE}'s pod ${pod.ip}`);
    const byName = await traffic(ctx, { url: `http://${PRIVATE}-${B}.${DEMO_NS}.svc.cluster.local:8080/`, count: 2 }, from);
    noneOk(byName, `the would-be shadow name from ${from}`);
    assert.match(byName.results[0]?.error ?? '', /cannot resolve|ENOTFOUND/, `the name does not resolve in ${from}: ${describe(byName)}`);
    if (inPods) {
      const nx = await exec(ctx, from, DBG, ['dig', `${PRIVATE}.${DEMO_NS}.svc.clusterset.local`]);
      assert.match(nx.stdout, /status: NXDOMAIN/, `clusterset name of ${PRIVATE} from ${from}: ${nx.stdout}`);
    }
    await noOutboundRoute(ctx, from);
    if (ctx.env.kind === 'sandbox' && ctx.env.network === 'isolated') {
      // Service ranges are per cluster and nobody routes b's: the connection fails at once (no route), so
      // this negative needs no timeout. (On kind the nodes have a default route: it would only time out.)
      const vip = await traffic(ctx, { url: `http://${svc.spec.clusterIP}:8080/`, count: 1 }, from);
      noneOk(vip, `${B}'s ClusterIP of ${PRIVATE} from ${from}`);
      assert.match(vip.results[0]?.error ?? '', /ENETUNREACH|EHOSTUNREACH/, `no route to ${B}'s Service range from ${from}: ${describe(vip)}`);
    }
    await refusedByGateway(ctx, from, [`${PRIVATE}.${DEMO_NS}.svc.cluster.local:8080`, `${PRIVATE}-${B}.${DEMO_NS}.svc.cluster.local:8080`, `${PRIVATE}.${DEMO_NS}.svc.clusterset.local:8080`, `${pod.ip}:8080`, `${svc.spec.clusterIP}:8080`]);
    if (ctx.env.network === 'isolated' || ctx.env.network === 'docker') {
      // Flat: the pod network is routed (the runner's a ↔ b routes, this scenario's b ↔ c): the address answers.
      const direct = await traffic(ctx, { url: `http://${pod.ip}:8080/`, count: 1 }, from);
      assert.equal(direct.summary.ok, 1, `flat: ${PRIVATE}'s pod address from ${from} is routed like every pod address: ${describe(direct)}`);
    }
  }
}

/** `from`'s gateway has an outbound port for the import hello to cluster-b and none for the private Service. */
async function noOutboundRoute(ctx: ScenarioContext, from: string): Promise<void> {
  const c = await ctx.env.client(from);
  const cm = await c.get<{ data?: Record<string, string> }>(`/api/v1/namespaces/mesh-system/configmaps/${OUTBOUND_ROUTES_CONFIGMAP}`);
  const t = parseOutboundRoutes(cm.data?.[OUTBOUND_ROUTES_KEY]);
  assert.ok(t.ok, `${from}'s outbound route table parses: ${t.ok ? '' : t.message}`);
  const B = clusterName(ctx.b);
  assert.ok(t.routes.some((r) => r.remoteCluster === B && r.service === 'hello' && r.origin?.kind === 'ServiceImport'), `${from} routes the import hello to ${B}: ${JSON.stringify(t.routes)}`);
  const leak = t.routes.filter((r) => r.service === PRIVATE || r.origin?.name.startsWith(PRIVATE));
  assert.deepEqual(leak, [], `no outbound route in ${from} leads to ${PRIVATE}`);
}

/** cluster-b's gateway, asked by a member of the clusterset (from's own gateway identity), admits `hello` and none of `authorities`. */
async function refusedByGateway(ctx: ScenarioContext, from: string, authorities: string[]): Promise<void> {
  if (!ctx.trustRoot) {
    ctx.log('  (gateway refusal not probed: needs the shared trust root, --trust-root)');
    return;
  }
  const c = await ctx.env.client(from);
  const l = await c.get<{ spec: { gateway?: { addresses?: string[]; port?: number } } }>(`/apis/multicluster.mesh.io/v1alpha1/namespaces/mesh-system/links/${clusterName(ctx.b)}`);
  const host = l.spec.gateway?.addresses?.[0];
  assert.ok(host && l.spec.gateway?.port, `${from}'s Link to ${ctx.b} has a gateway`);
  const dir = mkdtempSync(join(tmpdir(), 'mesh-e2e-mcs-reach-'));
  try {
    const member = writeLeaf(dir, 'member', await readRoot(ctx.trustRoot), clusterName(from));
    const r = await probeGateway(ctx, from, { host, port: l.spec.gateway.port, ca: join(ctx.trustRoot, 'root.crt'), ...member, authorities: [`hello.${DEMO_NS}.svc.cluster.local:8080`, ...authorities] });
    assert.equal(r.results[0]?.status, 200, `from ${from}: the exported hello crosses (the probe itself works): ${JSON.stringify(r)}`);
    for (const [i, au] of authorities.entries()) assert.notEqual(r.results[i + 1]?.status, 200, `from ${from}: ${au} must be refused: ${JSON.stringify(r.results[i + 1])}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
