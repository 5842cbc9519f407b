// A local web server is reachable by every web page the user opens: a page elsewhere can make the browser
// send requests here (cross-origin), and a hostile DNS name can be made to resolve to 127.0.0.1 (DNS
// rebinding) so that its pages become "same origin" with us. So: only GET/HEAD, only requests whose Host
// header names this server as the user reaches it, and no request that a browser marks as coming from
// another site (Origin, Sec-Fetch-Site) except a plain navigation to a page.
import type { IncomingHttpHeaders } from 'node:http';
import { hostname, networkInterfaces } from 'node:os';

export interface Policy {
  hosts: Set<string>;
  origins: Set<string>;
}

export const isLoopback = (address: string): boolean => address === 'localhost' || address === '::1' || address.startsWith('127.');
const isWildcard = (address: string): boolean => address === '0.0.0.0' || address === '::';
const hostPart = (address: string): string => (address.includes(':') ? `[${address}]` : address);

/** The Host values (host:port) a browser sends when it reaches this server as it is bound. */
export function policyFor(address: string, port: number): Policy {
  const names = new Set(['127.0.0.1', 'localhost', '[::1]']);
  if (!isLoopback(address)) {
    if (isWildcard(address)) {
      names.add(hostname().toLowerCase());
      for (const list of Object.values(networkInterfaces())) for (const i of list ?? []) names.add(hostPart(i.address.toLowerCase()));
    } else {
      names.add(hostPart(address.toLowerCase()));
    }
  }
  const hosts = new Set([...names].map((n) => `${n}:${port}`));
  return { hosts, origins: new Set([...hosts].map((h) => `http://${h}`)) };
}

export type Verdict = { ok: true } | { ok: false; status: number; reason: string };

/** Whether to serve a request; `page` = an HTML page (top-level navigation from elsewhere is allowed). */
export function vet(method: string | undefined, headers: IncomingHttpHeaders, policy: Policy, page: boolean): Verdict {
  if (method !== 'GET' && method !== 'HEAD') return { ok: false, status: 405, reason: 'the dashboard is read-only: GET and HEAD only' };
  const host = (headers.host ?? '').toLowerCase();
  if (!policy.hosts.has(host)) return { ok: false, status: 403, reason: `Host "${host}" is not this dashboard's address (DNS rebinding protection)` };
  const origin = headers.origin;
  if (origin !== undefined && !policy.origins.has(origin.toLowerCase())) return { ok: false, status: 403, reason: `cross-origin request from ${origin} refused` };
  const site = headers['sec-fetch-site'];
  const navigate = headers['sec-fetch-mode'] === 'navigate' && headers['sec-fetch-dest'] === 'document';
  if (site !== undefined && site !== 'same-origin' && site !== 'none' && !(page && navigate)) {
    return { ok: false, status: 403, reason: `request from another site (${String(site)}) refused` };
  }
  return { ok: true };
}

/** Headers on every response: no framing, no sniffing, no referrer, scripts and styles from here only. */
export const SECURITY_HEADERS: Record<string, string> = {
  'Content-Security-Policy': "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
};
