// CoreDNS forwards `clusterset.local` to `mesh dns`: the stanza `mesh install` prints, and the Corefile
// edit `--patch-coredns` applies to ConfigMap kube-system/coredns (CoreDNS's `reload` plugin, on in kubeadm
// and kind Corefiles, picks it up within its interval). Pure text functions; the API calls are at the end.
import { CLUSTERSET_DOMAIN, MESH_DNS_NAME, MESH_NAMESPACE } from '../api/index.js';
import type { KubeClient } from '../kube/index.js';
import type { Progress } from './common.js';

export const COREDNS_CONFIGMAP_PATH = '/api/v1/namespaces/kube-system/configmaps/coredns';
const MARKER = `# mesh-federation: ${CLUSTERSET_DOMAIN} is answered by ${MESH_NAMESPACE}/${MESH_DNS_NAME}`;

/** The server block forwarding the zone to the mesh-dns Service IP (CoreDNS `forward` needs an address). */
export function corednsStanza(serviceIP: string): string {
  return [MARKER, `${CLUSTERSET_DOMAIN}:53 {`, '    errors', '    cache 5', `    forward . ${serviceIP}`, '}', ''].join('\n');
}

/**
 * The Corefile with our stanza in it: an existing `clusterset.local` server block (ours or anyone's) is
 * replaced, else the stanza is appended. `changed` is false when the Corefile already says exactly this.
 */
export function patchCorefile(corefile: string, stanza: string): { corefile: string; changed: boolean } {
  const lines = corefile.split('\n');
  const head = new RegExp(`^\\s*${CLUSTERSET_DOMAIN.replace(/\./g, '\\.')}\\.?(:\\d+)?\\s*\\{\\s*$`);
  const start = lines.findIndex((l) => head.test(l));
  let out: string;
  if (start < 0) {
    out = `${corefile.replace(/\n*$/, '\n')}${stanza}`;
  } else {
    let depth = 0;
    let end = start;
    for (let i = start; i < lines.length; i++) {
      for (const ch of lines[i] ?? '') depth += ch === '{' ? 1 : ch === '}' ? -1 : 0;
      end = i;
      if (depth === 0) break;
    }
    const from = start > 0 && lines[start - 1] === MARKER ? start - 1 : start;
    out = [...lines.slice(0, from), ...stanza.replace(/\n$/, '').split('\n'), ...lines.slice(end + 1)].join('\n');
  }
  return { corefile: out, changed: out !== corefile };
}

/** The Corefile without our block (only a block under our marker: someone else's clusterset block stays). */
export function unpatchCorefile(corefile: string): { corefile: string; changed: boolean } {
  const lines = corefile.split('\n');
  const at = lines.indexOf(MARKER);
  if (at < 0) return { corefile, changed: false };
  let depth = 0;
  let end = at;
  for (let i = at + 1; i < lines.length; i++) {
    for (const ch of lines[i] ?? '') depth += ch === '{' ? 1 : ch === '}' ? -1 : 0;
    end = i;
    if (depth === 0 && (lines[i] ?? '').includes('}')) break;
  }
  const out = [...lines.slice(0, at), ...lines.slice(end + 1)].join('\n').replace(/\n+$/, '\n');
  return { corefile: out, changed: out !== corefile };
}

/** Uninstall: takes our block out of kube-system/coredns again; absent ConfigMap or block: nothing to do. */
export async function unpatchCoredns(client: KubeClient): Promise<'removed' | 'absent'> {
  let cm: { metadata: { resourceVersion?: string }; data?: Record<string, string> };
  try {
    cm = await client.get(COREDNS_CONFIGMAP_PATH);
  } catch {
    return 'absent';
  }
  const p = unpatchCorefile(cm.data?.Corefile ?? '');
  if (!p.changed) return 'absent';
  await client.replace(COREDNS_CONFIGMAP_PATH, { ...cm, apiVersion: 'v1', kind: 'ConfigMap', data: { ...cm.data, Corefile: p.corefile } });
  return 'removed';
}

export type CorednsPatchResult = { result: 'updated' | 'unchanged' } | { result: 'missing'; reason: string };

/** Applies the stanza to kube-system/coredns (optimistic concurrency: the update carries the resourceVersion). */
export async function patchCoredns(client: KubeClient, serviceIP: string): Promise<CorednsPatchResult> {
  let cm: { metadata: { resourceVersion?: string }; data?: Record<string, string> };
  try {
    cm = await client.get(COREDNS_CONFIGMAP_PATH);
  } catch (err) {
    return { result: 'missing', reason: `cannot read kube-system/coredns: ${err instanceof Error ? err.message : String(err)}` };
  }
  const corefile = cm.data?.Corefile;
  if (corefile === undefined) return { result: 'missing', reason: 'ConfigMap kube-system/coredns has no Corefile key' };
  const p = patchCorefile(corefile, corednsStanza(serviceIP));
  if (!p.changed) return { result: 'unchanged' };
  await client.replace(COREDNS_CONFIGMAP_PATH, { ...cm, apiVersion: 'v1', kind: 'ConfigMap', data: { ...cm.data, Corefile: p.corefile } });
  return { result: 'updated' };
}

/**
 * After install: the stanza for CoreDNS with the mesh-dns Service's IP, printed as a note, or applied with
 * `patch`. A failure here is a warning, not a failed install: clusterset names are an add-on to the mesh.
 */
export async function clustersetDnsStep(client: KubeClient, patch: boolean, progress: Progress, context: string): Promise<void> {
  let ip: string | undefined;
  try {
    ip = (await client.get<{ spec?: { clusterIP?: string } }>(`/api/v1/namespaces/${MESH_NAMESPACE}/services/${MESH_DNS_NAME}`)).spec?.clusterIP;
  } catch (err) {
    progress.warn(`cannot read Service ${MESH_NAMESPACE}/${MESH_DNS_NAME}: ${err instanceof Error ? err.message : String(err)}; ${CLUSTERSET_DOMAIN} is not forwarded`);
    return;
  }
  if (!ip || ip === 'None') {
    progress.warn(`Service ${MESH_NAMESPACE}/${MESH_DNS_NAME} has no ClusterIP yet; run install again to get the CoreDNS stanza`);
    return;
  }
  const stanza = corednsStanza(ip);
  if (!patch) {
    progress.note(`${CLUSTERSET_DOMAIN}: add this server block to the Corefile (kubectl --context ${context} -n kube-system edit configmap coredns), or run install with --patch-coredns:\n${stanza}`);
    return;
  }
  try {
    const r = await patchCoredns(client, ip);
    if (r.result === 'missing') progress.warn(`--patch-coredns: ${r.reason}; add this server block to your cluster DNS yourself:\n${stanza}`);
    else progress.ok(`CoreDNS forwards ${CLUSTERSET_DOMAIN} to ${MESH_DNS_NAME} (${ip}): kube-system/coredns ${r.result}`);
  } catch (err) {
    progress.warn(`--patch-coredns: updating kube-system/coredns failed: ${err instanceof Error ? err.message : String(err)}`);
  }
}
