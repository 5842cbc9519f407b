// Which keys an observed change enqueues. Handlers only name what to reconcile, from names and the mirror's
// labels (never from an annotation): the reconcilers read everything else from the caches.
import { CLUSTER_LABEL, HEADLESS_PARENT_LABEL, MIRRORED_LABEL, SLICE_SERVICE_LABEL } from '../api/index.js';
import { keyOf, splitKey, type KubeObject } from '../kube/index.js';
import { targetOf } from './caches.js';
import { statusSoon, type MirrorEnv } from './env.js';
import { linkKey, renewKey, routesKey, shadowKey } from './keys.js';
import { shadowName } from './names.js';
import type { Link } from './types.js';

/** Every shadow a Link's cluster has or should have: from the remote cache and from the local shadows. */
export function enqueueShadowsOf(env: MirrorEnv, link: string | undefined, cluster: string): void {
  const rc = link ? env.remotes.current(link) : undefined;
  if (rc) {
    for (const k of rc.services.keys()) {
      const { namespace, name } = splitKey(k);
      env.queue.enqueue(shadowKey(cluster, namespace, shadowName(name, cluster)));
    }
  }
  for (const s of env.caches.mirroredOf(cluster)) enqueueForMirrored(env, s);
  routesSoon(env);
}

/** The route table soon (batched: a burst of shadow changes is one write). */
export function routesSoon(env: Pick<MirrorEnv, 'queue'>): void {
  env.queue.enqueueAfter(routesKey, ROUTES_BATCH_MS);
}

export const ROUTES_BATCH_MS = 100;

/** A shadow, per-pod Service or slice of ours: the key of the shadow it belongs to; its cluster. */
function enqueueForMirrored(env: MirrorEnv, obj: KubeObject, slice = false): string | undefined {
  const l = obj.metadata?.labels;
  const cluster = l?.[MIRRORED_LABEL] === 'true' ? l[CLUSTER_LABEL] : undefined;
  if (!cluster) return undefined;
  const shadow = l?.[HEADLESS_PARENT_LABEL] ?? (slice ? l?.[SLICE_SERVICE_LABEL] : obj.metadata?.name);
  if (!shadow) return undefined;
  env.queue.enqueue(shadowKey(cluster, obj.metadata?.namespace ?? '', shadow));
  return cluster;
}

/**
 * A local Service changed: its own shadow key, and any shadow whose name, or whose per-pod Service's name
 * (`<hostname>-<shadow>`), it holds — a conflict, or a name just freed (the first owner keeps a name).
 */
function serviceChanged(env: MirrorEnv, svc: KubeObject): void {
  const cluster = enqueueForMirrored(env, svc);
  if (cluster) {
    const owner = env.caches.linkFor(cluster)?.metadata?.name;
    if (owner) statusSoon(env, owner);
    // Whatever carries the mirror's labels is checked against what the mirror made (routes.ts).
    routesSoon(env);
  }
  const { namespace, name } = splitKey(keyOf(svc));
  const suffixes = [...name.matchAll(/-/g)].map((m) => name.slice((m.index ?? 0) + 1));
  for (const [link, rc] of env.remotes.entries()) {
    const c = env.remotes.clusterOf(link);
    if (!c) continue;
    for (const shadow of [name, ...suffixes]) {
      if (!rc.serviceForShadow(namespace, shadow)) continue;
      env.queue.enqueue(shadowKey(c, namespace, shadow));
      statusSoon(env, link);
    }
  }
}

function linkChanged(env: MirrorEnv, old: Link | undefined, link: Link): void {
  const name = link.metadata?.name ?? '';
  env.queue.enqueue(linkKey(name));
  const target = targetOf(link);
  // Status writes come back here too; only a new spec changes what the shadows should be.
  if (old && old.metadata?.generation === link.metadata?.generation) return;
  env.queue.enqueue(renewKey(name));
  if (target) enqueueShadowsOf(env, name, target);
  const was = old && targetOf(old);
  if (was && was !== target) enqueueShadowsOf(env, undefined, was); // retargeted: the old cluster's shadows go
}

export function wireTriggers(env: MirrorEnv): void {
  const { caches, queue } = env;
  caches.links.onObject({
    onAdd: (l) => linkChanged(env, undefined, l),
    onUpdate: (old, l) => linkChanged(env, old, l),
    onDelete: (l) => {
      queue.enqueue(linkKey(l.metadata?.name ?? ''));
      const target = targetOf(l);
      if (target) enqueueShadowsOf(env, undefined, target);
    },
  });
  caches.secrets.onKey((key) => {
    for (const l of caches.linksUsingSecret(splitKey(key).name)) {
      queue.enqueue(linkKey(l.metadata?.name ?? ''));
      queue.enqueue(renewKey(l.metadata?.name ?? ''));
    }
  });
  // Someone else changed or deleted the table: publish it again.
  caches.routes.onKey(() => routesSoon(env));
  caches.services.onObject({ onAdd: (s) => serviceChanged(env, s), onUpdate: (_o, s) => serviceChanged(env, s), onDelete: (s) => serviceChanged(env, s) });
  const sliceChanged = (s: KubeObject) => void enqueueForMirrored(env, s, true);
  caches.shadowSlices.onObject({ onAdd: sliceChanged, onUpdate: (_o, s) => sliceChanged(s), onDelete: sliceChanged });
  // The local gateway's pods changed: every gateway-mode shadow's endpoints change with them.
  caches.gatewaySlices.onKey(() => {
    for (const l of caches.links.list()) {
      const t = targetOf(l);
      if (t) enqueueShadowsOf(env, l.metadata?.name, t);
    }
  });
}
