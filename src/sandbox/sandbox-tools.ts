// `mesh sandbox logs|route|exec`: what a user runs against a running sandbox from the host.
import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { SandboxError } from './errors.js';
import { flatRoute } from './netns.js';
import { readState, writeState, type ClusterState, type SandboxState } from './state.js';

export function clusterOf(s: SandboxState, name: string): ClusterState {
  const c = s.clusters.find((x) => x.plan.name === name);
  if (!c) throw new SandboxError('UnknownCluster', `no cluster "${name}" in this sandbox (it has ${s.clusters.map((x) => x.plan.name).join(', ')})`);
  return c;
}

export function logPath(dir: string, cluster: string, pod: string): string {
  const s = readState(resolve(dir));
  clusterOf(s, cluster);
  const [ns, name] = pod.includes('/') ? pod.split('/', 2) : ['default', pod];
  if (!ns || !name || !/^[a-z0-9.-]+$/.test(ns) || !/^[a-z0-9.-]+$/.test(name)) throw new SandboxError('BadFlag', `pod "${pod}": expected <namespace>/<name>`);
  return join(s.dir, cluster, ns, `${name}.log`);
}

export function route(dir: string, a: string, b: string, remove: boolean): { changed: boolean; message: string } {
  const s = readState(resolve(dir));
  const ca = clusterOf(s, a);
  const cb = clusterOf(s, b);
  if (a === b) throw new SandboxError('BadFlag', 'route --flat needs two different clusters');
  const pair = [a, b].sort().join(':');
  if (s.mode === 'loopback') {
    return { changed: false, message: `loopback network: ${a} and ${b} already reach each other's pods (nothing to ${remove ? 'remove' : 'add'})` };
  }
  flatRoute(ca.plan, cb.plan, remove);
  s.flatRoutes = remove ? s.flatRoutes.filter((r) => r !== pair) : [...new Set([...s.flatRoutes, pair])];
  writeState(s);
  return {
    changed: true,
    message: remove
      ? `removed routes ${ca.plan.podCIDR} <-> ${cb.plan.podCIDR}`
      : `added routes: ${a} ${cb.plan.podCIDR} via ${cb.plan.nodeAddress}; ${b} ${ca.plan.podCIDR} via ${ca.plan.nodeAddress}`,
  };
}

/** Runs a command inside a cluster's network (its netns in isolated mode) with MESH_CLUSTER_DNS set. */
export function execIn(dir: string, cluster: string, argv: string[]): number {
  const s = readState(resolve(dir));
  const c = clusterOf(s, cluster);
  if (argv.length === 0) throw new SandboxError('BadFlag', 'exec needs a command after --');
  const env = { ...process.env, MESH_CLUSTER_DNS: c.dns ?? '', KUBECONFIG: join(s.dir, 'kubeconfig') };
  const [cmd, args] = c.plan.netns ? ['ip', ['netns', 'exec', c.plan.netns, ...argv]] : [argv[0]!, argv.slice(1)];
  const r = spawnSync(cmd, args, { stdio: 'inherit', env });
  if (r.error) throw new SandboxError('Command', `${argv[0]}: ${r.error.message}`);
  return r.status ?? 1;
}
