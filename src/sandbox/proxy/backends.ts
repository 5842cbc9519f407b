// What the proxy's listeners share: their description, the backends of a Service port, the stats record.
import { isIPv6 } from 'node:net';
import type { ProxyService, ProxyServicePort, ProxyServiceStats } from './types.js';

/** A TCP server or a UDP socket with its flows: all the reconcile loop needs is to close it. */
export interface Closable {
  close(cb: () => void): void;
}

export interface Listener {
  addr: string;
  host: string;
  port: number;
  owner: string;
  portKey: string;
  server: Closable;
}

export interface Desired {
  addr: string;
  host: string;
  port: number;
  owner: string;
  portKey: string;
  protocol: 'TCP' | 'UDP';
}

/** UDP flows per listener are bounded; idle ones expire as conntrack's UDP entries do. */
export const UDP_MAX_FLOWS = 4096;
export const UDP_FLOW_IDLE_MS = 30_000;

export const portKeyOf = (p: ProxyServicePort) => `${p.protocol}/${p.name ?? ''}/${p.port}`;
export const addrOf = (host: string, port: number, protocol: 'TCP' | 'UDP' = 'TCP') => `${isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`}${protocol === 'UDP' ? '/udp' : ''}`;

/** Ready endpoints for one Service port, as host/port, with `targetPort` resolved. Pure. */
export function backendsFor(svc: ProxyService, sp: ProxyServicePort): { host: string; port: number }[] {
  const out: { host: string; port: number }[] = [];
  for (const e of svc.endpoints) {
    if (!e.ready) continue;
    let port: number | undefined;
    if (e.ports) {
      // EndpointSlice semantics: the slice port with the Service port's name carries the resolved number.
      port = e.ports.find((p) => (p.name ?? '') === (sp.name ?? '') && p.protocol === sp.protocol)?.port;
    }
    if (port === undefined && typeof sp.targetPort === 'number') port = sp.targetPort;
    if (port === undefined && sp.targetPort === undefined) port = sp.port;
    if (port !== undefined) out.push({ host: e.ip, port });
  }
  return out;
}

export function emptyStats(): ProxyServiceStats {
  return { accepted: 0, rejected: 0, failovers: 0, active: 0, bytesIn: 0, bytesOut: 0 };
}
