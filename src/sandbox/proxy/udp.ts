// The proxy's UDP listeners: a flow per client address, each with its own upstream socket.
import { createSocket as createUdpSocket, type Socket as UdpSocket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import type { Logger } from '../../log/index.js';
import { UDP_FLOW_IDLE_MS, UDP_MAX_FLOWS, type Closable, type Desired } from './backends.js';
import type { ProxyServiceStats } from './types.js';

export interface ListenerDeps {
  /** The ready backends of the listener's Service port, now. */
  backends(d: Desired): { host: string; port: number }[];
  /** The round-robin position for the listener's Service port (advances it). */
  nextIndex(d: Desired): number;
  stats(owner: string): ProxyServiceStats;
  log: Logger;
}

export class UdpListeners {
  constructor(private readonly d: ListenerDeps) {}

  /**
   * UDP: each client address is a flow with its own upstream socket to one endpoint (chosen round-robin
   * when the flow starts), so replies find their way back. No ready endpoint → the datagram is dropped
   * and counted (kube-proxy would answer ICMP port unreachable, which a user-space proxy cannot send).
   */
  listenUdp(d: Desired): Promise<Closable> {
    return new Promise((resolve, reject) => {
      const family = isIPv6(d.host) ? 'udp6' : 'udp4';
      const sock = createUdpSocket({ type: family });
      const flows = new Map<string, { up: UdpSocket; timer: NodeJS.Timeout; host: string; port: number }>();
      const st = () => this.d.stats(d.owner);
      const endFlow = (key: string) => {
        const f = flows.get(key);
        if (!f) return;
        flows.delete(key);
        clearTimeout(f.timer);
        f.up.close();
        st().active--;
      };
      sock.on('message', (msg, rinfo) => {
        const key = `${rinfo.address}|${rinfo.port}`;
        let f = flows.get(key);
        if (!f) {
          const backends = this.d.backends(d);
          st().accepted++;
          if (backends.length === 0 || flows.size >= UDP_MAX_FLOWS) {
            st().rejected++;
            return;
          }
          const n = this.d.nextIndex(d);
          const b = backends[n % backends.length] as { host: string; port: number };
          const up = createUdpSocket({ type: isIPv6(b.host) ? 'udp6' : 'udp4' });
          up.on('error', () => endFlow(key));
          up.on('message', (reply, from) => {
            if (from.address !== b.host || from.port !== b.port) return;
            st().bytesOut += reply.length;
            sock.send(reply, rinfo.port, rinfo.address);
            flows.get(key)?.timer.refresh();
          });
          const created = { up, timer: setTimeout(() => endFlow(key), UDP_FLOW_IDLE_MS), host: b.host, port: b.port };
          created.timer.unref();
          flows.set(key, created);
          st().active++;
          f = created;
        }
        f.timer.refresh();
        st().bytesIn += msg.length;
        f.up.send(msg, f.port, f.host);
      });
      sock.once('error', reject);
      sock.bind({ address: d.host, port: d.port, exclusive: true }, () => {
        sock.off('error', reject);
        sock.on('error', (err) => this.d.log.error('service proxy UDP listener error', { service: d.owner, address: d.addr, error: err.message }));
        resolve({
          close: (cb) => {
            for (const key of [...flows.keys()]) endFlow(key);
            sock.close(cb);
          },
        });
      });
    });
  }
}
