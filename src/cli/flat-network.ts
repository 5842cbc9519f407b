// What flat mode needs from the network, said where the user is: pods of one cluster connect straight to
// the other cluster's pod IPs, which only routes between the clusters' pod CIDRs make reachable, and the
// mesh never adds those routes. `mesh link` says it; `mesh check` hints it when the flat data path fails.
import { existsSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { EXPORT_FLAT_VALUES, EXPORT_LABEL, SANDBOX_CLUSTER_LABEL } from '../api/index.js';
import type { KubeClient } from '../kube/index.js';

/** A cluster's pod network as its Nodes describe it (empty when the Nodes cannot be read). */
export interface PodNetwork {
  podCIDRs: string[];
  nodeAddresses: string[];
  /** The sandbox's name for the cluster, when it is a `mesh sandbox` cluster. */
  sandboxCluster?: string;
}

interface NodeLike {
  metadata?: { labels?: Record<string, string> };
  spec?: { podCIDR?: string; podCIDRs?: string[] };
  status?: { addresses?: { type: string; address: string }[] };
}

export async function podNetwork(client: KubeClient): Promise<PodNetwork> {
  let nodes: NodeLike[] = [];
  try {
    nodes = (await client.list<NodeLike>('/api/v1/nodes')).items;
  } catch {
    // Not allowed to list Nodes: the notes fall back to general words.
  }
  const podCIDRs = [...new Set(nodes.flatMap((n) => n.spec?.podCIDRs ?? (n.spec?.podCIDR ? [n.spec.podCIDR] : [])))];
  const nodeAddresses = nodes.flatMap((n) => (n.status?.addresses ?? []).filter((a) => a.type === 'InternalIP').map((a) => a.address));
  const sandboxCluster = nodes.map((n) => n.metadata?.labels?.[SANDBOX_CLUSTER_LABEL]).find((l) => l);
  return { podCIDRs, nodeAddresses, ...(sandboxCluster ? { sandboxCluster } : {}) };
}

/** The Services a cluster exports flat (namespace/name). */
export async function flatExports(client: KubeClient): Promise<string[]> {
  const list = await client.list('/api/v1/services', { labelSelector: `${EXPORT_LABEL} in (${EXPORT_FLAT_VALUES.join(',')})` });
  return list.items.map((s) => `${s.metadata?.namespace ?? ''}/${s.metadata?.name ?? ''}`);
}

/** The sandbox directory of a kubeconfig that `mesh sandbox up` wrote (DIR/kubeconfig beside DIR/state.json). */
export function sandboxDirOf(kubeconfig: string | undefined = process.env.KUBECONFIG): string | undefined {
  for (const path of (kubeconfig ?? '').split(':').filter(Boolean)) {
    if (basename(path) === 'kubeconfig' && existsSync(join(dirname(path), 'state.json'))) return dirname(path);
  }
  return undefined;
}

const isLoopbackCidr = (cidr: string): boolean => cidr.startsWith('127.');

/** `mesh sandbox route --flat A B --dir D`, when both are clusters of one isolated sandbox. */
export function sandboxRouteCommand(source: PodNetwork, targetSandboxName: string | undefined, dir: string | undefined): string | undefined {
  if (!source.sandboxCluster || !targetSandboxName || source.podCIDRs.some(isLoopbackCidr)) return undefined;
  return `mesh sandbox route --flat ${source.sandboxCluster} ${targetSandboxName} --dir ${dir ?? '<sandbox dir>'}`;
}

export interface FlatSides {
  source: { name: string; context: string; net: PodNetwork };
  target: { name: string; net: PodNetwork };
  /** The sandbox directory, when known (from the kubeconfig's path). */
  sandboxDir?: string;
}

/** What flat mode needs from the network between two clusters, as notes for the person linking them. */
export function flatNetworkNotes(s: FlatSides): string[] {
  const { source, target } = s;
  if (source.net.sandboxCluster && [...source.net.podCIDRs, ...target.net.podCIDRs].some(isLoopbackCidr)) {
    return [`flat mode: ${source.name}'s pods connect straight to ${target.name}'s pod IPs; in this loopback sandbox they already reach each other (no routes needed)`];
  }
  const cidrOf = (n: PodNetwork, name: string) => (n.podCIDRs.length ? n.podCIDRs.join(',') : `${name}'s pod CIDR`);
  const via = target.net.nodeAddresses[0] ? ` (e.g. via ${target.name}'s node ${target.net.nodeAddresses[0]})` : '';
  const notes = [
    `flat mode: ${source.name}'s pods connect straight to ${target.name}'s pod IPs, with no gateway on the path, and the mesh adds no routes: ` +
      `the network must route ${cidrOf(target.net, target.name)} from ${source.name}${via} and ${cidrOf(source.net, source.name)} back from ${target.name} ` +
      '(one flat pod network: a flat CNI, or routes between the nodes as between kind nodes)',
  ];
  const route = sandboxRouteCommand(source.net, target.net.sandboxCluster, s.sandboxDir);
  if (route) notes.push(`these are mesh sandbox clusters in an isolated network: add the routes with ${route} (or start the sandbox with --flat-routes)`);
  notes.push(`mesh check ${source.context} tests the path from a pod in ${source.name}`);
  return notes;
}
