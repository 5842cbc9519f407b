// From what the cluster sources hold to the views the pages show: clusters, Links as edges, exports with
// their imports. Pure functions of their input, so each rule (what makes an edge red, where an import
// belongs) is tested without clusters.
import {
  CLUSTER_LABEL, DEFAULT_PROBE, GATEWAY_NAME, HEADLESS_PARENT_LABEL, EXPORT_FLAT_VALUES, EXPORT_GATEWAY_VALUES, EXPORT_LABEL, MCS_SERVICE_NAME_LABEL, MIRRORED_LABEL, REMOTE_FQ_ANNOTATION, SLICE_SERVICE_LABEL,
  durationMs, linkInfo, type LinkInfo,
} from '../api/index.js';
import type { KubeObject } from '../kube/index.js';
import type { Sampled } from './cluster-source.js';
import type { ClusterView, ConditionView, ExportMode, ExportView, GatewayView, Health, ImportView, LinkView } from './model.js';

export interface ClusterInput {
  context: string;
  server: string;
  configError?: string;
  sampled?: Sampled;
  lastContact?: number;
  /** The Links' watch: false while it fails (e.g. the Link CRD is not installed). */
  linksError?: string;
  links: KubeObject[];
  services: KubeObject[];
  slices: KubeObject[];
  serviceImports: KubeObject[];
  serviceExports: KubeObject[];
  mcs: boolean;
}

const worst = (hs: Health[]): Health => (hs.includes('failed') ? 'failed' : hs.includes('warn') ? 'warn' : hs.includes('unknown') ? 'unknown' : 'ok');

export function gatewayView(s: Sampled, outbound: Map<string, number> | null, inbound: number | null): GatewayView {
  const ready = s.gatewayPods.filter((p) => p.ready).length;
  const total = s.gatewayPods.length;
  const live = s.gatewayPods.filter((p) => p.live === true).length;
  const health: Health = total === 0 || ready === 0 ? 'failed' : ready < total || live < total ? 'warn' : 'ok';
  const byRemote: Record<string, number> = {};
  for (const [k, v] of outbound ?? []) byRemote[k] = v;
  return {
    pods: s.gatewayPods,
    ready,
    total,
    openTunnels: outbound === null || inbound === null ? null : { outbound: [...outbound.values()].reduce((a, b) => a + b, 0), inbound },
    tunnelsByRemote: byRemote,
    health,
  };
}

/** Open tunnels per remote cluster (outbound) and inbound in total, summed over the pods' scrapes. */
export function openTunnels(s: Sampled | undefined): { outbound: Map<string, number>; inbound: number } | null {
  if (!s || s.scrapes.size === 0) return null;
  const outbound = new Map<string, number>();
  let inbound = 0;
  for (const scrape of s.scrapes.values()) {
    for (const x of scrape.streamsActive) {
      if (x.labels.direction === 'outbound') outbound.set(x.labels.remote_cluster, (outbound.get(x.labels.remote_cluster) ?? 0) + x.value);
      else inbound += x.value;
    }
  }
  return { outbound, inbound };
}

export function clusterView(c: ClusterInput): ClusterView {
  const s = c.sampled;
  const base = { context: c.context, server: c.server, mcs: c.mcs, ...(c.lastContact ? { lastContact: new Date(c.lastContact).toISOString() } : {}) };
  if (c.configError || !s) {
    return { ...base, name: null, reachable: false, error: c.configError ?? 'not sampled yet', mesh: { installed: false }, gateway: null, health: c.configError ? 'failed' : 'unknown', summary: c.configError ? 'kubeconfig problem' : 'connecting…' };
  }
  const mesh = { installed: s.meshInstalled, ...(s.trustDomain ? { trustDomain: s.trustDomain } : {}), ...(s.clusterDomain ? { clusterDomain: s.clusterDomain } : {}), ...(s.controller ? { controller: s.controller } : {}) };
  if (!s.reachable) {
    return { ...base, name: s.name, reachable: false, error: s.error ?? 'unreachable', mesh, gateway: null, health: 'failed', summary: 'unreachable' };
  }
  if (!s.meshInstalled) {
    return { ...base, name: null, reachable: true, version: s.version, mesh, gateway: null, health: 'unknown', summary: 'mesh not installed', ...(s.error ? { error: s.error } : {}) };
  }
  const tunnels = openTunnels(s);
  const gateway = gatewayView(s, tunnels?.outbound ?? null, tunnels?.inbound ?? null);
  const controllerOk = s.controller !== undefined && s.controller.ready >= s.controller.want;
  const health = worst([gateway.health, controllerOk ? 'ok' : 'failed', s.error ? 'warn' : 'ok']);
  const parts = [`controller ${s.controller ? `${s.controller.ready}/${s.controller.want}` : 'missing'}`, `gateway ${gateway.ready}/${gateway.total} ready`];
  return { ...base, name: s.name, reachable: true, version: s.version, mesh, gateway, health, summary: parts.join(', '), ...(s.error ? { error: s.error } : {}) };
}

/** A Link's colour from its conditions: the first failing condition (in this order) decides. */
export function linkHealth(i: LinkInfo): { health: Health; reason: string } {
  const cond = (t: string) => i.conditions.find((c) => c.type === t);
  for (const t of ['SpecValid', 'CredentialsValid', 'RemoteAPIReachable', 'GatewayReachable', 'Ready']) {
    const c = cond(t);
    if (c?.status === 'False') return { health: 'failed', reason: `${t}=False: ${c.reason}${c.message ? ` — ${c.message}` : ''}` };
  }
  const conflict = cond('Conflict');
  if (conflict?.status === 'True') return { health: 'warn', reason: `Conflict: ${conflict.reason}${conflict.message ? ` — ${conflict.message}` : ''}` };
  const ready = cond('Ready');
  if (!ready || ready.status !== 'True') return { health: 'warn', reason: ready ? `Ready=${ready.status}: ${ready.reason}` : 'no conditions yet (is the controller running?)' };
  const pending = i.conditions.find((c) => c.status === 'Unknown');
  if (pending) return { health: 'warn', reason: `${pending.type}=Unknown: ${pending.reason}` };
  if (i.problems.length > 0) return { health: 'warn', reason: `${i.problems.length} exported Service(s) not mirrored` };
  return { health: 'ok', reason: i.mode === 'gateway' ? 'Ready, gateway reachable' : 'Ready (flat)' };
}

/**
 * Why the dashboard's own sample says a cluster's gateway is down (no gateway pod, or none answers /ready
 * through the API server), else undefined: up, or it cannot tell (cluster unreachable, pods not listed, not
 * allowed to ask). The controller needs several failed probes for GatewayReachable=False; this is one sample.
 */
export function gatewayDown(s: Sampled | undefined): string | undefined {
  if (!s?.reachable || !s.meshInstalled || !s.gatewaysRead) return undefined;
  const pods = s.gatewayPods;
  if (pods.length === 0) return `no ${GATEWAY_NAME} pod`;
  if (pods.some((p) => p.live === true || (p.live === null && p.error))) return undefined;
  return `no ${GATEWAY_NAME} pod answers /ready (${pods.map((p) => `${p.name}: ${p.live === null ? 'not running' : (p.error ?? 'not ready')}`).join('; ')})`;
}

export function linkViews(clusters: ClusterInput[]): LinkView[] {
  const known = new Set(clusters.map((c) => c.sampled?.name).filter((n): n is string => !!n));
  const down = new Map<string, string>();
  for (const c of clusters) {
    const why = c.sampled?.name ? gatewayDown(c.sampled) : undefined;
    if (why && c.sampled?.name) down.set(c.sampled.name, why);
  }
  const out: LinkView[] = [];
  for (const c of clusters) {
    const source = c.sampled?.name;
    if (!source) continue;
    const stale = !c.sampled?.reachable;
    const tunnels = openTunnels(c.sampled);
    for (const obj of c.links) {
      const i = linkInfo(obj);
      const st = (obj.status ?? {}) as { conditions?: Array<{ type: string; lastTransitionTime?: string }> };
      const conditions: ConditionView[] = i.conditions.map((x) => {
        const t = st.conditions?.find((y) => y.type === x.type)?.lastTransitionTime;
        return { ...x, ...(t ? { lastTransitionTime: t } : {}) };
      });
      let h = stale ? { health: 'unknown' as Health, reason: `${c.context} is unreachable: last state seen` } : linkHealth(i);
      const seen = i.mode === 'gateway' ? down.get(i.target) : undefined;
      // Red at the dashboard's next sample, not after the controller's failure threshold.
      if (seen && h.health !== 'failed' && h.health !== 'unknown') h = { health: 'failed', reason: `the dashboard sees ${i.target}'s gateway down: ${seen}` };
      out.push({
        id: `${source}/${i.name}`,
        source,
        sourceContext: c.context,
        target: i.target,
        targetKnown: known.has(i.target),
        name: i.name,
        mode: i.mode,
        ...(i.gateway ? { gatewayAddress: i.gateway } : {}),
        conditions,
        health: h.health,
        reason: h.reason,
        probe: i.lastProbe ? { ...i.lastProbe } : null,
        mirroredServices: i.mirroredServices,
        problems: i.problems,
        openTunnels: tunnels ? (tunnels.outbound.get(i.target) ?? 0) : null,
        stale,
      });
    }
  }
  return out.sort((a, b) => a.id.localeCompare(b.id));
}

/** The probe period the edges' colours may lag behind: the shortest of the Links', else the default. */
export function probePeriodMs(clusters: ClusterInput[]): number {
  const periods = clusters.flatMap((c) => c.links.map((l) => durationMs(String(((l.spec ?? {}) as { probe?: { period?: string } }).probe?.period ?? DEFAULT_PROBE.period))));
  const ok = periods.filter((p) => Number.isFinite(p) && p > 0);
  return ok.length ? Math.min(...ok) : durationMs(DEFAULT_PROBE.period);
}

/** Ready endpoints per `namespace/service` (by the slices' service-name label) of one cluster. */
function readyBy(slices: KubeObject[], label: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const s of slices) {
    const svc = s.metadata?.labels?.[label];
    if (!svc) continue;
    const key = `${s.metadata?.namespace ?? ''}/${svc}`;
    const eps = (s as { endpoints?: Array<{ conditions?: { ready?: boolean } }> }).endpoints ?? [];
    out.set(key, (out.get(key) ?? 0) + eps.filter((e) => e.conditions?.ready !== false).length);
  }
  return out;
}

function exportModeOf(label: string | undefined): ExportMode | undefined {
  if (label === undefined) return undefined;
  if ((EXPORT_GATEWAY_VALUES as readonly string[]).includes(label)) return 'gateway';
  if ((EXPORT_FLAT_VALUES as readonly string[]).includes(label)) return 'flat';
  return undefined;
}

type Conds = { status?: { conditions?: Array<{ type?: string; status?: string; message?: string; reason?: string }> } };

export function exportViews(clusters: ClusterInput[]): ExportView[] {
  const byId = new Map<string, ExportView>();
  const ready = new Map<string, Map<string, number>>();
  const get = (cluster: string, ns: string, name: string, readable: boolean): ExportView => {
    const id = `${cluster}/${ns}/${name}`;
    let e = byId.get(id);
    if (!e) {
      e = { id, cluster, namespace: ns, name, modes: [], ports: [], readyEndpoints: readable ? (ready.get(cluster)?.get(`${ns}/${name}`) ?? 0) : null, imports: [], conflicts: [], health: 'ok' };
      byId.set(id, e);
    }
    return e;
  };
  const named = clusters.filter((c) => c.sampled?.name);
  for (const c of named) ready.set(c.sampled!.name!, readyBy(c.slices, SLICE_SERVICE_LABEL));
  for (const c of named) {
    const name = c.sampled!.name!;
    for (const svc of c.services) {
      const mode = exportModeOf(svc.metadata?.labels?.[EXPORT_LABEL]);
      if (!mode || svc.metadata?.labels?.[MIRRORED_LABEL]) continue;
      const e = get(name, svc.metadata?.namespace ?? '', svc.metadata?.name ?? '', true);
      e.modes.push(mode);
      const ports = ((svc.spec ?? {}) as { ports?: Array<{ name?: string; port?: number; protocol?: string }> }).ports ?? [];
      e.ports = ports.map((p) => `${p.name ? `${p.name}:` : ''}${p.port ?? '?'}/${p.protocol ?? 'TCP'}`);
    }
    for (const se of c.serviceExports) {
      const e = get(name, se.metadata?.namespace ?? '', se.metadata?.name ?? '', true);
      if (!e.modes.includes('mcs')) e.modes.push('mcs');
      for (const cond of (se as Conds).status?.conditions ?? []) {
        if (cond.type === 'Conflict' && cond.status === 'True') e.conflicts.push(`ServiceExport: ${cond.reason ?? 'Conflict'}${cond.message ? ` — ${cond.message}` : ''}`);
      }
    }
  }
  const readable = new Set(named.filter((c) => c.sampled?.reachable).map((c) => c.sampled!.name!));
  for (const c of named) addImports(c, get, ready, readable);
  const out = [...byId.values()];
  for (const e of out) e.health = exportHealth(e);
  return out.sort((a, b) => `${a.namespace}/${a.name}/${a.cluster}`.localeCompare(`${b.namespace}/${b.name}/${b.cluster}`));
}

type GetExport = (cluster: string, ns: string, name: string, readable: boolean) => ExportView;

/** Shadows (from each Link's status: the controller's own account) and MCS ServiceImports of one cluster. */
function addImports(c: ClusterInput, get: GetExport, ready: Map<string, Map<string, number>>, readable: Set<string>): void {
  const here = c.sampled!.name!;
  const readyHere = ready.get(here) ?? new Map<string, number>();
  for (const obj of c.links) {
    const i = linkInfo(obj);
    for (const m of i.services) {
      const e = get(i.target, m.namespace, m.name, readable.has(i.target));
      if (e.modes.length === 0 && (m.mode === 'gateway' || m.mode === 'flat')) e.modes.push(m.mode);
      const imp: ImportView = { cluster: here, kind: 'shadow', name: m.shadow, mode: m.mode, readyEndpoints: m.problem ? null : (readyHere.get(`${m.namespace}/${m.shadow}`) ?? 0), ...(m.problem ? { problem: m.problem } : {}) };
      e.imports.push(imp);
      if (m.problem) e.conflicts.push(`${here}: ${m.problem}`);
    }
  }
  // Shadows of a cluster no Link here targets (its Link is gone): orphans as `mesh check` counts them,
  // shown where they point. (A gateway-mode headless shadow's per-pod Services belong to their parent.)
  const targets = new Set(c.links.map((l) => linkInfo(l).target));
  for (const svc of c.services) {
    const labels = svc.metadata?.labels ?? {};
    const from = labels[CLUSTER_LABEL];
    const key = `${svc.metadata?.namespace ?? ''}/${svc.metadata?.name ?? ''}`;
    if (labels[MIRRORED_LABEL] !== 'true' || !from || targets.has(from) || labels[HEADLESS_PARENT_LABEL]) continue;
    const fq = svc.metadata?.annotations?.[REMOTE_FQ_ANNOTATION] ?? '';
    const remoteName = fq.split('.')[0] || svc.metadata?.name || '';
    const e = get(from, svc.metadata?.namespace ?? '', remoteName, readable.has(from));
    e.imports.push({ cluster: here, kind: 'shadow', name: svc.metadata?.name ?? '', mode: 'orphan', readyEndpoints: readyHere.get(key) ?? 0, problem: 'no Link lists this shadow (orphaned)' });
  }
  const mcsReady = readyBy(c.slices, MCS_SERVICE_NAME_LABEL);
  for (const si of c.serviceImports) {
    const ns = si.metadata?.namespace ?? '';
    const name = si.metadata?.name ?? '';
    const sources = ((si.status ?? {}) as { clusters?: Array<{ cluster?: string }> }).clusters?.map((x) => x.cluster).filter((x): x is string => !!x) ?? [];
    const type = ((si.spec ?? {}) as { type?: string }).type ?? 'ClusterSetIP';
    for (const src of sources.length ? sources : ['(unknown)']) {
      const e = get(src, ns, name, readable.has(src));
      if (!e.modes.includes('mcs')) e.modes.push('mcs');
      e.imports.push({ cluster: here, kind: 'serviceimport', name, mode: type, readyEndpoints: mcsReady.get(`${ns}/${name}`) ?? 0 });
    }
  }
}

function exportHealth(e: ExportView): Health {
  if (e.readyEndpoints === 0) return 'failed';
  if (e.conflicts.length > 0 || e.imports.some((i) => i.problem || i.readyEndpoints === 0)) return 'warn';
  if (e.readyEndpoints === null) return 'unknown';
  return 'ok';
}

/** Link targets no dashboard cluster is named after. */
export function externalClusters(links: LinkView[]): string[] {
  return [...new Set(links.filter((l) => !l.targetKnown).map((l) => l.target))].sort();
}
