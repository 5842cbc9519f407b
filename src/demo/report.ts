// What the demo prints once traffic has flowed: plain text for a newcomer (pure; the facts come in).
import { DEFAULT_TRUST_DOMAIN, GATEWAY_NAME, MESH_NAMESPACE, serviceAccountId } from '../api/index.js';
import type { GatewayFacts, TargetResult } from './steps.js';

export interface DemoFacts {
  source: string;
  target: string;
  network: string;
  networkWhy: string;
  kubeconfig: string;
  dir: string;
  results: TargetResult[];
  gateways: GatewayFacts[];
  flatRoutes: boolean;
}

const pct = (n: number) => `${n.toFixed(1)} ms`;

/** The distinct callers the target reported (callerIdentity from cluster callerCluster). */
function callersOf(r: TargetResult): string[] {
  return [...new Set(r.report.results.filter((x) => x.ok && x.callerIdentity).map((x) => `${x.callerIdentity} from ${x.callerCluster ?? '?'}`))];
}

/** A compact, JSON-able view of the facts (also written next to the sandbox for scripts and tests). */
export function summarize(f: DemoFacts) {
  return {
    source: f.source,
    target: f.target,
    network: f.network,
    targets: f.results.map((r) => ({
      label: r.target.label,
      shadow: r.target.shadow,
      path: r.shadow?.mode ?? 'unknown',
      ok: r.report.summary.ok,
      total: r.report.summary.total,
      byCluster: r.report.summary.byCluster,
      byPod: r.report.summary.byPod,
      p50Ms: r.report.summary.latencyMs.p50,
      callers: callersOf(r),
      errors: [...new Set(r.report.results.filter((x) => !x.ok).map((x) => x.error ?? '?'))],
    })),
    gateways: f.gateways,
  };
}

export function renderReport(f: DemoFacts): string {
  const L: string[] = [];
  const ctx = (c: string) => `kubectl --kubeconfig ${f.kubeconfig} --context ${c}`;
  L.push('');
  L.push(`=== mesh demo: ${f.source} → ${f.target} ===`);
  L.push(`network: ${f.network} (${f.networkWhy})`);
  L.push('');
  L.push(`Requests from the traffic client pod in ${f.source} to Services exported by ${f.target}:`);
  for (const r of f.results) {
    const s = r.report.summary;
    const path = r.shadow?.mode ?? 'unknown';
    const via = path === 'gateway'
      ? `through ${f.source}'s gateway (shadow endpoints = local gateway pod, port ${r.shadow?.ports.join(',') ?? '?'}) over mTLS to ${f.target}'s gateway`
      : path === 'flat' ? `pod to pod, no gateway (shadow endpoints = ${f.target}'s pod IPs ${r.shadow?.addresses.join(', ') ?? '?'})` : 'unknown path';
    const addr = 'url' in r.target.request ? r.target.request.url : 'grpc' in r.target.request ? `grpc ${r.target.request.grpc}` : `tcp ${r.target.request.tcp}`;
    L.push(`  ${r.target.label}`);
    L.push(`    address   ${addr}`);
    L.push(`    path      ${path}: ${via}`);
    L.push(`    answered  ${s.ok}/${s.total} ok; by cluster ${Object.entries(s.byCluster).map(([k, v]) => `${k}×${v}`).join(', ') || '-'}; by pod ${Object.entries(s.byPod).map(([k, v]) => `${k}×${v}`).join(', ') || '-'}`);
    const callers = callersOf(r);
    if (callers.length) L.push(`    caller    the target saw ${callers.join(', ')} (PROXY v2 from ${f.target}'s gateway: the client pod's ServiceAccount, attested by ${f.source}'s gateway)`);
    if (s.ok) L.push(`    latency   p50 ${pct(s.latencyMs.p50)}, max ${pct(s.latencyMs.max)} (new connection per request)`);
    const errs = [...new Set(r.report.results.filter((x) => !x.ok).map((x) => x.error ?? '?'))];
    if (errs.length) L.push(`    errors    ${errs.slice(0, 3).join(' | ')}`);
  }
  L.push('');
  L.push(`Identities (one trust root, trust domain ${DEFAULT_TRUST_DOMAIN}):`);
  for (const g of f.gateways) {
    L.push(`  ${g.cluster}'s gateway at ${g.address}: ${f.source}'s controller probes it over mTLS and requires the peer identity ${g.identity ?? '?'}`);
    L.push(`    last probe: ${g.alive ? 'ok' : 'FAILED'}, ${g.latency}${g.note ? ` (${g.note})` : ''}; Link conditions ${g.conditions}`);
  }
  L.push(`  ${f.source}'s gateway presents ${serviceAccountId(DEFAULT_TRUST_DOMAIN, MESH_NAMESPACE, GATEWAY_NAME)} (issued by ${f.source}'s issuer, which the shared root signed)`);
  L.push('');
  L.push('Look further (`mesh` is on your PATH after `npm link`; see the README):');
  L.push(`  ${ctx(f.source)} get svc,endpointslices -n demo            # the shadows (mirror.mesh.io/* labels and annotations)`);
  L.push(`  ${ctx(f.source)} get links.multicluster.mesh.io -n mesh-system -o yaml`);
  L.push(`  ${ctx(f.target)} get pods -n demo -o wide`);
  L.push(`  KUBECONFIG=${f.kubeconfig} mesh links ${f.source} -o wide          # every shadow and the Service it mirrors`);
  L.push(`  KUBECONFIG=${f.kubeconfig} mesh gateways ${f.source}`);
  L.push(`  KUBECONFIG=${f.kubeconfig} mesh check ${f.source} ${f.target}`);
  L.push(`  KUBECONFIG=${f.kubeconfig} mesh dashboard --open          # the clusterset in a browser: topology, services, traffic, identity, check`);
  L.push(`  mesh sandbox exec --dir ${f.dir} ${f.source} -- mesh app client --url http://web-${f.target}.demo.svc.cluster.local:8080/ --count 5`);
  L.push(`  mesh sandbox status --dir ${f.dir}          # the clusters and their pods`);
  L.push(`  mesh sandbox logs --dir ${f.dir} ${f.target} mesh-system/<gateway pod>      # a pod's log, by the name status gave`);
  if (f.flatRoutes) L.push(`  (flat mode works here because the demo ran: mesh sandbox route --flat ${f.source} ${f.target} --dir ${f.dir})`);
  L.push('');
  return L.join('\n');
}
