// Pure routing decisions: parse a tunnel target, check the peer against policy, pick a backend. No I/O,
// so every refusal reason is covered by table-driven unit tests.
import { isIP } from 'node:net';
import { parseSpiffeId, type SpiffeId } from '../trust/index.js';
import { firstMatch, formatAllowList, parseAllowList, type AllowRule } from '../api/index.js';
import { GatewayError } from './errors.js';
import type { Backend, ExportedService, OutboundRoute, RemoteGateway } from './types.js';

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

export interface Target {
  hostname?: string;
  service: string;
  namespace: string;
  port: number;
}

/** Parses `[<hostname>.]<svc>.<ns>.svc.<clusterDomain>:<port>`; anything else (an IP, another domain,
 * the API server's name, a bare host) is BAD_AUTHORITY. */
export function parseAuthority(authority: string | undefined, clusterDomain: string): Target {
  const bad = (why: string): never => {
    const shown = authority === undefined ? '(none)' : JSON.stringify(authority.length > 120 ? authority.slice(0, 120) + '…' : authority);
    throw new GatewayError('BAD_AUTHORITY', `target ${shown} ${why}; expected <svc>.<ns>.svc.${clusterDomain}:<port>`);
  };
  if (authority === undefined || authority === '') return bad('is missing');
  if (authority.length > 300) bad('is too long');
  const colon = authority.lastIndexOf(':');
  if (colon <= 0) bad('has no port');
  const host = authority.slice(0, colon).toLowerCase();
  const portText = authority.slice(colon + 1);
  if (!/^[0-9]{1,5}$/.test(portText)) bad('has no valid port');
  const port = Number(portText);
  if (port < 1 || port > 65535) bad('has a port out of range');
  if (isIP(host.replace(/^\[|\]$/g, '')) !== 0) bad('is an IP address (only exported Services are reachable)');
  const suffix = `.svc.${clusterDomain.toLowerCase()}`;
  if (!host.endsWith(suffix)) bad(`is not in this cluster's domain ${clusterDomain}`);
  const labels = host.slice(0, -suffix.length).split('.');
  if (labels.length < 2 || labels.length > 3) bad('does not name a Service');
  for (const l of labels) if (!DNS_LABEL.test(l)) bad(`has an invalid DNS label ${JSON.stringify(l)}`);
  if (labels.length === 3) return { hostname: labels[0]!, service: labels[1]!, namespace: labels[2]!, port };
  return { service: labels[0]!, namespace: labels[1]!, port };
}

export function formatAuthority(t: Target, clusterDomain: string): string {
  return `${t.hostname ? t.hostname + '.' : ''}${t.service}.${t.namespace}.svc.${clusterDomain}:${t.port}`;
}

/** The authenticated caller: its verified SPIFFE id (undefined when its certificate carries no valid one)
 * and, when its issuer names one, its cluster (the issuer's OU; see src/trust verifiedPeer). */
export interface Caller {
  id: SpiffeId | undefined;
  cluster?: string;
}

/** A caller from an id's text (tests, static checks): parsed by src/trust's one SPIFFE parser. */
export function callerOf(uri: string | undefined, cluster?: string): Caller {
  let id: SpiffeId | undefined;
  try {
    id = uri === undefined ? undefined : parseSpiffeId(uri);
  } catch {
    id = undefined;
  }
  return { id, ...(cluster !== undefined ? { cluster } : {}) };
}

/** The gateway-wide allow list (`--allowed-identities`), read by src/api's one rule parser: the peer must
 * hold a SPIFFE id of the trust domain and, when the list has rules, match one of them by its certificate
 * id and its issuer's cluster (`cluster:`, exact ids, `.../ns/<ns>/*`, a bare trust domain). */
export function checkPolicy(caller: Caller, trustDomain: string, rules: readonly AllowRule[] = []): void {
  const id = caller.id;
  if (id === undefined) throw new GatewayError('FORBIDDEN', 'peer certificate has no valid SPIFFE identity');
  if (id.trustDomain !== trustDomain) throw new GatewayError('FORBIDDEN', `peer ${id.uri} is not in trust domain ${trustDomain}`);
  if (rules.length === 0) return;
  if (!firstMatch(rules, { id: id.uri, cluster: caller.cluster ?? '', unknown: false })) {
    throw new GatewayError('FORBIDDEN', `peer ${id.uri}${caller.cluster ? ` (cluster ${caller.cluster})` : ''} is not in the gateway's allowed identities [${formatAllowList(rules)}]`);
  }
}

/** `--allowed-identities` as rules; a list that does not parse is a startup error naming the entry. */
export function gatewayAllowRules(list: readonly string[]): AllowRule[] {
  const p = parseAllowList([...list]);
  if (!p.ok) throw new GatewayError('BAD_CONFIG', `--allowed-identities ${p.message}`);
  return p.rules;
}

/** Index of exported Services by `<ns>/<name>`. */
export type ExportIndex = Map<string, ExportedService>;

export function indexExports(list: ExportedService[]): ExportIndex {
  return new Map(list.map((s) => [`${s.namespace}/${s.name}`, s]));
}

export interface InboundDecision {
  service: ExportedService;
  candidates: Backend[];
}

/** Resolves a parsed target to the backends of an exported Service's declared port, or throws the reason. */
export function resolveTarget(t: Target, exports: ExportIndex): InboundDecision {
  const svc = exports.get(`${t.namespace}/${t.service}`);
  if (!svc) throw new GatewayError('UNKNOWN_SERVICE', `${t.service}.${t.namespace} is not an exported Service of this cluster`);
  const port = svc.ports.find((p) => p.port === t.port);
  if (!port) throw new GatewayError('UNDECLARED_PORT', `${t.service}.${t.namespace} does not declare port ${t.port} (declared: ${svc.ports.map((p) => p.port).join(', ') || 'none'})`);
  let candidates = port.backends;
  if (t.hostname !== undefined) {
    candidates = candidates.filter((b) => b.hostname === t.hostname);
    if (candidates.length === 0) throw new GatewayError('UNKNOWN_HOST', `${t.hostname} is not a ready endpoint of ${t.service}.${t.namespace}`);
  }
  if (candidates.length === 0) throw new GatewayError('NO_ENDPOINTS', `${t.service}.${t.namespace}:${t.port} has no ready endpoints`);
  return { service: svc, candidates };
}

/** Outbound: listener port → route + remote gateway, or throws NO_ROUTE. */
export function resolveOutbound(port: number, routes: Map<number, OutboundRoute>, remotes: Map<string, RemoteGateway>): { route: OutboundRoute; remote: RemoteGateway } {
  const route = routes.get(port);
  if (!route) throw new GatewayError('NO_ROUTE', `no shadow Service maps outbound port ${port}`);
  const remote = remotes.get(route.remoteCluster);
  if (!remote) throw new GatewayError('NO_ROUTE', `no Link to cluster ${route.remoteCluster} (outbound port ${port})`);
  return { route, remote };
}
