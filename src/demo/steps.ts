// The demo's steps, each a plain function over an Environment so the end-to-end suite runs the same ones:
// install the mesh with one shared root, deploy and export the apps, link, send traffic, collect facts.
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import type { ClientReport } from '../apps/index.js';
import { DEFAULT_TRUST_DOMAIN, LINK_API_VERSION, LINK_PLURAL, MESH_NAMESPACE, MODE_ANNOTATION, SLICE_SERVICE_LABEL } from '../api/index.js';
import { applyObject, type KubeClient } from '../kube/index.js';
import { collectionOf, demoApps, trafficAgent } from './apps.js';
import { DemoError } from './errors.js';
import { AGENT, type Environment } from './environment.js';
import { DEMO_NS, DEFAULT_IMAGE, type Target } from './names.js';
import { mustMesh } from './run.js';

export type Progress = (line: string) => void;

/** Polls `fn` until it returns something truthy; fails naming what was awaited. */
export async function eventually<T>(what: string, fn: () => Promise<T | undefined | null | false>, timeoutMs = 60_000, everyMs = 500): Promise<T> {
  const until = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    if (Date.now() > until) throw new DemoError('Timeout', `timed out after ${Math.round(timeoutMs / 1000)}s waiting for ${what}${last ? ` (last error: ${last})` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** One shared trust root (made once in `dir`), then `mesh install` in every cluster at once. */
export async function installMesh(env: Environment, contexts: string[], o: { rootDir: string; image?: string; progress: Progress }): Promise<void> {
  if (!existsSync(join(o.rootDir, 'root.crt'))) {
    o.progress(`$ mesh trust init --trust-domain ${DEFAULT_TRUST_DOMAIN} --out ${o.rootDir}`);
    await mustMesh(['trust', 'init', '--trust-domain', DEFAULT_TRUST_DOMAIN, '--out', o.rootDir], env.kubeconfig);
  }
  await Promise.all(contexts.map(async (ctx) => {
    const args = ['install', ctx, '--trust-root', o.rootDir, '--gateway-service-type', 'NodePort', '--wait-timeout', '150s', ...(o.image ? ['--image', o.image] : [])];
    o.progress(`$ mesh ${args.join(' ')}`);
    await mustMesh(args, env.kubeconfig, 180_000);
    o.progress(`  ${ctx}: controller and gateway ready`);
  }));
}

async function applyAll(c: KubeClient, objs: Array<Record<string, unknown> & { metadata: { name: string } }>): Promise<void> {
  for (const o of objs) await applyObject(c, collectionOf(o as Parameters<typeof collectionOf>[0]), o);
}

async function readyReplicas(c: KubeClient, path: string): Promise<boolean> {
  const d = await c.get<{ spec?: { replicas?: number }; status?: { readyReplicas?: number } }>(path);
  return (d.status?.readyReplicas ?? 0) >= (d.spec?.replicas ?? 1);
}

/** Deploys the apps in `context` (cluster name `cluster`) and exports them: web, grpc, tcp, db through the gateway; web-flat, db-flat flat. */
export async function deployDemoApps(env: Environment, context: string, cluster: string, o: { image?: string; progress: Progress }): Promise<void> {
  const c = await env.client(context);
  o.progress(`deploying demo apps in ${context}: web (HTTP echo), grpc (gRPC echo), tcp (TCP echo), db and db-flat (StatefulSets, headless Services)`);
  await applyAll(c, demoApps(cluster, o.image ?? DEFAULT_IMAGE));
  await Promise.all([
    ...['web', 'grpc', 'tcp', 'db'].map((s) => exportService(env, context, s, 'gateway', o.progress)),
    ...['web-flat', 'db-flat'].map((s) => exportService(env, context, s, 'flat', o.progress)),
  ]);
  await eventually(`demo apps ready in ${context}`, async () => {
    const all = await Promise.all([
      ...['web', 'grpc', 'tcp'].map((d) => readyReplicas(c, `/apis/apps/v1/namespaces/${DEMO_NS}/deployments/${d}`)),
      ...['db', 'db-flat'].map((st) => readyReplicas(c, `/apis/apps/v1/namespaces/${DEMO_NS}/statefulsets/${st}`)),
    ]);
    return all.every(Boolean);
  }, 120_000);
  o.progress(`  ${context}: apps ready`);
}

export async function exportService(env: Environment, context: string, svc: string, mode: 'gateway' | 'flat', progress: Progress): Promise<void> {
  const args = ['export', svc, '-n', DEMO_NS, '--context', context, '--mode', mode];
  progress(`$ mesh ${args.join(' ')}`);
  await mustMesh(args, env.kubeconfig);
}

/** The traffic agent in `context` (a pod that runs the traffic client on request). */
export async function deployTrafficAgent(env: Environment, context: string, cluster: string, o: { image?: string; progress: Progress }): Promise<void> {
  const c = await env.client(context);
  o.progress(`deploying the traffic client pod (${AGENT.name}) in ${context}`);
  await applyAll(c, trafficAgent(cluster, o.image ?? DEFAULT_IMAGE));
  await eventually(`${AGENT.name} ready in ${context}`, () => readyReplicas(c, `/apis/apps/v1/namespaces/${DEMO_NS}/deployments/${AGENT.name}`), 120_000);
}

/** `mesh link SOURCE TARGET` with the addresses this environment needs; waits for the Link to be Ready. */
export async function link(env: Environment, source: string, target: string, o: { progress: Progress; mode?: 'gateway' | 'flat' }): Promise<void> {
  const gw = await env.gatewayAddress(target);
  const api = env.apiAddressFromClusters(target);
  const args = ['link', source, target, ...(o.mode ? ['--mode', o.mode] : []), ...(gw ? ['--gateway-address', gw] : []), ...(api ? ['--api-server-address', api] : []), '--wait-timeout', '90s'];
  o.progress(`$ mesh ${args.join(' ')}`);
  await mustMesh(args, env.kubeconfig, 120_000);
}

export interface ShadowInfo {
  name: string;
  mode?: string;
  readyEndpoints: number;
  addresses: string[];
  ports: number[];
}

export async function shadowInfo(env: Environment, context: string, name: string, ns = DEMO_NS): Promise<ShadowInfo | undefined> {
  const c = await env.client(context);
  const svc = await c.get<{ metadata: { annotations?: Record<string, string> } }>(`/api/v1/namespaces/${ns}/services/${name}`).catch(() => undefined);
  if (!svc) return undefined;
  const slices = await c.list<{ endpoints?: Array<{ addresses: string[]; conditions?: { ready?: boolean } }>; ports?: Array<{ port?: number }> }>(`/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices`, { labelSelector: `${SLICE_SERVICE_LABEL}=${name}` });
  const eps = slices.items.flatMap((s) => s.endpoints ?? []);
  return {
    name,
    ...(svc.metadata.annotations?.[MODE_ANNOTATION] ? { mode: svc.metadata.annotations[MODE_ANNOTATION] } : {}),
    readyEndpoints: eps.filter((e) => e.conditions?.ready !== false).length,
    addresses: eps.flatMap((e) => e.addresses),
    ports: slices.items.flatMap((s) => (s.ports ?? []).map((p) => p.port ?? 0)),
  };
}

/** Waits until every target's shadow exists in `context` with ready endpoints. */
export async function waitForShadows(env: Environment, context: string, targets: Target[], timeoutMs = 90_000): Promise<Map<string, ShadowInfo>> {
  const out = new Map<string, ShadowInfo>();
  await Promise.all([...new Set(targets.map((t) => t.shadow))].map(async (s) => {
    out.set(s, await eventually(`shadow ${DEMO_NS}/${s} with ready endpoints in ${context}`, async () => {
      const i = await shadowInfo(env, context, s);
      return i && i.readyEndpoints > 0 ? i : undefined;
    }, timeoutMs));
  }));
  return out;
}

export interface TargetResult {
  target: Target;
  shadow?: ShadowInfo;
  report: ClientReport;
}

/** Sends `count` requests to each target from the traffic agent in `context`. */
export async function sendTraffic(env: Environment, context: string, targets: Target[], count = 6): Promise<TargetResult[]> {
  return Promise.all(targets.map(async (t) => ({
    target: t,
    shadow: await shadowInfo(env, context, t.shadow),
    report: await env.traffic(context, { ...t.request, count, intervalMs: 20, timeoutMs: 5_000 }),
  })));
}

export interface GatewayFacts {
  cluster: string;
  address: string;
  /** From the controller's mTLS probe of the remote gateway (Link status.lastProbe). */
  alive: boolean;
  latency: string;
  /** SPIFFE id the source cluster requires on the remote gateway's certificate (Link spec.gateway.identity). */
  identity?: string;
  conditions: string;
  note?: string;
}

/**
 * What the source cluster knows about the remote gateways, read from its Links (the same facts as
 * `mesh gateways`, without dialing pod addresses from this machine, which are not reachable in isolated mode).
 */
export async function gatewayFacts(env: Environment, context: string): Promise<GatewayFacts[]> {
  const c = await env.client(context);
  const links = await c.list<{
    spec?: { targetClusterName?: string; gateway?: { identity?: string; addresses?: string[]; port?: number } };
    status?: { lastProbe?: { latencyMs?: number; success?: boolean; message?: string }; conditions?: Array<{ type: string; status: string }> };
  }>(`/apis/${LINK_API_VERSION}/namespaces/${MESH_NAMESPACE}/${LINK_PLURAL}`);
  return links.items.filter((l) => l.spec?.gateway).map((l) => ({
    cluster: l.spec?.targetClusterName ?? '?',
    address: `${l.spec?.gateway?.addresses?.join(',') ?? '?'}:${l.spec?.gateway?.port ?? '?'}`,
    alive: l.status?.lastProbe?.success === true,
    latency: l.status?.lastProbe?.latencyMs !== undefined ? `${l.status.lastProbe.latencyMs.toFixed(1)} ms` : '?',
    ...(l.spec?.gateway?.identity ? { identity: l.spec.gateway.identity } : {}),
    conditions: (l.status?.conditions ?? []).map((x) => `${x.type}=${x.status}`).join(','),
    ...(l.status?.lastProbe?.message ? { note: l.status.lastProbe.message } : {}),
  }));
}
