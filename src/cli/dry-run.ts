// `--dry-run -o yaml|json` of the commands that change clusters (install, link, export): exactly the objects
// they would apply, grouped by cluster, so the same state can be kept in Git and applied by Argo CD or Flux.
// YAML: each cluster's part starts with a `# cluster: <context>` line, then its documents; split per
// cluster with: awk '/^# cluster: /{f=$3".yaml"} {print > f}'.
import { stringify } from 'yaml';
import type { KubeObject } from './render.js';
import type { OutputFormat } from './output.js';

export interface ClusterObjects {
  /** The kubeconfig context the objects are for. */
  context: string;
  objects: KubeObject[];
}

/** Objects for several clusters, merged per context in first-seen order. */
export function groupByContext(parts: ClusterObjects[]): ClusterObjects[] {
  const out: ClusterObjects[] = [];
  for (const p of parts) {
    const have = out.find((o) => o.context === p.context);
    if (have) have.objects.push(...p.objects);
    else out.push({ context: p.context, objects: [...p.objects] });
  }
  return out;
}

export function renderDryRun(parts: ClusterObjects[], format: OutputFormat): string {
  if (format === 'json') return JSON.stringify(parts, null, 2) + '\n';
  return parts.map((p) => `# cluster: ${p.context}\n` + p.objects.map((o) => '---\n' + stringify(o, { lineWidth: 0 })).join('')).join('');
}

/** Parses `renderDryRun` YAML back into its parts (for tests and tools that split it). */
export function splitDryRun(text: string): { context: string; yaml: string }[] {
  const out: { context: string; yaml: string }[] = [];
  for (const line of text.split(/(?<=\n)/)) {
    const m = /^# cluster: (\S+)\n?$/.exec(line);
    if (m) out.push({ context: m[1], yaml: '' });
    else if (out.length > 0) out[out.length - 1].yaml += line;
  }
  return out;
}
