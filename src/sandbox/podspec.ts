// Pure pieces of the kubelet: which images it can run and how, the environment a container gets, and the
// pod status that follows from the containers' states. Kept apart from process handling to be unit-tested.
import { MESH_IMAGE_NAME } from '../api/index.js';
import type { Container, EnvVar, Pod, PodCondition, PodStatus, ContainerStatus } from './types.js';

/** The mesh's own image, with or without a registry prefix, any tag or digest. */
const MESH_IMAGE = new RegExp(`^(?:[a-z0-9.-]+(?::\\d+)?/)*${MESH_IMAGE_NAME}(?::[\\w.-]+)?(?:@sha256:[a-f0-9]{64})?$`);

export type Resolved = { ok: true; argv: string[] } | { ok: false; reason: 'ErrImagePull' | 'RunContainerError'; message: string };

/**
 * How to run a container: the image `mesh-federation:*` has ENTRYPOINT `node /app/bin/mesh.js`, so
 * `args` select the subcommand; a `command` naming mesh (`mesh`, `/app/bin/mesh.js`, `node /app/bin/mesh.js`)
 * is honoured the same way. Anything else cannot be pulled here.
 */
export function resolveContainer(c: Container, meshBin: string): Resolved {
  const image = c.image ?? '';
  if (!MESH_IMAGE.test(image)) {
    return { ok: false, reason: 'ErrImagePull', message: `Failed to pull image "${image}": the sandbox runs only the mesh-federation image (mesh-federation:<tag>, optionally with a registry prefix) and the debug images nicolaka/netshoot, alpine/socat and busybox (from host tools)` };
  }
  const args = c.args ?? [];
  const cmd = c.command ?? [];
  if (cmd.length === 0) return { ok: true, argv: [meshBin, ...args] };
  const isMesh = (s: string | undefined) => s === 'mesh' || s === '/app/bin/mesh.js' || s === 'bin/mesh.js' || s === '/usr/local/bin/mesh';
  if (isMesh(cmd[0])) return { ok: true, argv: [meshBin, ...cmd.slice(1), ...args] };
  if ((cmd[0] === 'node' || cmd[0] === '/usr/local/bin/node') && isMesh(cmd[1])) return { ok: true, argv: [meshBin, ...cmd.slice(2), ...args] };
  return { ok: false, reason: 'RunContainerError', message: `command ${JSON.stringify(cmd)} is not in the mesh-federation image; use args to select a mesh subcommand` };
}

/** `$(VAR)` expansion as Kubernetes does it: known names expand, `$$` escapes, unknown stay as written. */
export function expandVars(s: string, env: Record<string, string>): string {
  return s.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (m, name: string | undefined) => {
    if (m === '$$') return '$';
    return name !== undefined && env[name] !== undefined ? env[name]! : m;
  });
}

export function fieldRefValue(pod: Pod, path: string, podIP: string, hostIP: string, podIPs: readonly string[] = [podIP]): string | undefined {
  const m = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(path);
  if (m) return (m[1] === 'labels' ? pod.metadata.labels : pod.metadata.annotations)?.[m[2]!];
  switch (path) {
    case 'metadata.name': return pod.metadata.name;
    case 'metadata.namespace': return pod.metadata.namespace ?? 'default';
    case 'metadata.uid': return pod.metadata.uid;
    case 'spec.nodeName': return pod.spec.nodeName;
    case 'spec.serviceAccountName': return pod.spec.serviceAccountName ?? 'default';
    case 'status.podIP': return podIP;
    // As Kubernetes gives it: every family's address, comma-separated, the primary first.
    case 'status.podIPs': return podIPs.join(',');
    case 'status.hostIP': case 'status.hostIPs': return hostIP;
    default: return undefined;
  }
}

export interface EnvContext {
  pod: Pod;
  podIP: string;
  /** status.podIPs (default: [podIP]); a dual-stack isolated pod's IPv6 address follows its IPv4 one. */
  podIPs?: readonly string[];
  hostIP: string;
  /** Resolves secretKeyRef / configMapKeyRef; undefined when absent. */
  lookup: (kind: 'secret' | 'configmap', name: string, key: string) => string | undefined;
  base: Record<string, string>;
}

export class EnvError extends Error {
  readonly code = 'CreateContainerConfigError';
}

/** The container's environment: `base` (sandbox contract vars) then the spec's env in order, with expansion. */
export function buildEnv(c: Container, ctx: EnvContext): Record<string, string> {
  const env: Record<string, string> = { ...ctx.base };
  for (const e of c.env ?? ([] as EnvVar[])) {
    let v: string | undefined;
    if (e.value !== undefined) v = expandVars(e.value, env);
    else if (e.valueFrom?.fieldRef) v = fieldRefValue(ctx.pod, e.valueFrom.fieldRef.fieldPath, ctx.podIP, ctx.hostIP, ctx.podIPs);
    else if (e.valueFrom?.secretKeyRef) {
      const r = e.valueFrom.secretKeyRef;
      v = ctx.lookup('secret', r.name, r.key);
      if (v === undefined && !r.optional) throw new EnvError(`secret "${r.name}" key "${r.key}" not found (env ${e.name})`);
    } else if (e.valueFrom?.configMapKeyRef) {
      const r = e.valueFrom.configMapKeyRef;
      v = ctx.lookup('configmap', r.name, r.key);
      if (v === undefined && !r.optional) throw new EnvError(`configmap "${r.name}" key "${r.key}" not found (env ${e.name})`);
    } else v = '';
    if (v !== undefined) env[e.name] = v;
  }
  return env;
}

/** Replace a condition keeping its lastTransitionTime when the status did not change. */
function condition(prev: PodCondition[] | undefined, type: string, status: boolean, now: string, reason?: string): PodCondition {
  const s = status ? 'True' : 'False';
  const old = prev?.find((c) => c.type === type);
  return {
    type,
    status: s,
    lastTransitionTime: old && old.status === s && old.lastTransitionTime ? old.lastTransitionTime : now,
    ...(reason && !status ? { reason } : {}),
  };
}

export function podStatus(pod: Pod, containers: ContainerStatus[], info: { podIP?: string; podIPv6?: string; hostIP: string; startTime: string; now: string }): PodStatus {
  const prev = pod.status?.conditions;
  const allReady = containers.length > 0 && containers.every((c) => c.ready);
  const policy = pod.spec.restartPolicy ?? 'Always';
  const terminated = containers.filter((c) => c.state.terminated);
  let phase = 'Pending';
  if (containers.some((c) => c.state.running || c.restartCount > 0 || c.lastState?.terminated)) phase = 'Running';
  if (policy !== 'Always' && containers.length > 0 && terminated.length === containers.length) {
    const failed = terminated.some((c) => c.state.terminated!.exitCode !== 0);
    if (policy === 'Never' || !failed) phase = failed ? 'Failed' : 'Succeeded';
  }
  return {
    phase,
    ...(info.podIP ? { podIP: info.podIP, podIPs: [{ ip: info.podIP }, ...(info.podIPv6 ? [{ ip: info.podIPv6 }] : [])] } : {}),
    hostIP: info.hostIP,
    hostIPs: [{ ip: info.hostIP }],
    startTime: info.startTime,
    conditions: [
      condition(prev, 'PodScheduled', true, info.now),
      condition(prev, 'Initialized', true, info.now),
      condition(prev, 'ContainersReady', allReady, info.now, 'ContainersNotReady'),
      condition(prev, 'Ready', allReady, info.now, 'ContainersNotReady'),
    ],
    containerStatuses: containers,
  };
}

/** Status equality ignoring nothing but key order: decides whether the kubelet writes. */
export function sameStatus(a: PodStatus | undefined, b: PodStatus): boolean {
  return JSON.stringify(a ?? {}) === JSON.stringify(b);
}

/**
 * Pods have no mount namespace here, so a volume mounted at /var/run/mesh/x lives at
 * `<root>/var/run/mesh/x`. Arguments and env values that name a path under a mount (whole value, or after
 * `=` as in `--flag=/path`) are rewritten to the real location, so manifests run unchanged; processes
 * that build paths themselves use MESH_VOLUME_ROOT.
 */
export function rewriteMountPaths(s: string, mountPaths: string[], root: string): string {
  let out = s;
  for (const m of [...new Set(mountPaths)].sort((a, b) => b.length - a.length)) {
    const mp = m.replace(/\/+$/, '');
    if (!mp.startsWith('/')) continue;
    const re = new RegExp(`(^|=)${mp.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?=/|$)`, 'g');
    out = out.replace(re, (_all, pre: string) => `${pre}${root}${mp}`);
    if (out !== s) break;
  }
  return out;
}
