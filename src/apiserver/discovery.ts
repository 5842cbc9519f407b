// Discovery documents (/api, /apis, /api/v1, /apis/<group>/<version>) built from the registry, cached
// until the registry changes (a CRD is added or removed).
import type { Registry, ResourceDef } from './resources.js';

/** Pod subresources that are connections (kube-apiserver's "connect" verbs), by the options kind they take. */
export const connectKinds: Record<string, string> = { exec: 'PodExecOptions', attach: 'PodAttachOptions', portforward: 'PodPortForwardOptions', proxy: 'PodProxyOptions' };

export interface Discovery {
  api(): string;
  apis(): string;
  /** The APIResourceList of group/version, or undefined when not served. */
  resources(group: string, version: string): string | undefined;
  /** The APIGroup document of one group. */
  group(group: string): string | undefined;
}

function resourceEntries(defs: ResourceDef[]): unknown[] {
  const out: unknown[] = [];
  for (const d of defs.sort((a, b) => a.resource.localeCompare(b.resource))) {
    out.push({
      name: d.resource,
      singularName: d.singular,
      namespaced: d.namespaced,
      kind: d.kind,
      verbs: d.verbs,
      ...(d.shortNames.length ? { shortNames: d.shortNames } : {}),
      ...(d.categories.length ? { categories: d.categories } : {}),
      storageVersionHash: '',
    });
    for (const sub of d.subresources) {
      if (sub === 'token') out.push({ name: `${d.resource}/token`, singularName: '', namespaced: d.namespaced, group: 'authentication.k8s.io', version: 'v1', kind: 'TokenRequest', verbs: ['create'] });
      else if (sub === 'scale') out.push({ name: `${d.resource}/scale`, singularName: '', namespaced: d.namespaced, group: 'autoscaling', version: 'v1', kind: 'Scale', verbs: ['get', 'patch', 'update'] });
      else if (sub === 'log') out.push({ name: `${d.resource}/log`, singularName: '', namespaced: d.namespaced, kind: d.kind, verbs: ['get'] });
      else if (sub in connectKinds) out.push({ name: `${d.resource}/${sub}`, singularName: '', namespaced: d.namespaced, kind: connectKinds[sub], verbs: sub === 'proxy' ? ['get'] : ['create', 'get'] });
      else if (sub === 'finalize') out.push({ name: `${d.resource}/finalize`, singularName: '', namespaced: d.namespaced, kind: d.kind, verbs: ['update'] });
      else out.push({ name: `${d.resource}/${sub}`, singularName: '', namespaced: d.namespaced, kind: d.kind, verbs: ['get', 'patch', 'update'] });
    }
  }
  return out;
}

export function createDiscovery(registry: Registry): Discovery {
  let builtAt = -1;
  let apiDoc = '';
  let apisDoc = '';
  const lists = new Map<string, string>();
  const groups = new Map<string, string>();
  const build = () => {
    if (builtAt === registry.version) return;
    builtAt = registry.version;
    lists.clear();
    groups.clear();
    const byGv = new Map<string, ResourceDef[]>();
    for (const d of registry.all()) {
      for (const v of d.versions) {
        const k = `${d.group}/${v}`;
        byGv.set(k, [...(byGv.get(k) ?? []), d]);
      }
    }
    for (const [gv, defs] of byGv) {
      const [group, version] = gv.split('/');
      const groupVersion = group ? `${group}/${version}` : version;
      lists.set(gv, JSON.stringify({ kind: 'APIResourceList', apiVersion: 'v1', groupVersion, resources: resourceEntries(defs) }));
    }
    apiDoc = JSON.stringify({ kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: '' }] });
    const groupDocs: unknown[] = [];
    const gmap = registry.groups();
    const names = [...gmap.keys()].filter((g) => g !== '').sort();
    for (const g of names) {
      const versions = (gmap.get(g) ?? []).map((v) => ({ groupVersion: `${g}/${v}`, version: v }));
      const doc = { name: g, versions, preferredVersion: versions[0] };
      groupDocs.push(doc);
      groups.set(g, JSON.stringify({ kind: 'APIGroup', apiVersion: 'v1', ...doc }));
    }
    apisDoc = JSON.stringify({ kind: 'APIGroupList', apiVersion: 'v1', groups: groupDocs });
  };
  return {
    api: () => (build(), apiDoc),
    apis: () => (build(), apisDoc),
    resources: (group, version) => (build(), lists.get(`${group}/${version}`)),
    group: (group) => (build(), groups.get(group)),
  };
}

export const versionInfo = {
  major: '1',
  minor: '32',
  gitVersion: 'v1.32.0-mesh',
  gitCommit: '0000000000000000000000000000000000000000',
  gitTreeState: 'clean',
  buildDate: '2026-01-01T00:00:00Z',
  goVersion: 'go1.23.0',
  compiler: 'gc',
  platform: 'linux/amd64',
};
