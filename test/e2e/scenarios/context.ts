// What every scenario gets: the environment, the contexts, and helpers that send real traffic and read
// the state of the clusters. Each scenario throws (with a message naming what went wrong) on failure.
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import type { ClientReport } from '../../../src/apps/index.js';
import { DEMO_NS, eventually, shadowHost, shadowInfo, type Environment, type ShadowInfo, type TrafficRequest } from '../../../src/demo/index.js';
import type { ProbeOutput } from '../gateway-probe.js';

export interface ScenarioContext {
  env: Environment;
  /** Contexts; cluster names are the same in the sandbox, `kind-` is stripped for kind. */
  a: string;
  b: string;
  c?: string;
  /** Directory with the shared root (root.crt, root.key), when the runner has it (security scenario). */
  trustRoot?: string;
  log: (line: string) => void;
}

export interface Scenario {
  id: number;
  name: string;
  /** A reason to skip in this environment, printed plainly; undefined = run. */
  skip?: (ctx: ScenarioContext) => string | undefined;
  run(ctx: ScenarioContext, step: (name: string, fn: () => Promise<void>) => Promise<void>): Promise<void>;
}

export const clusterName = (context: string) => context.replace(/^kind-/, '');

export const url = (svc: string, remote: string, port = 8080, path = '/') => `http://${shadowHost(svc, remote)}:${port}${path}`;

/** Sends traffic and returns the report (never throws for failed requests; the caller judges). */
export function traffic(ctx: ScenarioContext, req: TrafficRequest, from = ctx.a): Promise<ClientReport> {
  return ctx.env.traffic(from, { intervalMs: 0, timeoutMs: 5_000, ...req });
}

export function describe(r: ClientReport): string {
  const errs = [...new Set(r.results.filter((x) => !x.ok).map((x) => x.error ?? '?'))].slice(0, 3);
  return `${r.summary.ok}/${r.summary.total} ok, byCluster ${JSON.stringify(r.summary.byCluster)}, byPod ${JSON.stringify(r.summary.byPod)}${errs.length ? `, errors: ${errs.join(' | ')}` : ''}`;
}

/** Every request answered, and only by `cluster`. */
export function allFrom(r: ClientReport, cluster: string, what: string): void {
  assert.ok(r.summary.total > 0, `${what}: no requests were sent`);
  assert.equal(r.summary.ok, r.summary.total, `${what}: ${describe(r)}`);
  assert.deepEqual(Object.keys(r.summary.byCluster), [cluster], `${what}: ${describe(r)}`);
}

export function noneOk(r: ClientReport, what: string): void {
  assert.equal(r.summary.ok, 0, `${what} should fail: ${describe(r)}`);
}

export async function shadow(ctx: ScenarioContext, name: string, from = ctx.a): Promise<ShadowInfo | undefined> {
  return shadowInfo(ctx.env, from, name);
}

export async function waitShadow(ctx: ScenarioContext, name: string, want: 'ready' | 'gone' | 'not-ready', timeoutMs = 60_000, from = ctx.a): Promise<void> {
  await eventually(`shadow ${DEMO_NS}/${name} in ${from} to be ${want}`, async () => {
    const s = await shadow(ctx, name, from);
    if (want === 'gone') return s === undefined;
    if (!s) return false;
    return want === 'ready' ? s.readyEndpoints > 0 : s.readyEndpoints === 0 && s.addresses.length > 0;
  }, timeoutMs);
}

/** The ready pod IPs of a label selector in `context`. */
export async function podIPs(ctx: ScenarioContext, context: string, selector: string, ns = DEMO_NS): Promise<Array<{ name: string; ip: string }>> {
  const c = await ctx.env.client(context);
  const l = await c.list<{ metadata: { name: string; deletionTimestamp?: string }; status?: { podIP?: string; conditions?: Array<{ type: string; status: string }> } }>(`/api/v1/namespaces/${ns}/pods`, { labelSelector: selector });
  return l.items
    .filter((p) => !p.metadata.deletionTimestamp && p.status?.podIP && p.status.conditions?.some((x) => x.type === 'Ready' && x.status === 'True'))
    .map((p) => ({ name: p.metadata.name, ip: p.status!.podIP! }));
}

/** A counter from a gateway's /metrics, summed over series whose labels include `match`. */
export async function gatewayMetric(ctx: ScenarioContext, context: string, metric: string, match: Record<string, string> = {}): Promise<number> {
  const [gw] = await podIPs(ctx, context, 'app.kubernetes.io/name=mesh-gateway', 'mesh-system');
  assert.ok(gw, `a ready mesh-gateway pod in ${context}`);
  const script = "fetch(process.argv[1]).then(async(r)=>{process.stdout.write(await r.text());process.exit(0)}).catch((e)=>{process.stderr.write(e.message);process.exit(1)})";
  const r = await ctx.env.execNode(context, ['-e', script, `http://${gw.ip}:4191/metrics`]);
  assert.equal(r.code, 0, `GET ${gw.ip}:4191/metrics in ${context}: ${r.stderr}`);
  let sum = 0;
  for (const line of r.stdout.split('\n')) {
    if (!line.startsWith(metric)) continue;
    const m = line.match(/^([a-z_]+)(?:\{(.*)\})? ([0-9.e+-]+)$/);
    if (!m || m[1] !== metric) continue;
    const labels = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(match).every(([k, v]) => labels[k] === v)) sum += Number(m[3]);
  }
  return sum;
}

export const probeScript = fileURLToPath(new URL('../gateway-probe.js', import.meta.url));

/** Runs the hostile gateway client from inside `from`'s network. */
export async function probeGateway(ctx: ScenarioContext, from: string, input: { host: string; port: number; ca: string; cert?: string; key?: string; authorities: string[] }): Promise<ProbeOutput> {
  const r = await ctx.env.execNode(from, [probeScript, JSON.stringify(input)], 30_000);
  const line = r.stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line) as ProbeOutput;
  } catch {
    throw new Error(`gateway probe printed no result (exit ${r.code}): ${r.stdout} ${r.stderr}`);
  }
}

/** Runs `fn` while `load` keeps sending requests; returns the load's report. */
export async function underLoad(ctx: ScenarioContext, req: TrafficRequest, fn: () => Promise<void>): Promise<ClientReport> {
  const load = traffic(ctx, req);
  await new Promise((r) => setTimeout(r, 300));
  await fn();
  return load;
}
