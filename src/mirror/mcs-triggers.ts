// Which MCS keys an observed change enqueues (names and labels only; the reconcilers read the rest): an
// import key reconciles the ServiceImport with its derived Service and slices, an export key the local
// ServiceExport's status. Both are cheap when nothing is exported under the name.
import { IMPORT_POD_LABEL, MCS_SERVICE_NAME_LABEL, SLICE_SERVICE_LABEL } from '../api/index.js';
import { keyOf, splitKey, type KubeObject } from '../kube/index.js';
import type { MirrorEnv } from './env.js';
import { exportKey, importKey } from './keys.js';

/** Both keys of namespace/name. */
export function enqueueMcs(env: MirrorEnv, namespace: string, name: string): void {
  env.queue.enqueue(importKey(namespace, name));
  env.queue.enqueue(exportKey(namespace, name));
}

/** Every name exported anywhere in the clusterset, and every import that exists: after a Link, gateway or
 * probe change, or a remote (re)sync. */
export function enqueueAllMcs(env: MirrorEnv): void {
  const names = new Set<string>([...env.caches.serviceExports.keys(), ...env.caches.serviceImports.keys()]);
  for (const [link] of env.remotes.entries()) {
    const rc = env.remotes.current(link);
    if (rc?.mcsSynced()) for (const k of rc.exports.keys()) names.add(k);
  }
  for (const k of names) {
    const { namespace, name } = splitKey(k);
    enqueueMcs(env, namespace, name);
  }
}

/** A remote Service or slice of namespace/name changed: its import, if the remote exports it. */
export function remoteServiceChanged(env: MirrorEnv, link: string, namespace: string, name: string): void {
  const rc = env.remotes.current(link);
  if (rc?.exports.getByName(namespace, name)) env.queue.enqueue(importKey(namespace, name));
}

export function wireMcsTriggers(env: MirrorEnv): void {
  const { caches } = env;
  const byKey = (key: string) => {
    const { namespace, name } = splitKey(key);
    enqueueMcs(env, namespace, name);
  };
  caches.serviceExports.onKey(byKey);
  caches.serviceImports.onKey(byKey);
  const serviceChanged = (s: KubeObject) => {
    const { namespace, name } = splitKey(keyOf(s));
    if (caches.serviceExports.getByName(namespace, name)) enqueueMcs(env, namespace, name);
    // A derived Service: its import (its VIP is the import's spec.ips).
    const imported = s.metadata?.labels?.[MCS_SERVICE_NAME_LABEL];
    if (imported) env.queue.enqueue(importKey(namespace, imported));
  };
  caches.services.onObject({ onAdd: serviceChanged, onUpdate: (_o, s) => serviceChanged(s), onDelete: serviceChanged });
  const localSlice = (s: KubeObject) => {
    const svc = s.metadata?.labels?.[SLICE_SERVICE_LABEL];
    const ns = s.metadata?.namespace ?? '';
    if (svc && caches.serviceExports.getByName(ns, svc)) env.queue.enqueue(importKey(ns, svc));
  };
  caches.localSlices.onObject({ onAdd: localSlice, onUpdate: (_o, s) => localSlice(s), onDelete: localSlice });
  const importSlice = (s: KubeObject) => {
    // An import slice, or a slice of one of a Headless import's per-pod Services.
    const n = s.metadata?.labels?.[MCS_SERVICE_NAME_LABEL] ?? s.metadata?.labels?.[IMPORT_POD_LABEL];
    if (n) env.queue.enqueue(importKey(s.metadata?.namespace ?? '', n));
  };
  caches.shadowSlices.onObject({ onAdd: importSlice, onUpdate: (_o, s) => importSlice(s), onDelete: importSlice });
  // Gateway pods and Links change every gateway-mode import's endpoints, and which clusters are in the set.
  caches.gatewaySlices.onKey(() => enqueueAllMcs(env));
  caches.links.onObject({ onAdd: () => enqueueAllMcs(env), onUpdate: (o, l) => o.metadata?.generation !== l.metadata?.generation && enqueueAllMcs(env), onDelete: () => enqueueAllMcs(env) });
}
