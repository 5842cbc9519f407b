// The demo's last act (issue 14): `web` exported with a ServiceExport in both clusters under local-first,
// cluster-a gets web pods of its own; the client pod in cluster-a sends a steady loop (a new connection per
// request, 20/s) to web.demo.svc.clusterset.local while cluster-a's web pods go away and come back. Printed
// as a short timeline: who answered when, what was done, the Events the controller recorded.
import type { ClientReport } from '../apps/index.js';
import { CLUSTERSET_DOMAIN, FAILBACK_EVENT, FAILOVER_EVENT, HOLD_DOWN_ANNOTATION, MCS_API_VERSION, SERVICE_EXPORT_KIND, SERVICE_EXPORT_PLURAL, SERVICE_IMPORT_KIND, SERVICE_IMPORT_PLURAL, TRAFFIC_POLICY_ANNOTATION } from '../api/index.js';
import { applyObject } from '../kube/index.js';
import { collectionOf, demoApps } from './apps.js';
import type { Environment } from './environment.js';
import { DEMO_NS, DEFAULT_IMAGE } from './names.js';
import { eventually, type Progress } from './steps.js';

const MCS = `/apis/${MCS_API_VERSION}`;
const HOLD_DOWN_S = 3;
const INTERVAL_MS = 50;

interface Mark {
  atMs: number;
  what: string;
}

/**
 * Segments of the loop by who answered, at each request's start (`at`, same machine's clock) relative to t0
 * (epoch ms); a result whose `at` does not parse is placed by the intervals and latencies before it.
 */
export function timeline(r: ClientReport, marks: Mark[], t0: number, intervalMs: number): string[] {
  const rows: Mark[] = [...marks];
  let approx = 0;
  let current = '';
  let count = 0;
  let start = 0;
  const flush = () => {
    if (count) rows.push({ atMs: start, what: `${count} request${count === 1 ? '' : 's'} answered by ${current}` });
  };
  for (const x of r.results) {
    const who = x.ok ? (x.cluster ?? '?') : `nobody (failed: ${x.error ?? '?'})`;
    const at = Date.parse(x.at);
    const when = Number.isFinite(at) ? at - t0 : approx;
    if (who !== current) {
      flush();
      current = who;
      count = 0;
      start = when;
    }
    count++;
    approx += x.latencyMs + intervalMs;
  }
  flush();
  return rows.sort((a, b) => a.atMs - b.atMs).map((m) => `  t+${(m.atMs / 1000).toFixed(1).padStart(5)}s  ${m.what}`);
}

async function servingIs(env: Environment, context: string, want: string): Promise<void> {
  const c = await env.client(context);
  await eventually(`web served by ${want}`, async () => {
    const i = await c.get<{ status?: { clusters?: Array<{ cluster: string; serving?: boolean }> } }>(`${MCS}/namespaces/${DEMO_NS}/${SERVICE_IMPORT_PLURAL}/web`).catch(() => undefined);
    return (i?.status?.clusters ?? []).filter((x) => x.serving).map((x) => x.cluster).join(',') === want;
  }, 90_000, 200);
}

/** Runs the act from `a` (which gets web pods) with `b` exporting too; returns the printed lines. */
export async function failoverAct(env: Environment, a: string, b: string, o: { image?: string; progress: Progress }): Promise<string[]> {
  const ca = await env.client(a);
  const web = demoApps(a, o.image ?? DEFAULT_IMAGE).filter((x) => ['Namespace', 'Deployment', 'Service'].includes(String(x.kind)) && ['web', DEMO_NS].includes(x.metadata.name));
  for (const x of web) await applyObject(ca, collectionOf(x), x);
  const annotations = { [TRAFFIC_POLICY_ANNOTATION]: 'local-first', [HOLD_DOWN_ANNOTATION]: String(HOLD_DOWN_S) };
  for (const ctx of [a, b]) {
    const c = await env.client(ctx);
    const body = { apiVersion: MCS_API_VERSION, kind: SERVICE_EXPORT_KIND, metadata: { name: 'web', namespace: DEMO_NS, annotations } };
    await c.create(`${MCS}/namespaces/${DEMO_NS}/${SERVICE_EXPORT_PLURAL}`, body).catch(() => undefined);
  }
  o.progress(`failover act: web exported in ${a} and ${b} with traffic-policy local-first (hold-down ${HOLD_DOWN_S}s) …`);
  await servingIs(env, a, a);
  const url = `http://web.${DEMO_NS}.svc.${CLUSTERSET_DOMAIN}:8080/`;
  await eventually('the clusterset name answers', async () => (await env.traffic(a, { url, count: 2, timeoutMs: 2_000 })).summary.ok === 2, 60_000, 1_000);
  const marks: Mark[] = [];
  const t0 = Date.now();
  const mark = (what: string) => marks.push({ atMs: Date.now() - t0, what });
  const deployment = `/apis/apps/v1/namespaces/${DEMO_NS}/deployments/web`;
  const replicas = (await ca.get<{ spec: { replicas: number } }>(deployment)).spec.replicas;
  const load = env.traffic(a, { url, count: 500, intervalMs: INTERVAL_MS, timeoutMs: 2_000 });
  // The loop starts inside the client pod about 2 s after the call: a few seconds of answers from a first.
  await new Promise((r) => setTimeout(r, 5_000));
  mark(`$ kubectl --context ${a} scale deployment/web -n ${DEMO_NS} --replicas=0`);
  await ca.patch(deployment, { spec: { replicas: 0 } });
  await servingIs(env, a, b);
  mark(`the ServiceImport in ${a} serves ${b} (Failover)`);
  await new Promise((r) => setTimeout(r, 3_000));
  mark(`$ kubectl --context ${a} scale deployment/web -n ${DEMO_NS} --replicas=${replicas}`);
  await ca.patch(deployment, { spec: { replicas } });
  await servingIs(env, a, a);
  mark(`the ServiceImport in ${a} serves ${a} again after the hold-down (Failback)`);
  const report = await load;
  const events = (await ca.list<{ reason?: string; message?: string; involvedObject?: { kind?: string; name?: string } }>(`/api/v1/namespaces/${DEMO_NS}/events`)).items
    .filter((e) => e.involvedObject?.kind === SERVICE_IMPORT_KIND && e.involvedObject.name === 'web' && (e.reason === FAILOVER_EVENT || e.reason === FAILBACK_EVENT))
    .map((e) => `  Event ${e.reason}: ${e.message ?? ''}`);
  return [
    `Failover act (client in ${a}, ${url}, a new connection every ${INTERVAL_MS} ms):`,
    ...timeline(report, marks, t0, INTERVAL_MS),
    `  ${report.summary.ok}/${report.summary.total} answered (${JSON.stringify(report.summary.byCluster)})`,
    ...events,
    `  (mesh imports ${a} shows each cluster's ready endpoints and whether it serves)`,
  ];
}
