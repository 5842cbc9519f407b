// The record store: callers describe Services; the store keeps the DNS names that follow from them
// (Kubernetes DNS spec, https://github.com/kubernetes/dns/blob/master/docs/specification.md) and answers
// lookups. Names are stored lower-case without a trailing dot; lookups are case-insensitive.
import { isIPv4, isIPv6 } from 'node:net';
import { DEFAULT_CLUSTER_DOMAIN } from '../api/index.js';
import { DnsError } from './errors.js';
import { DnsNameSchema, DnsServiceSchema, type DnsService, type DnsServiceInput, type NameRecords, type SrvRecord } from './types.js';

export function normalizeName(name: string): string {
  let n = name.toLowerCase();
  while (n.endsWith('.')) n = n.slice(0, -1);
  return n;
}

/** The name a headless endpoint gets when it has no hostname: its IP with dashes (as CoreDNS does). */
export function endpointLabel(ip: string, hostname?: string): string {
  if (hostname) return hostname.toLowerCase();
  return isIPv6(ip) ? ip.replace(/:/g, '-') : ip.replace(/\./g, '-');
}

/**
 * `<a-b-c-d>.<namespace>.pod.<domain>` → that IP, without checking that such a pod exists (CoreDNS's
 * `pods insecure`, the kubeadm default). IPv6 uses dashes for colons.
 */
function podRecord(n: string, domain: string): NameRecords | undefined {
  const suffix = `.pod.${domain}`;
  if (!n.endsWith(suffix)) return undefined;
  const labels = n.slice(0, -suffix.length).split('.');
  if (labels.length !== 2 || !labels[0] || !labels[1] || !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(labels[1])) return undefined;
  const v4 = labels[0].replace(/-/g, '.');
  if (isIPv4(v4)) return { ...emptyRecords(), a: [v4] };
  const v6 = labels[0].replace(/-/g, ':');
  if (isIPv6(v6)) return { ...emptyRecords(), aaaa: [v6] };
  return undefined;
}

export function emptyRecords(): NameRecords {
  return { a: [], aaaa: [], srv: [], ptr: [] };
}

/** The reverse-lookup name of an IP: `4.3.2.1.in-addr.arpa`, or nibbles under `ip6.arpa`. */
export function reverseName(ip: string): string {
  if (!isIPv6(ip)) return `${ip.split('.').reverse().join('.')}.in-addr.arpa`;
  // Expand `::` and pad every group to 4 hex digits, then reverse the 32 nibbles.
  const [head = '', tail = ''] = ip.toLowerCase().split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = ip.includes('::') ? [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t] : h;
  return `${groups.map((g) => g.padStart(4, '0')).join('').split('').reverse().join('.')}.ip6.arpa`;
}

/** All names (and their records) that one Service contributes under `domain`. Pure. */
export function namesForService(namespace: string, name: string, svc: DnsService, domain: string): Map<string, NameRecords> {
  const out = new Map<string, NameRecords>();
  const get = (n: string): NameRecords => {
    let r = out.get(n);
    if (!r) {
      r = emptyRecords();
      out.set(n, r);
    }
    return r;
  };
  const base = normalizeName(`${name}.${namespace}.svc.${domain}`);
  const svcRecords = get(base);
  if (svc.externalName) {
    svcRecords.cname = normalizeName(svc.externalName);
    return out;
  }
  const published = svc.endpoints.filter((e) => e.ready || svc.publishNotReadyAddresses);
  const add = (r: NameRecords, ip: string) => {
    const list = isIPv6(ip) ? r.aaaa : r.a;
    if (!list.includes(ip)) list.push(ip);
  };
  const ptr = (ip: string, target: string) => {
    const r = get(reverseName(ip));
    if (!r.ptr.includes(target)) r.ptr.push(target);
  };
  if (svc.headless) for (const e of published) add(svcRecords, e.ip);
  else
    for (const ip of svc.clusterIPs) {
      add(svcRecords, ip);
      ptr(ip, base);
    }

  // Per-endpoint names: hostnames always (StatefulSet pods); dashed-IP names for headless Services so
  // that SRV targets resolve.
  const endpointTargets: string[] = [];
  for (const e of published) {
    if (!e.hostname && !svc.headless) continue;
    const target = `${endpointLabel(e.ip, e.hostname)}.${base}`;
    add(get(target), e.ip);
    ptr(e.ip, target);
    if (!endpointTargets.includes(target)) endpointTargets.push(target);
  }

  for (const p of svc.ports) {
    if (!p.name) continue;
    const srvName = `_${p.name.toLowerCase()}._${p.protocol.toLowerCase()}.${base}`;
    const srv: SrvRecord[] = svc.headless
      ? endpointTargets.map((target) => ({ priority: 0, weight: Math.floor(100 / Math.max(1, endpointTargets.length)), port: p.port, target }))
      : [{ priority: 0, weight: 100, port: p.port, target: base }];
    get(srvName).srv.push(...srv);
  }
  return out;
}

export interface LookupResult {
  /** The name exists (has records, or is an ancestor of a name that has them). */
  exists: boolean;
  records: NameRecords;
}

/**
 * The record source the DNS server answers from. The caller owns the data: it calls `setService` /
 * `deleteService` (or `replaceAll` for a level-triggered full resync) whenever Services or endpoints change.
 */
export class DnsRecordSource {
  readonly domain: string;
  /** Owner key (`ns/name`, or a reserved key with a space for zone records) → the names it contributes. */
  protected readonly services = new Map<string, Map<string, NameRecords>>();
  private index = new Map<string, NameRecords>();
  private ancestors = new Set<string>();
  private dirty = false;
  /** Bumped on every change; used as the SOA serial. */
  generation = 1;
  /** Whether `<a-b-c-d>.<ns>.pod.<domain>` names exist (cluster DNS yes; the clusterset zone has none). */
  protected podNames = true;

  constructor(domain = DEFAULT_CLUSTER_DOMAIN) {
    this.domain = normalizeName(domain);
    if (!this.domain) throw new DnsError('DNS_INVALID_CONFIG', 'cluster domain must not be empty');
  }

  /** Adds or replaces the names one owner contributes (subclasses map their own objects to names). */
  protected setNames(key: string, names: Map<string, NameRecords>): void {
    this.services.set(key, names);
    this.dirty = true;
    this.generation++;
  }

  /** Replaces every owner's names at once, keeping owners whose key `keep` accepts (zone records). */
  protected replaceNames(next: Map<string, Map<string, NameRecords>>, keep: (key: string) => boolean = () => false): void {
    for (const k of [...this.services.keys()]) if (!keep(k)) this.services.delete(k);
    for (const [k, v] of next) this.services.set(k, v);
    this.dirty = true;
    this.generation++;
  }

  /** Adds or replaces one Service. Throws DnsError DNS_INVALID_SERVICE on bad input (nothing changes then). */
  setService(namespace: string, name: string, input: DnsServiceInput): void {
    const svc = parseService(namespace, name, input);
    this.services.set(`${namespace.toLowerCase()}/${name.toLowerCase()}`, namesForService(namespace, name, svc, this.domain));
    this.dirty = true;
    this.generation++;
  }

  deleteService(namespace: string, name: string): boolean {
    const had = this.services.delete(`${namespace.toLowerCase()}/${name.toLowerCase()}`);
    if (had) {
      this.dirty = true;
      this.generation++;
    }
    return had;
  }

  /** Replaces everything with exactly these Services (keys `ns/name`). Invalid entries are skipped and returned. */
  replaceAll(services: Iterable<[key: string, svc: DnsServiceInput]>): { key: string; error: string }[] {
    const next = new Map<string, Map<string, NameRecords>>();
    const errors: { key: string; error: string }[] = [];
    for (const [key, input] of services) {
      const [ns, name] = key.split('/');
      if (!ns || !name) {
        errors.push({ key, error: 'key must be <namespace>/<name>' });
        continue;
      }
      try {
        next.set(`${ns.toLowerCase()}/${name.toLowerCase()}`, namesForService(ns, name, parseService(ns, name, input), this.domain));
      } catch (err) {
        errors.push({ key, error: err instanceof Error ? err.message : String(err) });
      }
    }
    this.services.clear();
    for (const [k, v] of next) this.services.set(k, v);
    this.dirty = true;
    this.generation++;
    return errors;
  }

  serviceCount(): number {
    return this.services.size;
  }

  /** Whether `name` is this source's domain or under it. */
  inDomain(name: string): boolean {
    const n = normalizeName(name);
    return n === this.domain || n.endsWith(`.${this.domain}`);
  }

  /**
   * Whether this source answers for `name`: its domain, or a reverse name of a Service or endpoint IP it
   * knows. Other reverse names are not ours (forwarded or REFUSED like any outside name).
   */
  answersFor(name: string): boolean {
    return this.inDomain(name) || this.lookup(name).records.ptr.length > 0;
  }

  lookup(name: string): LookupResult {
    if (this.dirty) this.rebuild();
    const n = normalizeName(name);
    const records = this.index.get(n);
    if (records) return { exists: true, records };
    const pod = this.podNames ? podRecord(n, this.domain) : undefined;
    if (pod) return { exists: true, records: pod };
    return { exists: n === this.domain || this.ancestors.has(n) || (this.podNames && n === `pod.${this.domain}`), records: emptyRecords() };
  }

  // The index is rebuilt lazily on the first lookup after a change: updates stay O(1) and bursts of
  // informer events cost one rebuild.
  private rebuild(): void {
    const index = new Map<string, NameRecords>();
    const ancestors = new Set<string>();
    for (const names of this.services.values()) {
      for (const [n, r] of names) {
        const cur = index.get(n);
        if (!cur) index.set(n, { a: [...r.a], aaaa: [...r.aaaa], srv: [...r.srv], ptr: [...r.ptr], ...(r.cname ? { cname: r.cname } : {}), ...(r.txt ? { txt: [...r.txt] } : {}) });
        else {
          if (r.txt) cur.txt = [...(cur.txt ?? []), ...r.txt];
          for (const t of r.ptr) if (!cur.ptr.includes(t)) cur.ptr.push(t);
          for (const ip of r.a) if (!cur.a.includes(ip)) cur.a.push(ip);
          for (const ip of r.aaaa) if (!cur.aaaa.includes(ip)) cur.aaaa.push(ip);
          cur.srv.push(...r.srv);
          if (r.cname && !cur.cname) cur.cname = r.cname;
        }
        if (!this.inDomain(n)) continue; // reverse names have no empty non-terminals we answer for
        let p = n;
        for (let i = p.indexOf('.'); i >= 0 && p !== this.domain; i = p.indexOf('.')) {
          p = p.slice(i + 1);
          ancestors.add(p);
        }
      }
    }
    this.index = index;
    this.ancestors = ancestors;
    this.dirty = false;
  }
}

function parseService(namespace: string, name: string, input: DnsServiceInput): DnsService {
  const ns = DnsNameSchema.safeParse(namespace);
  const nm = DnsNameSchema.safeParse(name);
  if (!ns.success || !nm.success) {
    throw new DnsError('DNS_INVALID_SERVICE', `service ${namespace}/${name}: namespace and name must be DNS labels`);
  }
  const parsed = DnsServiceSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new DnsError('DNS_INVALID_SERVICE', `service ${namespace}/${name}: ${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'invalid'}`);
  }
  return parsed.data;
}
