// `mesh sandbox status`: each cluster's process, API server, DNS and pods.
import dgram from 'node:dgram';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import dnsPacket from 'dns-packet';
import { KubeClient, kubeConfigFromString, errorMessage } from '../kube/index.js';
import { serviceCidrs, type NetworkMode } from './plan.js';
import { pidAlive, readState } from './state.js';

export interface PodSummary {
  namespace: string;
  name: string;
  phase: string;
  ip: string;
  ready: string;
  restarts: number;
  reason?: string;
}

export interface ClusterStatus {
  name: string;
  running: boolean;
  pid?: number;
  healthy: boolean;
  error?: string;
  apiUrl?: string;
  hostApiUrl?: string;
  nodeAddress: string;
  podCIDR: string;
  serviceCIDR: string;
  domain: string;
  dns?: string;
  /** Whether the cluster DNS answered `kubernetes.default.svc.<domain>` (loopback mode; isolated DNS is inside the netns). */
  dnsHealthy?: boolean;
  netns?: string;
  pods: PodSummary[];
}

export interface SandboxStatus {
  dir: string;
  sandboxId: string;
  mode: NetworkMode;
  upPid: number;
  upRunning: boolean;
  kubeconfig: string;
  flatRoutes: string[];
  clusters: ClusterStatus[];
}

export async function status(dir: string): Promise<SandboxStatus> {
  const s = readState(resolve(dir));
  const kcText = existsSync(join(s.dir, 'kubeconfig')) ? readFileSync(join(s.dir, 'kubeconfig'), 'utf8') : undefined;
  const clusters = await Promise.all(
    s.clusters.map(async (c): Promise<ClusterStatus> => {
      const base: ClusterStatus = {
        name: c.plan.name, running: c.pid !== undefined && pidAlive(c.pid), healthy: false,
        ...(c.pid !== undefined ? { pid: c.pid } : {}), ...(c.apiUrl ? { apiUrl: c.apiUrl } : {}), ...(c.hostApiUrl ? { hostApiUrl: c.hostApiUrl } : {}),
        nodeAddress: c.plan.nodeAddress, podCIDR: c.plan.podCIDR, serviceCIDR: serviceCidrs(c.plan), domain: c.plan.domain,
        ...(c.dns ? { dns: c.dns } : {}), ...(c.plan.netns ? { netns: c.plan.netns } : {}), pods: [],
      };
      if (!kcText || !base.running) return base;
      let client: KubeClient | undefined;
      try {
        client = await KubeClient.create(kubeConfigFromString(kcText, c.plan.name), { timeoutMs: 5_000 });
        const list = await client.list<{ metadata: { name: string; namespace: string }; status?: { phase?: string; podIP?: string; conditions?: Array<{ type: string; status: string }>; containerStatuses?: Array<{ restartCount: number; state?: { waiting?: { reason?: string } } }> } }>('/api/v1/pods');
        base.healthy = true;
        if (c.dns && !c.plan.netns) base.dnsHealthy = await dnsAnswers(c.dns, `kubernetes.default.svc.${c.plan.domain}`);
        base.pods = list.items.map((p) => {
          const cs = p.status?.containerStatuses ?? [];
          const reason = cs.map((x) => x.state?.waiting?.reason).find((r) => r);
          return {
            namespace: p.metadata.namespace, name: p.metadata.name, phase: p.status?.phase ?? 'Pending', ip: p.status?.podIP ?? '',
            ready: `${cs.filter((x) => (x as { ready?: boolean }).ready).length}/${cs.length}`,
            restarts: cs.reduce((a, x) => a + (x.restartCount ?? 0), 0), ...(reason ? { reason } : {}),
          };
        });
      } catch (err) {
        base.error = errorMessage(err);
      } finally {
        client?.close();
      }
      return base;
    }),
  );
  return { dir: s.dir, sandboxId: s.sandboxId, mode: s.mode, upPid: s.upPid, upRunning: pidAlive(s.upPid), kubeconfig: join(s.dir, 'kubeconfig'), flatRoutes: s.flatRoutes, clusters };
}

function dnsAnswers(addr: string, name: string): Promise<boolean> {
  const i = addr.lastIndexOf(':');
  return new Promise((res) => {
    const sock = dgram.createSocket('udp4');
    const t = setTimeout(() => { sock.close(); res(false); }, 2000);
    sock.on('error', () => { clearTimeout(t); sock.close(); res(false); });
    sock.on('message', (m) => {
      clearTimeout(t);
      sock.close();
      try {
        res((dnsPacket.decode(m).answers ?? []).some((a) => a.type === 'A'));
      } catch {
        res(false);
      }
    });
    sock.send(dnsPacket.encode({ type: 'query', id: 1, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: 'A', name }] }), Number(addr.slice(i + 1)), addr.slice(0, i));
  });
}

export function renderStatus(st: SandboxStatus): string {
  const lines = [`sandbox ${st.sandboxId} in ${st.dir} (${st.mode} network, up pid ${st.upPid}${st.upRunning ? '' : ', NOT RUNNING'})`, `kubeconfig: ${st.kubeconfig}`];
  if (st.flatRoutes.length) lines.push(`flat routes: ${st.flatRoutes.join(', ')}`);
  for (const c of st.clusters) {
    lines.push('', `${c.name}: ${c.running ? (c.healthy ? 'healthy' : `unhealthy (${c.error ?? 'no answer'})`) : 'not running'}`);
    lines.push(`  api ${c.hostApiUrl ?? '-'} (from other clusters: ${c.apiUrl ?? '-'})  node ${c.nodeAddress}  dns ${c.dns ?? '-'}${c.dnsHealthy === undefined ? '' : c.dnsHealthy ? ' (answers)' : ' (NOT answering)'}  domain ${c.domain}`);
    lines.push(`  pods ${c.podCIDR}  services ${c.serviceCIDR}${c.netns ? `  netns ${c.netns}` : ''}`);
    if (c.pods.length) {
      const rows = [['NAMESPACE', 'NAME', 'READY', 'STATUS', 'RESTARTS', 'IP'], ...c.pods.map((p) => [p.namespace, p.name, p.ready, p.reason ?? p.phase, String(p.restarts), p.ip])];
      const w = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
      for (const r of rows) lines.push('  ' + r.map((x, i) => x.padEnd(w[i]!)).join('  ').trimEnd());
    }
  }
  return lines.join('\n') + '\n';
}
