// Per-type defaulting and validation of built-in kinds (what kube-apiserver's registry strategies do):
// Pod/Deployment/StatefulSet basics, Secret and ConfigMap data, EndpointSlices, Endpoints, Leases.
// Services: admission-service.ts; CRDs and custom resources: crd.ts.
import { invalid, type StatusCause } from './errors.js';
import { isObject, type Json, type JsonObject } from './patch.js';
import type { Obj } from './store.js';
import type { ResourceDef } from './resources.js';
import { dns1123Label, labelCauses, validPort } from './validation.js';

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

/** One kind's defaulting and checks: fills `causes`, changes `obj` in place. */
type KindAdmission = (obj: Obj, prev: Obj | undefined, causes: StatusCause[], def: ResourceDef) => void;

const specOf = (obj: Obj): JsonObject | undefined => (isObject(obj['spec'] as Json) ? (obj['spec'] as JsonObject) : undefined);

function admitNamespace(obj: Obj, prev: Obj | undefined): void {
  obj['spec'] = { finalizers: ['kubernetes'], ...(specOf(obj) ?? {}) };
  if (!prev) obj['status'] = { phase: 'Active' };
  const labels = { ...((obj.metadata['labels'] as Record<string, string> | undefined) ?? {}) };
  labels['kubernetes.io/metadata.name'] = obj.metadata.name;
  obj.metadata['labels'] = labels;
}

function admitPod(obj: Obj, prev: Obj | undefined, causes: StatusCause[]): void {
  const spec = specOf(obj);
  if (!spec) causes.push({ reason: 'FieldValueRequired', message: 'Required value', field: 'spec' });
  else {
    causes.push(...containersCauses(spec, 'spec'));
    defaultPodSpec(spec);
  }
  if (!prev && !isObject(obj['status'] as Json)) obj['status'] = { phase: 'Pending', qosClass: 'BestEffort' };
}

function admitSecret(obj: Obj, prev: Obj | undefined, causes: StatusCause[]): void {
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
}

function admitConfigMap(obj: Obj, prev: Obj | undefined, causes: StatusCause[]): void {
  if (prev && prev['immutable'] === true && (JSON.stringify(prev['data'] ?? null) !== JSON.stringify(obj['data'] ?? null) || JSON.stringify(prev['binaryData'] ?? null) !== JSON.stringify(obj['binaryData'] ?? null) || obj['immutable'] !== true))
    causes.push({ reason: 'FieldValueForbidden', message: 'Forbidden: field is immutable when `immutable` is set', field: 'data' });
  const data = obj['data'];
  if (data !== undefined && data !== null && (!isObject(data as Json) || Object.values(data as JsonObject).some((v) => typeof v !== 'string')))
    causes.push({ reason: 'FieldValueInvalid', message: 'Invalid value: data must be a map of strings', field: 'data' });
  causes.push(...b64Causes(obj['binaryData'] as Json | undefined, 'binaryData'));
}

function admitEndpointSlice(obj: Obj, _prev: Obj | undefined, causes: StatusCause[]): void {
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
}

function admitEndpoints(obj: Obj, _prev: Obj | undefined, causes: StatusCause[]): void {
  const subsets = obj['subsets'];
  if (!Array.isArray(subsets)) return;
  (subsets as Json[]).forEach((s, i) => {
    if (!isObject(s)) return;
    for (const f of ['addresses', 'notReadyAddresses'])
      if (Array.isArray(s[f])) (s[f] as Json[]).forEach((a, j) => {
        if (!isObject(a) || typeof a['ip'] !== 'string') causes.push({ reason: 'FieldValueRequired', message: 'Required value', field: `subsets[${i}].${f}[${j}].ip` });
      });
    if (Array.isArray(s['ports'])) (s['ports'] as Json[]).forEach((p, j) => {
      if (!isObject(p) || !validPort(p['port'])) causes.push({ reason: 'FieldValueInvalid', message: 'Invalid value: must be between 1 and 65535, inclusive', field: `subsets[${i}].ports[${j}].port` });
    });
  });
}

function defaultWorkloadSpec(spec: JsonObject, resource: string): void {
  // A ReplicaSet has no revisionHistoryLimit (its owner Deployment keeps the history).
  if (resource !== 'replicasets') spec['revisionHistoryLimit'] ??= 10;
  if (resource === 'deployments') {
    // `strategy: {}` (what kubectl create deployment sends) is defaulted as kube-apiserver does.
    const st = isObject(spec['strategy']) ? spec['strategy'] : {};
    if (st['type'] === undefined || st['type'] === 'RollingUpdate') spec['strategy'] = { ...st, type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%', ...(isObject(st['rollingUpdate']) ? st['rollingUpdate'] : {}) } };
    spec['progressDeadlineSeconds'] ??= 600;
  }
  if (resource === 'statefulsets') {
    spec['podManagementPolicy'] ??= 'OrderedReady';
    spec['updateStrategy'] ??= { type: 'RollingUpdate', rollingUpdate: { partition: 0 } };
  }
}

function admitWorkload(obj: Obj, _prev: Obj | undefined, causes: StatusCause[], def: ResourceDef): void {
  const spec = specOf(obj);
  if (!spec) causes.push({ reason: 'FieldValueRequired', message: 'Required value', field: 'spec' });
  else {
    causes.push(...selectorCauses(spec, def.kind));
    if (def.resource !== 'daemonsets') {
      spec['replicas'] ??= 1;
      if (typeof spec['replicas'] !== 'number' || spec['replicas'] < 0) causes.push({ reason: 'FieldValueInvalid', message: 'Invalid value: must be greater than or equal to 0', field: 'spec.replicas' });
    }
    defaultWorkloadSpec(spec, def.resource);
    const tpl = spec['template'];
    if (isObject(tpl) && isObject(tpl['spec'])) defaultPodSpec(tpl['spec']);
  }
  if (!isObject(obj['status'] as Json)) obj['status'] = {};
}

/** batch/v1 Job: the selector and pod labels kube-apiserver generates from the Job's uid, and defaults. */
function admitJob(obj: Obj, prev: Obj | undefined, causes: StatusCause[]): void {
  const spec = specOf(obj);
  if (!spec) return void causes.push({ reason: 'FieldValueRequired', message: 'Required value', field: 'spec' });
  const tpl = isObject(spec['template']) ? spec['template'] : undefined;
  const podSpec = tpl && isObject(tpl['spec']) ? tpl['spec'] : undefined;
  if (!tpl || !podSpec) return void causes.push({ reason: 'FieldValueRequired', message: 'Required value: Job needs a pod template', field: 'spec.template.spec' });
  causes.push(...containersCauses(podSpec, 'spec.template.spec'));
  defaultPodSpec(podSpec);
  const rp = podSpec['restartPolicy'];
  if (rp === 'Always') podSpec['restartPolicy'] = 'Never';
  if (rp !== undefined && rp !== 'Always' && rp !== 'Never' && rp !== 'OnFailure') causes.push({ reason: 'FieldValueNotSupported', message: `Unsupported value: ${JSON.stringify(rp)}: supported values: "OnFailure", "Never"`, field: 'spec.template.spec.restartPolicy' });
  spec['completions'] ??= 1;
  spec['parallelism'] ??= 1;
  spec['backoffLimit'] ??= 6;
  spec['completionMode'] ??= 'NonIndexed';
  spec['suspend'] ??= false;
  if (prev || spec['manualSelector'] === true) return;
  const uid = obj.metadata.uid;
  const name = obj.metadata.name;
  spec['selector'] = { matchLabels: { 'batch.kubernetes.io/controller-uid': uid } };
  const meta = isObject(tpl['metadata']) ? tpl['metadata'] : {};
  const labels = isObject(meta['labels']) ? meta['labels'] : {};
  tpl['metadata'] = { ...meta, labels: { ...labels, 'batch.kubernetes.io/controller-uid': uid, 'batch.kubernetes.io/job-name': name, 'controller-uid': uid, 'job-name': name } };
  if (!isObject(obj['status'] as Json)) obj['status'] = {};
}

function admitLease(obj: Obj, _prev: Obj | undefined, causes: StatusCause[]): void {
  const d = specOf(obj)?.['leaseDurationSeconds'];
  if (d !== undefined && (typeof d !== 'number' || d <= 0)) causes.push({ reason: 'FieldValueInvalid', message: 'Invalid value: must be greater than 0', field: 'spec.leaseDurationSeconds' });
}

/** By `<group>/<resource>`. */
const byKind: Record<string, KindAdmission> = {
  '/namespaces': admitNamespace,
  '/pods': admitPod,
  '/secrets': admitSecret,
  '/configmaps': admitConfigMap,
  'discovery.k8s.io/endpointslices': admitEndpointSlice,
  '/endpoints': admitEndpoints,
  'apps/deployments': admitWorkload,
  'apps/statefulsets': admitWorkload,
  'apps/replicasets': admitWorkload,
  'apps/daemonsets': admitWorkload,
  'coordination.k8s.io/leases': admitLease,
  'batch/jobs': admitJob,
};

/**
 * Defaults and validates an object of a built-in type in place (the request body, already a private copy).
 * Services are handled by admitService (they need the allocators).
 */
export function admitBuiltin(def: ResourceDef, obj: Obj, prev: Obj | undefined): void {
  const causes: StatusCause[] = labelCauses(obj.metadata);
  byKind[`${def.group}/${def.resource}`]?.(obj, prev, causes, def);
  if (causes.length) throw invalid(def.kind, def.group, obj.metadata.name, causes);
}
