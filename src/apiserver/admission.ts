// Per-type defaulting and validation (what kube-apiserver's registry strategies do): names, Service
// ClusterIP/NodePort allocation and port checks, Pod/Deployment/StatefulSet basics, Secret data,
// EndpointSlices, CRD specs, and OpenAPI v3 schema validation of custom resources.
import { Ajv, type ValidateFunction, type ErrorObject } from 'ajv';
import { invalid, type StatusCause, ApiError } from './errors.js';
import { isObject, type Json, type JsonObject } from './patch.js';
import type { Obj } from './store.js';
import type { ResourceDef } from './resources.js';

const dns1123Label = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const dns1035Label = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const dns1123Subdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export function nameCauses(def: ResourceDef, name: string): StatusCause[] {
  const field = 'metadata.name';
  if (!name) return [{ reason: 'FieldValueRequired', message: 'Required value: name or generateName is required', field }];
  if (def.group === 'rbac.authorization.k8s.io') {
    if (name === '.' || name === '..' || /[/%]/.test(name)) return [{ reason: 'FieldValueInvalid', message: `Invalid value: "${name}": may not contain '/' or '%', and may not be '.' or '..'`, field }];
    return [];
  }
  const label = def.resource === 'namespaces' || def.resource === 'services';
  if (label) {
    const re = def.resource === 'services' ? dns1035Label : dns1123Label;
    if (name.length > 63 || !re.test(name)) {
      const what = def.resource === 'services' ? 'a DNS-1035 label' : 'a lowercase RFC 1123 label';
      return [{ reason: 'FieldValueInvalid', message: `Invalid value: "${name}": must be ${what} (at most 63 lowercase alphanumeric characters or '-', starting and ending with an alphanumeric character)`, field }];
    }
    return [];
  }
  if (name.length > 253 || !dns1123Subdomain.test(name)) {
    return [{ reason: 'FieldValueInvalid', message: `Invalid value: "${name}": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character`, field }];
  }
  return [];
}

function labelCauses(meta: Record<string, unknown>): StatusCause[] {
  const causes: StatusCause[] = [];
  // Owner references feed garbage collection: each must name its owner completely.
  const refs = meta['ownerReferences'];
  if (refs !== undefined && refs !== null) {
    if (!Array.isArray(refs)) causes.push({ reason: 'FieldValueInvalid', message: 'Invalid value: must be a list', field: 'metadata.ownerReferences' });
    else
      refs.forEach((r: unknown, i) => {
        for (const f of ['apiVersion', 'kind', 'name', 'uid']) {
          const v = isObject(r as Json) ? (r as JsonObject)[f] : undefined;
          if (typeof v !== 'string' || v === '') causes.push({ reason: 'FieldValueRequired', message: 'Required value', field: `metadata.ownerReferences[${i}].${f}` });
        }
      });
  }
  const fins = meta['finalizers'];
  if (fins !== undefined && fins !== null && (!Array.isArray(fins) || fins.some((f) => typeof f !== 'string' || f === '')))
    causes.push({ reason: 'FieldValueInvalid', message: 'Invalid value: must be a list of non-empty strings', field: 'metadata.finalizers' });
  for (const f of ['labels', 'annotations'] as const) {
    const m = meta[f];
    if (m === undefined || m === null) continue;
    if (!isObject(m as Json)) {
      causes.push({ reason: 'FieldValueInvalid', message: 'Invalid value: must be a map of strings', field: `metadata.${f}` });
      continue;
    }
    for (const [k, v] of Object.entries(m as JsonObject)) {
      if (typeof v !== 'string') causes.push({ reason: 'FieldValueInvalid', message: `Invalid value: ${JSON.stringify(v)}: must be a string`, field: `metadata.${f}[${k}]` });
      else if (f === 'labels' && (v.length > 63 || !/^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/.test(v)))
        causes.push({ reason: 'FieldValueInvalid', message: `Invalid value: "${v}": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character`, field: `metadata.labels` });
    }
  }
  return causes;
}

// --- IP allocation ---

function ipToInt(ip: string): number {
  const p = ip.split('.').map(Number);
  if (p.length !== 4 || p.some((x) => !Number.isInteger(x) || x < 0 || x > 255)) return NaN;
  return ((p[0] << 24) >>> 0) + (p[1] << 16) + (p[2] << 8) + p[3];
}

function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export class IpAllocator {
  readonly base: number;
  readonly size: number;
  private readonly used = new Set<number>();
  private nextOffset = 10;

  constructor(readonly cidr: string) {
    const m = cidr.match(/^(\d+\.\d+\.\d+\.\d+)\/(\d+)$/);
    const bits = m ? Number(m[2]) : NaN;
    const base = m ? ipToInt(m[1]) : NaN;
    if (!m || Number.isNaN(base) || bits < 8 || bits > 30) throw new Error(`service CIDR ${cidr} is not an IPv4 CIDR between /8 and /30`);
    this.size = 2 ** (32 - bits);
    this.base = base - (base % this.size);
  }

  /** The first usable address, reserved for the `kubernetes` Service. */
  get first(): string {
    return intToIp(this.base + 1);
  }

  contains(ip: string): boolean {
    const n = ipToInt(ip);
    return !Number.isNaN(n) && n > this.base && n < this.base + this.size - 1;
  }

  isUsed(ip: string): boolean {
    return this.used.has(ipToInt(ip));
  }

  reserve(ip: string): void {
    this.used.add(ipToInt(ip));
  }

  release(ip: string): void {
    this.used.delete(ipToInt(ip));
  }

  allocate(): string | undefined {
    const usable = this.size - 2;
    for (let i = 0; i < usable; i++) {
      const off = 1 + ((this.nextOffset + i) % usable);
      const n = this.base + off;
      if (!this.used.has(n)) {
        this.used.add(n);
        this.nextOffset = off;
        return intToIp(n);
      }
    }
    return undefined;
  }
}

export class PortAllocator {
  private readonly used = new Set<number>();
  constructor(
    private readonly lo = 30000,
    private readonly hi = 32767,
  ) {}
  inRange(p: number): boolean {
    return p >= this.lo && p <= this.hi;
  }
  reserve(p: number): void {
    this.used.add(p);
  }
  release(p: number): void {
    this.used.delete(p);
  }
  isUsed(p: number): boolean {
    return this.used.has(p);
  }
  allocate(): number | undefined {
    for (let p = this.lo; p <= this.hi; p++) if (!this.used.has(p)) return this.used.add(p), p;
    return undefined;
  }
}

// --- per-type admission ---

export interface Admission {
  ips: IpAllocator;
  nodePorts: PortAllocator;
}

const validPort = (p: unknown): p is number => typeof p === 'number' && Number.isInteger(p) && p >= 1 && p <= 65535;
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

/** Defaults and checks a Service; allocates its ClusterIP (and NodePorts) from the configured ranges. */
export function admitService(a: Admission, obj: Obj, prev: Obj | undefined): void {
  const spec: JsonObject = isObject(obj['spec'] as Json) ? { ...(obj['spec'] as JsonObject) } : {};
  const prevSpec = prev && isObject(prev['spec'] as Json) ? (prev['spec'] as JsonObject) : undefined;
  const type = (spec['type'] as string | undefined) ?? 'ClusterIP';
  const causes: StatusCause[] = [];
  if (!['ClusterIP', 'NodePort', 'LoadBalancer', 'ExternalName'].includes(type))
    causes.push({ reason: 'FieldValueNotSupported', message: `Unsupported value: "${type}": supported values: "ClusterIP", "ExternalName", "LoadBalancer", "NodePort"`, field: 'spec.type' });
  spec['type'] = type;
  let clusterIP = spec['clusterIP'];
  if (prevSpec && (clusterIP === undefined || clusterIP === '')) clusterIP = prevSpec['clusterIP'];
  if (prevSpec && prevSpec['clusterIP'] !== undefined && clusterIP !== prevSpec['clusterIP'] && type !== 'ExternalName' && prevSpec['type'] !== 'ExternalName')
    causes.push({ reason: 'FieldValueInvalid', message: `Invalid value: ${JSON.stringify(clusterIP)}: field is immutable`, field: 'spec.clusterIP' });
  const headless = clusterIP === 'None';
  if (type === 'ExternalName' && typeof spec['externalName'] !== 'string') causes.push({ reason: 'FieldValueRequired', message: 'Required value', field: 'spec.externalName' });
  causes.push(...servicePortsCauses(spec, headless, type));
  if (typeof clusterIP === 'string' && clusterIP !== '' && !headless && (!prevSpec || prevSpec['clusterIP'] !== clusterIP)) {
    if (!a.ips.contains(clusterIP)) causes.push({ reason: 'FieldValueInvalid', message: `Invalid value: "${clusterIP}": failed to allocate IP ${clusterIP}: the provided IP (${clusterIP}) is not in the valid range. The range of valid IPs is ${a.ips.cidr}`, field: 'spec.clusterIPs' });
    else if (a.ips.isUsed(clusterIP)) causes.push({ reason: 'FieldValueInvalid', message: `Invalid value: "${clusterIP}": failed to allocate IP ${clusterIP}: provided IP is already allocated`, field: 'spec.clusterIPs' });
  }
  if (headless && type !== 'ClusterIP') causes.push({ reason: 'FieldValueInvalid', message: `Invalid value: "None": may only be set to "None" for ClusterIP services`, field: 'spec.clusterIP' });
  if (causes.length) throw invalid('Service', '', obj.metadata.name, causes);
  defaultServicePorts(spec);
  if (type === 'ExternalName') {
    delete spec['clusterIP'];
    delete spec['clusterIPs'];
  } else {
    if (clusterIP === undefined || clusterIP === '') {
      const ip = a.ips.allocate();
      if (!ip) throw new ApiError('InternalError', `failed to allocate a serviceIP: range is full (${a.ips.cidr})`);
      clusterIP = ip;
    } else if (!headless && (!prevSpec || prevSpec['clusterIP'] !== clusterIP)) a.ips.reserve(clusterIP as string);
    spec['clusterIP'] = clusterIP;
    spec['clusterIPs'] = [clusterIP];
    if (!headless) {
      spec['ipFamilies'] = spec['ipFamilies'] ?? ['IPv4'];
      spec['ipFamilyPolicy'] = spec['ipFamilyPolicy'] ?? 'SingleStack';
    } else {
      spec['ipFamilies'] = spec['ipFamilies'] ?? ['IPv4'];
      spec['ipFamilyPolicy'] = spec['ipFamilyPolicy'] ?? 'SingleStack';
    }
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
}

/** Gives a deleted Service's ClusterIP and NodePorts back. */
export function releaseService(a: Admission, obj: Obj): void {
  const spec = obj['spec'];
  if (!isObject(spec as Json)) return;
  const s = spec as JsonObject;
  if (typeof s['clusterIP'] === 'string' && s['clusterIP'] !== 'None') a.ips.release(s['clusterIP']);
  if (Array.isArray(s['ports'])) for (const p of s['ports']) if (isObject(p) && typeof p['nodePort'] === 'number') a.nodePorts.release(p['nodePort']);
}

/** Re-reserves allocations of Services loaded from a snapshot. */
export function reserveService(a: Admission, obj: Obj): void {
  const s = obj['spec'];
  if (!isObject(s as Json)) return;
  const spec = s as JsonObject;
  if (typeof spec['clusterIP'] === 'string' && spec['clusterIP'] !== 'None' && a.ips.contains(spec['clusterIP'])) a.ips.reserve(spec['clusterIP']);
  if (Array.isArray(spec['ports'])) for (const p of spec['ports']) if (isObject(p) && typeof p['nodePort'] === 'number') a.nodePorts.reserve(p['nodePort']);
}

function containersCauses(spec: JsonObject, field: string): StatusCause[] {
  const causes: StatusCause[] = [];
  const cs = spec['containers'];
  if (!Array.isArray(cs) || cs.length === 0) return [{ reason: 'FieldValueRequired', message: 'Required value', field: `${field}.containers` }];
  const names = new Set<string>();
  cs.forEach((c, i) => {
    const f = `${field}.containers[${i}]`;
    if (!isObject(c)) return void causes.push({ reason: 'FieldValueInvalid', message: 'Invalid value: must be an object', field: f });
    const n = c['name'];
    if (typeof n !== 'string' || !dns1123Label.test(n)) causes.push({ reason: n === undefined ? 'FieldValueRequired' : 'FieldValueInvalid', message: n === undefined ? 'Required value' : `Invalid value: ${JSON.stringify(n)}: must be a DNS label`, field: `${f}.name` });
    else if (names.has(n)) causes.push({ reason: 'FieldValueDuplicate', message: `Duplicate value: "${n}"`, field: `${f}.name` });
    else names.add(n);
    if (typeof c['image'] !== 'string' || c['image'] === '') causes.push({ reason: 'FieldValueRequired', message: 'Required value', field: `${f}.image` });
    if (Array.isArray(c['ports'])) c['ports'].forEach((p, j) => {
      if (isObject(p) && !validPort(p['containerPort'])) causes.push({ reason: 'FieldValueInvalid', message: `Invalid value: ${JSON.stringify(p['containerPort'] ?? null)}: must be between 1 and 65535, inclusive`, field: `${f}.ports[${j}].containerPort` });
    });
  });
  return causes;
}

function defaultPodSpec(spec: JsonObject): void {
  spec['restartPolicy'] ??= 'Always';
  spec['dnsPolicy'] ??= 'ClusterFirst';
  spec['terminationGracePeriodSeconds'] ??= 30;
  spec['schedulerName'] ??= 'default-scheduler';
  spec['serviceAccountName'] ??= (spec['serviceAccount'] as Json) ?? 'default';
  spec['securityContext'] ??= {};
  if (Array.isArray(spec['containers']))
    spec['containers'] = spec['containers'].map((c) => {
      if (!isObject(c)) return c;
      const ports = Array.isArray(c['ports']) ? c['ports'].map((p) => (isObject(p) ? { ...p, protocol: p['protocol'] ?? 'TCP' } : p)) : undefined;
      return { ...c, terminationMessagePath: c['terminationMessagePath'] ?? '/dev/termination-log', imagePullPolicy: c['imagePullPolicy'] ?? 'IfNotPresent', ...(ports ? { ports } : {}) };
    });
}

function selectorCauses(spec: JsonObject, kind: string): StatusCause[] {
  const sel = spec['selector'];
  if (!isObject(sel) || (!isObject(sel['matchLabels']) && !Array.isArray(sel['matchExpressions']))) return [{ reason: 'FieldValueRequired', message: 'Required value', field: 'spec.selector' }];
  const tpl = spec['template'];
  const labels = isObject(tpl) && isObject(tpl['metadata']) && isObject(tpl['metadata']['labels']) ? tpl['metadata']['labels'] : {};
  const causes: StatusCause[] = [];
  if (isObject(sel['matchLabels']))
    for (const [k, v] of Object.entries(sel['matchLabels']))
      if (labels[k] !== v) {
        causes.push({ reason: 'FieldValueInvalid', message: `Invalid value: ${JSON.stringify(labels)}: \`selector\` does not match template \`labels\``, field: 'spec.template.metadata.labels' });
        break;
      }
  if (!isObject(tpl) || !isObject(tpl['spec'])) causes.push({ reason: 'FieldValueRequired', message: `Required value: ${kind} needs a pod template`, field: 'spec.template.spec' });
  else causes.push(...containersCauses(tpl['spec'], 'spec.template.spec'));
  return causes;
}

function b64Causes(data: Json | undefined, field: string): StatusCause[] {
  if (data === undefined || data === null) return [];
  if (!isObject(data)) return [{ reason: 'FieldValueInvalid', message: 'Invalid value: must be a map', field }];
  const causes: StatusCause[] = [];
  for (const [k, v] of Object.entries(data)) {
    if (!/^[-._a-zA-Z0-9]+$/.test(k)) causes.push({ reason: 'FieldValueInvalid', message: `Invalid value: "${k}": a valid config key must consist of alphanumeric characters, '-', '_' or '.'`, field });
    if (typeof v !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(v) || v.length % 4 !== 0) causes.push({ reason: 'FieldValueInvalid', message: `Invalid value: illegal base64 data for key "${k}"`, field: `${field}[${k}]` });
  }
  return causes;
}

/**
 * Defaults and validates an object of a built-in type in place (the request body, already a private copy).
 * Services are handled by admitService (they need the allocators).
 */
export function admitBuiltin(def: ResourceDef, obj: Obj, prev: Obj | undefined): void {
  const causes: StatusCause[] = labelCauses(obj.metadata);
  const spec = isObject(obj['spec'] as Json) ? (obj['spec'] as JsonObject) : undefined;
  switch (`${def.group}/${def.resource}`) {
    case '/namespaces': {
      obj['spec'] = { finalizers: ['kubernetes'], ...(spec ?? {}) };
      if (!prev) obj['status'] = { phase: 'Active' };
      const labels = { ...((obj.metadata['labels'] as Record<string, string> | undefined) ?? {}) };
      labels['kubernetes.io/metadata.name'] = obj.metadata.name;
      obj.metadata['labels'] = labels;
      break;
    }
    case '/pods': {
      if (!spec) causes.push({ reason: 'FieldValueRequired', message: 'Required value', field: 'spec' });
      else {
        causes.push(...containersCauses(spec, 'spec'));
        defaultPodSpec(spec);
      }
      if (!prev && !isObject(obj['status'] as Json)) obj['status'] = { phase: 'Pending', qosClass: 'BestEffort' };
      break;
    }
    case '/secrets': {
      const sd = obj['stringData'];
      if (isObject(sd as Json)) {
        const data = { ...((obj['data'] as JsonObject | undefined) ?? {}) };
        for (const [k, v] of Object.entries(sd as JsonObject)) data[k] = Buffer.from(String(v)).toString('base64');
        obj['data'] = data;
      }
      delete obj['stringData'];
      obj['type'] ??= 'Opaque';
      if (prev && prev['type'] !== obj['type']) causes.push({ reason: 'FieldValueInvalid', message: `Invalid value: ${JSON.stringify(obj['type'])}: field is immutable`, field: 'type' });
      if (prev && prev['immutable'] === true && (JSON.stringify(prev['data'] ?? null) !== JSON.stringify(obj['data'] ?? null) || obj['immutable'] !== true))
        causes.push({ reason: 'FieldValueForbidden', message: 'Forbidden: field is immutable when `immutable` is set', field: 'data' });
      causes.push(...b64Causes(obj['data'] as Json | undefined, 'data'));
      break;
    }
    case '/configmaps': {
      if (prev && prev['immutable'] === true && (JSON.stringify(prev['data'] ?? null) !== JSON.stringify(obj['data'] ?? null) || JSON.stringify(prev['binaryData'] ?? null) !== JSON.stringify(obj['binaryData'] ?? null) || obj['immutable'] !== true))
        causes.push({ reason: 'FieldValueForbidden', message: 'Forbidden: field is immutable when `immutable` is set', field: 'data' });
      const data = obj['data'];
      if (data !== undefined && data !== null && (!isObject(data as Json) || Object.values(data as JsonObject).some((v) => typeof v !== 'string')))
        causes.push({ reason: 'FieldValueInvalid', message: 'Invalid value: data must be a map of strings', field: 'data' });
      causes.push(...b64Causes(obj['binaryData'] as Json | undefined, 'binaryData'));
      break;
    }
    case 'discovery.k8s.io/endpointslices': {
      const at = obj['addressType'];
      if (!['IPv4', 'IPv6', 'FQDN'].includes(at as string)) causes.push({ reason: at === undefined ? 'FieldValueRequired' : 'FieldValueNotSupported', message: at === undefined ? 'Required value' : `Unsupported value: ${JSON.stringify(at)}: supported values: "FQDN", "IPv4", "IPv6"`, field: 'addressType' });
      const eps = obj['endpoints'];
      if (eps !== undefined && eps !== null && !Array.isArray(eps)) causes.push({ reason: 'FieldValueInvalid', message: 'Invalid value: must be a list', field: 'endpoints' });
      if (Array.isArray(eps)) (eps as Json[]).forEach((e, i) => {
        if (!isObject(e) || !Array.isArray(e['addresses']) || e['addresses'].length === 0) causes.push({ reason: 'FieldValueRequired', message: 'Required value: must contain at least 1 address', field: `endpoints[${i}].addresses` });
      });
      if (!Array.isArray(eps)) obj['endpoints'] = [];
      const ports = obj['ports'];
      if (Array.isArray(ports)) (ports as Json[]).forEach((p, i) => {
        if (isObject(p) && p['port'] !== undefined && p['port'] !== null && !validPort(p['port'])) causes.push({ reason: 'FieldValueInvalid', message: `Invalid value: ${JSON.stringify(p['port'])}: must be between 1 and 65535, inclusive`, field: `ports[${i}].port` });
      });
      break;
    }
    case '/endpoints': {
      const subsets = obj['subsets'];
      if (Array.isArray(subsets)) (subsets as Json[]).forEach((s, i) => {
        if (!isObject(s)) return;
        for (const f of ['addresses', 'notReadyAddresses'])
          if (Array.isArray(s[f])) (s[f] as Json[]).forEach((a, j) => {
            if (!isObject(a) || typeof a['ip'] !== 'string') causes.push({ reason: 'FieldValueRequired', message: 'Required value', field: `subsets[${i}].${f}[${j}].ip` });
          });
        if (Array.isArray(s['ports'])) (s['ports'] as Json[]).forEach((p, j) => {
          if (!isObject(p) || !validPort(p['port'])) causes.push({ reason: 'FieldValueInvalid', message: 'Invalid value: must be between 1 and 65535, inclusive', field: `subsets[${i}].ports[${j}].port` });
        });
      });
      break;
    }
    case 'apps/deployments':
    case 'apps/statefulsets':
    case 'apps/replicasets':
    case 'apps/daemonsets': {
      if (!spec) causes.push({ reason: 'FieldValueRequired', message: 'Required value', field: 'spec' });
      else {
        causes.push(...selectorCauses(spec, def.kind));
        if (def.resource !== 'daemonsets') {
          spec['replicas'] ??= 1;
          if (typeof spec['replicas'] !== 'number' || spec['replicas'] < 0) causes.push({ reason: 'FieldValueInvalid', message: 'Invalid value: must be greater than or equal to 0', field: 'spec.replicas' });
        }
        spec['revisionHistoryLimit'] ??= 10;
        if (def.resource === 'deployments') {
          spec['strategy'] ??= { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' } };
          spec['progressDeadlineSeconds'] ??= 600;
        }
        if (def.resource === 'statefulsets') {
          spec['podManagementPolicy'] ??= 'OrderedReady';
          spec['updateStrategy'] ??= { type: 'RollingUpdate', rollingUpdate: { partition: 0 } };
        }
        const tpl = spec['template'];
        if (isObject(tpl) && isObject(tpl['spec'])) defaultPodSpec(tpl['spec']);
      }
      if (!isObject(obj['status'] as Json)) obj['status'] = {};
      break;
    }
    case 'coordination.k8s.io/leases': {
      const d = spec?.['leaseDurationSeconds'];
      if (d !== undefined && (typeof d !== 'number' || d <= 0)) causes.push({ reason: 'FieldValueInvalid', message: 'Invalid value: must be greater than 0', field: 'spec.leaseDurationSeconds' });
      break;
    }
    default:
      break;
  }
  if (causes.length) throw invalid(def.kind, def.group, obj.metadata.name, causes);
}

// --- CRDs and custom resources ---

export interface CrdVersion {
  name: string;
  served: boolean;
  storage: boolean;
  schema?: JsonObject;
  status: boolean;
  /** additionalPrinterColumns (kubectl get columns). */
  columns: PrinterColumn[];
}

export interface PrinterColumn {
  name: string;
  type: string;
  jsonPath: string;
  priority: number;
}

export interface CrdInfo {
  group: string;
  plural: string;
  singular: string;
  kind: string;
  listKind: string;
  shortNames: string[];
  categories: string[];
  namespaced: boolean;
  versions: CrdVersion[];
}

/** Validates a CRD object and returns what the registry needs; throws 422 with field causes. */
export function parseCrd(obj: Obj): CrdInfo {
  const causes: StatusCause[] = [];
  const spec = isObject(obj['spec'] as Json) ? (obj['spec'] as JsonObject) : {};
  const names = isObject(spec['names']) ? spec['names'] : {};
  const group = spec['group'];
  const plural = names['plural'];
  const kind = names['kind'];
  if (typeof group !== 'string' || !dns1123Subdomain.test(group) || !group.includes('.')) causes.push({ reason: 'FieldValueInvalid', message: `Invalid value: ${JSON.stringify(group ?? '')}: should be a domain with at least one dot`, field: 'spec.group' });
  if (typeof plural !== 'string' || !dns1123Label.test(plural)) causes.push({ reason: 'FieldValueRequired', message: 'Required value', field: 'spec.names.plural' });
  if (typeof kind !== 'string' || !/^[A-Z][A-Za-z0-9]*$/.test(kind)) causes.push({ reason: 'FieldValueRequired', message: 'Required value', field: 'spec.names.kind' });
  const scope = spec['scope'];
  if (scope !== 'Namespaced' && scope !== 'Cluster') causes.push({ reason: 'FieldValueNotSupported', message: `Unsupported value: ${JSON.stringify(scope ?? '')}: supported values: "Cluster", "Namespaced"`, field: 'spec.scope' });
  if (typeof plural === 'string' && typeof group === 'string' && obj.metadata.name !== `${plural}.${group}`)
    causes.push({ reason: 'FieldValueInvalid', message: `Invalid value: "${obj.metadata.name}": must be spec.names.plural+"."+spec.group`, field: 'metadata.name' });
  const versions: CrdVersion[] = [];
  const vs = spec['versions'];
  if (!Array.isArray(vs) || vs.length === 0) causes.push({ reason: 'FieldValueRequired', message: 'Required value: must have exactly one version marked as storage version', field: 'spec.versions' });
  else {
    vs.forEach((v, i) => {
      if (!isObject(v) || typeof v['name'] !== 'string' || !dns1123Label.test(v['name'])) {
        causes.push({ reason: 'FieldValueInvalid', message: 'Invalid value: version name must be a DNS label', field: `spec.versions[${i}].name` });
        return;
      }
      const schemaWrap = v['schema'];
      const schema = isObject(schemaWrap) && isObject(schemaWrap['openAPIV3Schema']) ? schemaWrap['openAPIV3Schema'] : undefined;
      if (!schema) causes.push({ reason: 'FieldValueRequired', message: 'Required value: schemas are required', field: `spec.versions[${i}].schema.openAPIV3Schema` });
      else {
        try {
          compileSchema(schema);
        } catch (e) {
          causes.push({ reason: 'FieldValueInvalid', message: `Invalid value: ${e instanceof Error ? e.message : String(e)}`, field: `spec.versions[${i}].schema.openAPIV3Schema` });
        }
      }
      const sub = v['subresources'];
      const cols = Array.isArray(v['additionalPrinterColumns']) ? v['additionalPrinterColumns'] : [];
      const columns: PrinterColumn[] = cols.filter(isObject).filter((c) => typeof c['name'] === 'string' && typeof c['jsonPath'] === 'string').map((c) => ({ name: c['name'] as string, type: typeof c['type'] === 'string' ? c['type'] : 'string', jsonPath: c['jsonPath'] as string, priority: typeof c['priority'] === 'number' ? c['priority'] : 0 }));
      versions.push({ name: v['name'], served: v['served'] !== false, storage: v['storage'] === true, ...(schema ? { schema } : {}), status: isObject(sub) && isObject(sub['status']), columns });
    });
    if (versions.filter((v) => v.storage).length !== 1) causes.push({ reason: 'FieldValueInvalid', message: 'Invalid value: must have exactly one version marked as storage version', field: 'spec.versions' });
  }
  if (causes.length) throw invalid('CustomResourceDefinition', 'apiextensions.k8s.io', obj.metadata.name, causes);
  const strArr = (x: Json | undefined): string[] => (Array.isArray(x) ? x.filter((s): s is string => typeof s === 'string') : []);
  return {
    group: group as string,
    plural: plural as string,
    singular: typeof names['singular'] === 'string' ? names['singular'] : (kind as string).toLowerCase(),
    kind: kind as string,
    listKind: typeof names['listKind'] === 'string' ? names['listKind'] : `${kind as string}List`,
    shortNames: strArr(names['shortNames']),
    categories: strArr(names['categories']),
    namespaced: scope === 'Namespaced',
    versions,
  };
}

const ajv = new Ajv({ strict: false, allErrors: true, useDefaults: true, validateFormats: false, coerceTypes: false });
const compiled = new WeakMap<object, ValidateFunction>();

/** The CR schema minus the metadata part (the server owns metadata validation). */
function compileSchema(schema: JsonObject): ValidateFunction {
  let fn = compiled.get(schema);
  if (fn) return fn;
  const s = structuredClone(schema);
  if (isObject(s['properties'])) {
    delete s['properties']['metadata'];
    delete s['properties']['apiVersion'];
    delete s['properties']['kind'];
  }
  fn = ajv.compile(s);
  compiled.set(schema, fn);
  return fn;
}

function fieldOf(e: ErrorObject): string {
  const base = e.instancePath.replace(/^\//, '').split('/').filter((x) => x !== '').join('.');
  if (e.keyword === 'required') {
    const missing = (e.params as { missingProperty: string }).missingProperty;
    return base ? `${base}.${missing}` : missing;
  }
  return base;
}

/** Removes fields the schema does not declare (as Kubernetes prunes), unless it preserves unknown fields. */
function prune(schema: Json | undefined, value: Json, path: string, pruned: string[]): void {
  if (!isObject(schema)) return;
  if (schema['x-kubernetes-preserve-unknown-fields'] === true) return;
  if (isObject(value)) {
    const props = isObject(schema['properties']) ? schema['properties'] : undefined;
    const addl = schema['additionalProperties'];
    for (const k of Object.keys(value)) {
      const p = path ? `${path}.${k}` : k;
      if (props && k in props) prune(props[k], value[k], p, pruned);
      else if (isObject(addl)) prune(addl, value[k], p, pruned);
      else if (addl !== true && (props || schema['type'] === 'object')) {
        delete value[k];
        pruned.push(p);
      }
    }
  } else if (Array.isArray(value) && isObject(schema['items'])) {
    value.forEach((item, i) => prune(schema['items'], item, `${path}[${i}]`, pruned));
  }
}

/**
 * Prunes and validates a custom resource against its version's schema; throws 422 with field causes.
 * Returns the paths of unknown fields it pruned (for fieldValidation=Strict/Warn).
 */
export function admitCustom(kind: string, group: string, schema: JsonObject | undefined, obj: Obj): string[] {
  const causes = labelCauses(obj.metadata);
  const pruned: string[] = [];
  if (schema) {
    const body: JsonObject = {};
    for (const [k, v] of Object.entries(obj)) if (k !== 'apiVersion' && k !== 'kind' && k !== 'metadata') body[k] = v as Json;
    const props = isObject(schema['properties']) ? schema['properties'] : {};
    prune({ ...schema, properties: { ...props, apiVersion: {}, kind: {}, metadata: {} } }, body, '', pruned);
    const fn = compileSchema(schema);
    if (!fn(body)) {
      for (const e of fn.errors ?? []) {
        const field = fieldOf(e);
        if (e.keyword === 'required') causes.push({ reason: 'FieldValueRequired', message: 'Required value', field });
        else {
          const bad = JSON.stringify(e.instancePath.split('/').slice(1).reduce<Json | undefined>((cur, p) => (isObject(cur) ? cur[p] : Array.isArray(cur) ? cur[Number(p)] : undefined), body) ?? null);
          const reason = e.keyword === 'enum' ? 'FieldValueNotSupported' : 'FieldValueInvalid';
          causes.push({ reason, message: `Invalid value: ${bad}: ${field || '<root>'} in body ${e.message ?? 'is invalid'}`, field: field || '<root>' });
        }
      }
    }
    for (const k of Object.keys(obj)) if (k !== 'apiVersion' && k !== 'kind' && k !== 'metadata' && !(k in body)) delete obj[k];
    for (const [k, v] of Object.entries(body)) obj[k] = v;
  }
  if (causes.length) throw invalid(kind, group, obj.metadata.name, causes);
  return pruned;
}
