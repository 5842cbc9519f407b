// `mesh check`, the MCS part: this cluster's ServiceExports in conflict (the KEP's Conflict condition) and
// ServiceImports without a ready endpoint (the name resolves to a VIP that answers nothing).
import { CliError } from './errors.js';
import { listImports } from './cmd-imports.js';
import type { KubeClient } from '../kube/index.js';

type Add = (check: string, ok: boolean, detail: string, hint?: string) => void;

export async function checkImports(client: KubeClient, context: string, add: Add): Promise<void> {
  let infos;
  try {
    infos = await listImports(client, context);
  } catch (err) {
    if (!(err instanceof CliError)) throw err;
    add('MCS API installed', false, err.message, err.hint);
    return;
  }
  const conflicts = infos.flatMap((i) => (i.exportConditions ?? []).filter((c) => c.type === 'Conflict' && c.status === 'True').map((c) => `${i.namespace}/${i.name}: ${c.reason} — ${c.message}`));
  add('no MCS export conflicts', conflicts.length === 0, conflicts.length ? conflicts.join('; ') : `${infos.filter((i) => i.exportConditions).length} export(s) of this cluster without conflict`, conflicts.length ? `the oldest export wins; make the Services agree (kubectl --context ${context} get serviceexports -A -o yaml)` : undefined);
  const empty = infos.filter((i) => !Object.values(i.endpoints).some((e) => e.ready > 0));
  add(
    'every MCS import has ready endpoints',
    empty.length === 0,
    empty.length ? `no ready endpoint: ${empty.map((i) => `${i.namespace}/${i.name} (from ${i.clusters.join(',') || 'no cluster'})`).join(', ')}` : `${infos.length} import(s)`,
    empty.length ? `are the exporting clusters' pods ready, and their gateways (mesh gateways ${context})? mesh imports ${context}` : undefined,
  );
}
