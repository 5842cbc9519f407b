// `mesh gateways CONTEXT`: per linked cluster, is its gateway alive, how fast does it answer the probe,
// how many Services are mirrored through it, and how many tunnels to it are open now.
import type { Command } from 'commander';
import { z } from 'zod';
import { errorMessage, type KubeClient } from '../kube/index.js';
import { connect, helpText, kubeconfigOption, outputOption, parseOptions, kubeError } from './common.js';
import { render, formatTable, OutputFormatSchema } from './output.js';
import { listLinks, linkInfo } from './cmd-links.js';
import { APP_NAME_LABEL, GATEWAY_ADMIN_PORT, GATEWAY_METRICS, GATEWAY_NAME, MESH_NAMESPACE, METRICS_PATH, gatewayAlive } from '../api/index.js';

export interface GatewayRow {
  cluster: string;
  gateway?: string;
  alive: boolean | null;
  probeLatencyMs: number | null;
  mirroredServices: number;
  activeStreams: number | null;
  message?: string;
}

/** Sums a gauge from Prometheus text exposition by one label (e.g. gateway_streams_active by remote_cluster). */
export function sumByLabel(text: string, metric: string, label: string): Map<string, number> {
  const out = new Map<string, number>();
  const re = new RegExp(`^${metric}\\{([^}]*)\\}\\s+([-+0-9.eE]+|NaN)`, 'gm');
  for (const m of text.matchAll(re)) {
    const labels = new Map([...m[1].matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]));
    const key = labels.get(label);
    const v = Number(m[2]);
    if (key === undefined || !Number.isFinite(v)) continue;
    out.set(key, (out.get(key) ?? 0) + v);
  }
  return out;
}

/**
 * Outbound tunnels per remote cluster, summed over the local gateway pods. Their /metrics are read through
 * the API server's pods/proxy (as `kubectl get --raw` would): pod IPs are not routable from where the CLI runs.
 */
async function activeStreams(client: KubeClient, pods: string[], adminPort: number): Promise<{ streams: Map<string, number> | null; error?: string }> {
  if (pods.length === 0) return { streams: null, error: `no running ${GATEWAY_NAME} pod` };
  const total = new Map<string, number>();
  const errors: string[] = [];
  for (const name of pods) {
    try {
      const text = await client.get<unknown>(`/api/v1/namespaces/${MESH_NAMESPACE}/pods/${name}:${adminPort}/proxy${METRICS_PATH}`, { timeoutMs: 5000 });
      if (typeof text !== 'string') throw new Error('the answer was not Prometheus text');
      for (const [k, v] of sumByLabel(text, GATEWAY_METRICS.streamsActive, 'remote_cluster')) total.set(k, (total.get(k) ?? 0) + v);
    } catch (err) {
      errors.push(`${name}: ${errorMessage(err)}`);
    }
  }
  if (errors.length === pods.length) return { streams: null, error: `gateway /metrics unreachable through the API server (${errors[0]})` };
  return { streams: total };
}

const Options = z.object({ kubeconfig: z.string().optional(), output: OutputFormatSchema, adminPort: z.coerce.number().int().min(1).max(65535).default(GATEWAY_ADMIN_PORT) });

export async function gateways(context: string, o: z.infer<typeof Options>): Promise<GatewayRow[]> {
  const c = await connect(context, o.kubeconfig);
  try {
    const links = (await listLinks(c.client, context)).map(linkInfo);
    let pods: string[] = [];
    try {
      const list = await c.client.list<{ metadata: { name: string }; status?: { podIP?: string; phase?: string } }>(`/api/v1/namespaces/${MESH_NAMESPACE}/pods`, { labelSelector: `${APP_NAME_LABEL}=${GATEWAY_NAME}` });
      pods = list.items.filter((p) => p.status?.phase === 'Running' && p.status.podIP).map((p) => p.metadata.name);
    } catch (err) {
      throw kubeError(err, context, 'listing the gateway pods');
    }
    const { streams, error } = await activeStreams(c.client, pods, o.adminPort);
    return links.map((l) => {
      const reach = l.conditions.find((x) => x.type === 'GatewayReachable');
      const alive = gatewayAlive(l);
      return {
        cluster: l.target,
        gateway: l.gateway,
        alive,
        probeLatencyMs: l.lastProbe?.latencyMs ?? null,
        mirroredServices: l.mirroredServices,
        activeStreams: streams ? (streams.get(l.target) ?? 0) : null,
        message: l.mode === 'flat' ? 'flat mode: no gateway on the path' : alive === false ? (l.lastProbe?.message ?? reach?.message) : error,
      };
    });
  } finally {
    c.client.close();
  }
}

export function registerGateways(program: Command): void {
  const cmd = program
    .command('gateways')
    .summary('health of the gateways of every linked cluster')
    .description('For each cluster CONTEXT is linked to: gateway alive, probe latency, mirrored Services, active tunnels.')
    .argument('<context>', 'kubeconfig context of the cluster')
    .addOption(kubeconfigOption())
    .addOption(outputOption())
    .option('--admin-port <port>', 'the local gateways\' admin port (for /metrics)', String(GATEWAY_ADMIN_PORT))
    .action(async (context: string, raw: unknown) => {
      const o = parseOptions(Options, raw);
      const rows = await gateways(context, o);
      process.stdout.write(
        render(rows, o.output, () =>
          rows.length === 0
            ? 'no linked clusters\n'
            : formatTable({
                columns: ['CLUSTER', 'GATEWAY', 'ALIVE', 'LATENCY', 'SERVICES', 'STREAMS', 'NOTE'],
                rows: rows.map((r) => [r.cluster, r.gateway ?? '-', r.alive === null ? '-' : r.alive ? 'True' : 'False', r.probeLatencyMs === null ? '-' : `${r.probeLatencyMs}ms`, String(r.mirroredServices), r.activeStreams === null ? '-' : String(r.activeStreams), r.message ?? '']),
              }),
        ),
      );
    });
  helpText(
    cmd,
    `ALIVE and LATENCY come from the controller's probe of each remote gateway (Link status); SERVICES from
the Link's mirrored Services; STREAMS from gateway_streams_active on the local gateways' /metrics
(admin port), when this machine can reach the gateway pods ("-" otherwise).`,
    ['mesh gateways cluster-a', 'mesh gateways cluster-a -o json'],
  );
}
