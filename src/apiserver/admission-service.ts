// Services: ClusterIP and NodePort allocation and release, port checks and defaults.
import { isObject, type Json, type JsonObject } from './patch.js';
import { invalid, type StatusCause } from './errors.js';
import type { Obj } from './store.js';
import type { PortAllocator, ServiceIpRanges } from './allocators.js';
import { validPort } from './validation.js';
import { admitServiceIPs, type IpChange } from './admission-ipfamily.js';

export type { IpChange } from './admission-ipfamily.js';

export interface Admission {
  ips: ServiceIpRanges;
  nodePorts: PortAllocator;
}

const protocols = ['TCP', 'UDP', 'SCTP'];

function servicePortsCauses(spec: JsonObject, headless: boolean, type: string): StatusCause[] {
  const causes: StatusCause[] = [];
  const ports = spec['ports'];
  if (ports === undefined || ports === null || (Array.isArray(ports) && ports.length === 0)) {
    if (!headless && type !== 'ExternalName') causes.push({ reason: 'FieldValueRequired', message: 'Required value', field: 'spec.ports' });
    return causes;
  }
  if (!Array.isArray(ports)) return [{ reason: 'FieldValueInvalid', message: 'Invalid value: must be a list', field: 'spec.ports' }];
  const seen = new Set<string>();
  const names = new Set<string>();
  ports.forEach((p, i) => {
    const f = `spec.ports[${i}]`;
    if (!isObject(p)) {
      causes.push({ reason: 'FieldValueInvalid', message: 'Invalid value: must be an object', field: f });
      return;
    }
    if (!validPort(p['port'])) causes.push({ reason: 'FieldValueInvalid', message: `Invalid value: ${JSON.stringify(p['port'] ?? null)}: must be between 1 and 65535, inclusive`, field: `${f}.port` });
    const proto = p['protocol'] ?? 'TCP';
    if (typeof proto !== 'string' || !protocols.includes(proto)) causes.push({ reason: 'FieldValueNotSupported', message: `Unsupported value: ${JSON.stringify(proto)}: supported values: "SCTP", "TCP", "UDP"`, field: `${f}.protocol` });
    const tp = p['targetPort'];
    if (tp !== undefined && !(validPort(tp) || (typeof tp === 'string' && /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(tp) && tp.length <= 15)))
      causes.push({ reason: 'FieldValueInvalid', message: `Invalid value: ${JSON.stringify(tp)}: must be a port number between 1 and 65535 or a port name`, field: `${f}.targetPort` });
    const name = p['name'];
    if (ports.length > 1 && (typeof name !== 'string' || name === '')) causes.push({ reason: 'FieldValueRequired', message: 'Required value', field: `${f}.name` });
    if (typeof name === 'string' && name !== '') {
      if (names.has(name)) causes.push({ reason: 'FieldValueDuplicate', message: `Duplicate value: "${name}"`, field: `${f}.name` });
      names.add(name);
    }
    const key = `${String(p['port'])}/${String(proto)}`;
    if (seen.has(key)) causes.push({ reason: 'FieldValueDuplicate', message: `Duplicate value: ${JSON.stringify({ port: p['port'], protocol: proto })}`, field: f });
    seen.add(key);
  });
  return causes;
}

function defaultServicePorts(spec: JsonObject): void {
  const ports = spec['ports'];
  if (!Array.isArray(ports)) return;
  spec['ports'] = ports.map((p) => {
    if (!isObject(p)) return p;
    const q: JsonObject = { ...p, protocol: p['protocol'] ?? 'TCP' };
    if (q['targetPort'] === undefined) q['targetPort'] = q['port'];
    return q;
  });
}

/** Defaults and checks a Service; allocates its ClusterIP(s) (and NodePorts) from the configured ranges. */
export function admitService(a: Admission, obj: Obj, prev: Obj | undefined): IpChange {
  const spec: JsonObject = isObject(obj['spec'] as Json) ? { ...(obj['spec'] as JsonObject) } : {};
  const prevSpec = prev && isObject(prev['spec'] as Json) ? (prev['spec'] as JsonObject) : undefined;
  const type = (spec['type'] as string | undefined) ?? 'ClusterIP';
  const causes: StatusCause[] = [];
  if (!['ClusterIP', 'NodePort', 'LoadBalancer', 'ExternalName'].includes(type))
    causes.push({ reason: 'FieldValueNotSupported', message: `Unsupported value: "${type}": supported values: "ClusterIP", "ExternalName", "LoadBalancer", "NodePort"`, field: 'spec.type' });
  spec['type'] = type;
  const clusterIP = spec['clusterIP'] === undefined || spec['clusterIP'] === '' ? prevSpec?.['clusterIP'] : spec['clusterIP'];
  const headless = clusterIP === 'None';
  if (type === 'ExternalName' && typeof spec['externalName'] !== 'string') causes.push({ reason: 'FieldValueRequired', message: 'Required value', field: 'spec.externalName' });
  causes.push(...servicePortsCauses(spec, headless, type));
  if (headless && type !== 'ClusterIP') causes.push({ reason: 'FieldValueInvalid', message: `Invalid value: "None": may only be set to "None" for ClusterIP services`, field: 'spec.clusterIP' });
  if (causes.length) throw invalid('Service', '', obj.metadata.name, causes);
  defaultServicePorts(spec);
  let change: IpChange = { allocated: [], released: [] };
  if (type === 'ExternalName') {
    // The type-dependent fields go with the type (dropTypeDependentFields); the old IPs go back on write.
    for (const k of ['clusterIP', 'clusterIPs', 'ipFamilies', 'ipFamilyPolicy']) delete spec[k];
    if (prevSpec) change.released = ipsOf(prevSpec);
  } else {
    change = admitServiceIPs(a.ips, obj.metadata.name, spec, prevSpec);
    spec['sessionAffinity'] = spec['sessionAffinity'] ?? 'None';
    spec['internalTrafficPolicy'] = spec['internalTrafficPolicy'] ?? 'Cluster';
  }
  if (type === 'NodePort' || type === 'LoadBalancer') {
    const prevPorts = Array.isArray(prevSpec?.['ports']) ? (prevSpec['ports'] as Json[]) : [];
    spec['ports'] = (spec['ports'] as Json[]).map((p) => {
      if (!isObject(p)) return p;
      if (typeof p['nodePort'] === 'number') {
        if (!prevPorts.some((q) => isObject(q) && q['nodePort'] === p['nodePort'])) a.nodePorts.reserve(p['nodePort']);
        return p;
      }
      const old = prevPorts.find((q) => isObject(q) && q['port'] === p['port'] && typeof q['nodePort'] === 'number');
      const np = isObject(old) ? (old['nodePort'] as number) : a.nodePorts.allocate();
      return { ...p, nodePort: np ?? null };
    });
    spec['externalTrafficPolicy'] = spec['externalTrafficPolicy'] ?? 'Cluster';
  }
  obj['spec'] = spec;
  if (!isObject(obj['status'] as Json)) obj['status'] = { loadBalancer: {} };
  return change;
}

/** The ClusterIPs a stored Service holds (none for headless or ExternalName). */
function ipsOf(spec: JsonObject): string[] {
  const ips = Array.isArray(spec['clusterIPs']) ? spec['clusterIPs'] : typeof spec['clusterIP'] === 'string' ? [spec['clusterIP']] : [];
  return ips.filter((ip): ip is string => typeof ip === 'string' && ip !== 'None' && ip !== '');
}

/** Gives IPs back to their family's range. */
export function releaseIps(a: Admission, ips: string[]): void {
  for (const ip of ips) a.ips.forIp(ip)?.release(ip);
}

/** Gives a deleted Service's ClusterIP and NodePorts back. */
export function releaseService(a: Admission, obj: Obj): void {
  const spec = obj['spec'];
  if (!isObject(spec as Json)) return;
  const s = spec as JsonObject;
  releaseIps(a, ipsOf(s));
  if (Array.isArray(s['ports'])) for (const p of s['ports']) if (isObject(p) && typeof p['nodePort'] === 'number') a.nodePorts.release(p['nodePort']);
}

/** Re-reserves allocations of Services loaded from a snapshot. */
export function reserveService(a: Admission, obj: Obj): void {
  const s = obj['spec'];
  if (!isObject(s as Json)) return;
  const spec = s as JsonObject;
  for (const ip of ipsOf(spec)) if (a.ips.forIp(ip)?.contains(ip)) a.ips.forIp(ip)?.reserve(ip);
  if (Array.isArray(spec['ports'])) for (const p of spec['ports']) if (isObject(p) && typeof p['nodePort'] === 'number') a.nodePorts.reserve(p['nodePort']);
}
