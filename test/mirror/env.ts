// Shared set-up for the mirror's integration tests: two embedded API servers ("local" and "remote"), the
// Link CRD, credentials, and the controller as its own process.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { parse, stringify } from 'yaml';
import { startApiServer, type TestApiServer } from '../helpers/apiserver.js';
import { startMesh, repoRoot, type Proc } from '../helpers/process.js';
import { freePort } from '../helpers/ports.js';
import { KubeClient, resourcePath, isNotFound, isConflict, type KubeObject } from '../../src/kube/index.js';
import { MCS_GROUP, MCS_STORAGE_VERSION, SERVICE_EXPORT_PLURAL, SERVICE_IMPORT_PLURAL } from '../../src/api/index.js';
import type { Link, Service, EndpointSlice } from '../../src/mirror/index.js';

export interface Cluster {
  api: TestApiServer;
  client: KubeClient;
}

export async function startCluster(name: string, args: string[] = []): Promise<Cluster> {
  const api = await startApiServer({ clusterName: name, args });
  const client = await KubeClient.create(api.kubeConfig);
  return { api, client };
}

export async function stopCluster(c: Cluster | undefined): Promise<void> {
  if (!c) return;
  c.client.close();
  await c.api.stop();
}

export const nsPath = () => resourcePath({ version: 'v1', plural: 'namespaces' });
export const svcPath = (ns: string, name?: string) => resourcePath({ version: 'v1', plural: 'services', namespace: ns, name });
/** ServiceExports and ServiceImports at the storage version: of a namespace (of every one without), or one of them. */
export const exportPath = (ns?: string, name?: string) => resourcePath({ group: MCS_GROUP, version: MCS_STORAGE_VERSION, plural: SERVICE_EXPORT_PLURAL, namespace: ns, name });
export const importPath = (ns?: string, name?: string) => resourcePath({ group: MCS_GROUP, version: MCS_STORAGE_VERSION, plural: SERVICE_IMPORT_PLURAL, namespace: ns, name });
export const slicePath = (ns: string, name?: string) => resourcePath({ group: 'discovery.k8s.io', version: 'v1', plural: 'endpointslices', namespace: ns, name });
export const linkPath = (name?: string) => resourcePath({ group: 'multicluster.mesh.io', version: 'v1alpha1', plural: 'links', namespace: 'mesh-system', name });
export const secretPath = (name?: string) => resourcePath({ version: 'v1', plural: 'secrets', namespace: 'mesh-system', name });

export async function ensureNamespace(c: Cluster, name: string): Promise<void> {
  try {
    await c.client.create(nsPath(), { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
  } catch (err) {
    if (!isConflict(err)) throw err;
  }
}

/** Every CRD of manifests/crds (Link, and the MCS ones the controller watches), as `mesh install` applies them. */
export async function installCrd(c: Cluster): Promise<void> {
  for (const f of readdirSync(join(repoRoot, 'manifests/crds')).filter((x) => x.endsWith('.yaml')).sort()) {
    const crd = parse(readFileSync(join(repoRoot, 'manifests/crds', f), 'utf8')) as KubeObject;
    await c.client.create('/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd);
  }
  // The groups are served once the CRDs are established.
  for (let i = 0; i < 100; i++) {
    try {
      await c.client.list(linkPath());
      await c.client.list('/apis/multicluster.x-k8s.io/v1beta1/serviceexports');
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  assert.fail('Link CRD never became served');
}

/** Local cluster ready for a controller: mesh-system, the CRD. */
export async function prepareLocal(c: Cluster): Promise<void> {
  await ensureNamespace(c, 'mesh-system');
  await installCrd(c);
}

export function adminKubeconfig(remote: Cluster): string {
  return readFileSync(remote.api.kubeconfigPath, 'utf8');
}

/** A kubeconfig for `remote` that authenticates with `token`. */
export function tokenKubeconfig(remote: Cluster, token: string): string {
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'remote', cluster: { server: remote.api.url, 'certificate-authority-data': Buffer.from(remote.api.caPem).toString('base64') } }],
    users: [{ name: 'link', user: { token } }],
    contexts: [{ name: 'remote', context: { cluster: 'remote', user: 'link' } }],
    'current-context': 'remote',
  });
}

export async function putSecret(local: Cluster, name: string, kubeconfig: string): Promise<void> {
  const body = { apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: 'mesh-system' }, type: 'Opaque', data: { kubeconfig: Buffer.from(kubeconfig).toString('base64') } };
  try {
    await local.client.create(secretPath(), body);
  } catch (err) {
    if (!isConflict(err)) throw err;
    const live = await local.client.get(secretPath(name));
    await local.client.replace(secretPath(name), { ...body, metadata: { ...body.metadata, resourceVersion: live.metadata?.resourceVersion } });
  }
}

export async function createLink(local: Cluster, name: string, spec: Record<string, unknown>): Promise<void> {
  await local.client.create(linkPath(), { apiVersion: 'multicluster.mesh.io/v1alpha1', kind: 'Link', metadata: { name, namespace: 'mesh-system' }, spec });
}

export async function getLink(local: Cluster, name: string): Promise<Link | undefined> {
  try {
    return await local.client.get<Link>(linkPath(name));
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

export function condition(link: Link | undefined, type: string): { status: string; reason: string; message: string; lastTransitionTime?: string } | undefined {
  return link?.status?.conditions?.find((c) => c.type === type);
}

export async function exportService(
  remote: Cluster,
  ns: string,
  name: string,
  opts: { mode?: string; ports?: Array<{ name?: string; port: number }>; headless?: boolean; labels?: Record<string, string>; annotations?: Record<string, string> } = {},
): Promise<Service> {
  await ensureNamespace(remote, ns);
  const body: Service = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: ns, labels: { 'mirror.mesh.io/exported': opts.mode ?? 'true', ...(opts.labels ?? {}) }, annotations: opts.annotations ?? {} },
    spec: { ports: (opts.ports ?? [{ name: 'http', port: 80 }]).map((p) => ({ ...p, protocol: 'TCP' })), ...(opts.headless ? { clusterIP: 'None' } : {}) },
  };
  return remote.client.create<Service>(svcPath(ns), body);
}

export async function putSlice(
  c: Cluster,
  ns: string,
  service: string,
  name: string,
  endpoints: Array<{ ip: string; ready?: boolean; hostname?: string; zone?: string }>,
  ports: Array<{ name?: string; port: number }> = [{ name: 'http', port: 8080 }],
): Promise<void> {
  const body: EndpointSlice = {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name, namespace: ns, labels: { 'kubernetes.io/service-name': service } },
    addressType: 'IPv4',
    endpoints: endpoints.map((e) => ({ addresses: [e.ip], conditions: { ready: e.ready ?? true }, ...(e.hostname ? { hostname: e.hostname } : {}), ...(e.zone ? { zone: e.zone } : {}) })),
    ports: ports.map((p) => ({ name: p.name ?? '', port: p.port, protocol: 'TCP' })),
  };
  try {
    await c.client.create(slicePath(ns), body);
  } catch (err) {
    if (!isConflict(err)) throw err;
    const live = await c.client.get(slicePath(ns, name));
    await c.client.replace(slicePath(ns, name), { ...body, metadata: { ...body.metadata, resourceVersion: live.metadata?.resourceVersion } });
  }
}

export async function getService(c: Cluster, ns: string, name: string): Promise<Service | undefined> {
  try {
    return await c.client.get<Service>(svcPath(ns, name));
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

export async function slicesOf(c: Cluster, ns: string, service: string): Promise<EndpointSlice[]> {
  const r = await c.client.list<EndpointSlice>(slicePath(ns), { labelSelector: `kubernetes.io/service-name=${service}` });
  return r.items;
}

export async function until<T>(fn: () => Promise<T | undefined | false> | T | undefined | false, what: string, timeoutMs = 20_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < end) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}

export interface ControllerProc {
  proc: Proc;
  adminPort: number;
  metrics(): Promise<string>;
}

export async function startController(
  local: Cluster,
  extra: string[] = [],
  name = 'local',
  opts: { kubeconfigPath?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<ControllerProc> {
  const adminPort = await freePort();
  const identityPort = await freePort();
  const kubeconfig = opts.kubeconfigPath ?? local.api.kubeconfigPath;
  const proc = startMesh(
    ['controller', '--cluster-name', name, '--kubeconfig', kubeconfig, '--admin-port', String(adminPort), '--identity-port', String(identityPort), '--outbound-ports', '14000-14999', ...extra],
    // The remote endpoints of these tests are made-up addresses: no flat data-path probe sends packets to them.
    { MESH_LOG_LEVEL: process.env.MESH_LOG_LEVEL ?? 'info', POD_IP: '127.0.0.1', POD_NAME: `controller-${adminPort}`, MESH_FLAT_PROBE: 'off', ...opts.env },
  );
  await proc.waitFor(/controller started|stand|local caches synced/, 30_000);
  return {
    proc,
    adminPort,
    async metrics() {
      const res = await fetch(`http://127.0.0.1:${adminPort}/metrics`);
      return res.text();
    },
  };
}

export const GATEWAY_ID = 'spiffe://mesh.local/ns/mesh-system/sa/mesh-gateway';
