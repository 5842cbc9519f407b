// Decoding of `application/vnd.kubernetes.protobuf` request bodies. kubectl's typed clients (create
// namespace/configmap/secret/serviceaccount/role…, create deployment|service|job|pdb, create token, auth
// can-i, auth whoami) send protobuf
// and do not fall back to JSON on 415, so the server reads the kinds those commands send. Responses
// stay JSON (kubectl's Accept always lists application/json too).
import { ApiError } from './errors.js';
import type { Json, JsonObject } from './patch.js';

/**
 * `intp`: an optional (pointer) int whose zero is meaningful (`replicas: 0`), kept where `int` drops zeros.
 * `boolz`: a plain Go bool, which JSON leaves out when false (`bool` is for pointers, false kept).
 */
type Kind = 'string' | 'bytes' | 'int' | 'intp' | 'bool' | 'boolz' | 'time' | 'map' | 'mapBytes' | 'msg' | 'intOrString' | 'quantityMap';
type Field = readonly [name: string, kind: Kind, sub?: string, repeated?: boolean];
type Schema = Record<number, Field>;

const s = (name: string): Field => [name, 'string'];
const rs = (name: string): Field => [name, 'string', undefined, true];
const m = (name: string, sub: string): Field => [name, 'msg', sub];
const rm = (name: string, sub: string): Field => [name, 'msg', sub, true];
const i = (name: string): Field => [name, 'int'];
const ip = (name: string): Field => [name, 'intp'];
const b = (name: string): Field => [name, 'boolz'];
const bp = (name: string): Field => [name, 'bool'];
const ios = (name: string): Field => [name, 'intOrString'];

// Field numbers from k8s.io/api and k8s.io/apimachinery generated.proto.
const schemas: Record<string, Schema> = {
  ObjectMeta: {
    1: s('name'), 2: s('generateName'), 3: s('namespace'), 4: s('selfLink'), 5: s('uid'), 6: s('resourceVersion'),
    7: ['generation', 'int'], 8: ['creationTimestamp', 'time'], 9: ['deletionTimestamp', 'time'], 10: ['deletionGracePeriodSeconds', 'int'],
    11: ['labels', 'map'], 12: ['annotations', 'map'], 13: rm('ownerReferences', 'OwnerReference'), 14: rs('finalizers'),
  },
  OwnerReference: { 1: s('kind'), 3: s('name'), 4: s('uid'), 5: s('apiVersion'), 6: ['controller', 'bool'], 7: ['blockOwnerDeletion', 'bool'] },
  LabelSelector: { 1: ['matchLabels', 'map'], 2: rm('matchExpressions', 'LabelSelectorRequirement') },
  LabelSelectorRequirement: { 1: s('key'), 2: s('operator'), 3: rs('values') },
  ObjectReference: { 1: s('kind'), 2: s('namespace'), 3: s('name'), 4: s('uid'), 5: s('apiVersion'), 6: s('resourceVersion'), 7: s('fieldPath') },
  LocalObjectReference: { 1: s('name') },
  Namespace: { 1: m('metadata', 'ObjectMeta'), 2: m('spec', 'NamespaceSpec'), 3: m('status', 'Empty') },
  NamespaceSpec: { 1: rs('finalizers') },
  ConfigMap: { 1: m('metadata', 'ObjectMeta'), 2: ['data', 'map'], 3: ['binaryData', 'mapBytes'], 4: ['immutable', 'bool'] },
  Secret: { 1: m('metadata', 'ObjectMeta'), 2: ['data', 'mapBytes'], 3: s('type'), 4: ['stringData', 'map'], 5: ['immutable', 'bool'] },
  ServiceAccount: { 1: m('metadata', 'ObjectMeta'), 2: rm('secrets', 'ObjectReference'), 3: rm('imagePullSecrets', 'LocalObjectReference'), 4: ['automountServiceAccountToken', 'bool'] },
  TokenRequest: { 1: m('metadata', 'ObjectMeta'), 2: m('spec', 'TokenRequestSpec'), 3: m('status', 'Empty') },
  TokenRequestSpec: { 1: rs('audiences'), 3: m('boundObjectRef', 'BoundObjectReference'), 4: ['expirationSeconds', 'int'] },
  BoundObjectReference: { 1: s('kind'), 2: s('apiVersion'), 3: s('name'), 4: s('uid') },
  TokenReview: { 1: m('metadata', 'ObjectMeta'), 2: m('spec', 'TokenReviewSpec'), 3: m('status', 'Empty') },
  TokenReviewSpec: { 1: s('token'), 2: rs('audiences') },
  SelfSubjectReview: { 1: m('metadata', 'ObjectMeta'), 2: m('status', 'Empty') },
  SelfSubjectAccessReview: { 1: m('metadata', 'ObjectMeta'), 2: m('spec', 'SelfSubjectAccessReviewSpec'), 3: m('status', 'Empty') },
  SelfSubjectAccessReviewSpec: { 1: m('resourceAttributes', 'ResourceAttributes'), 2: m('nonResourceAttributes', 'NonResourceAttributes') },
  ResourceAttributes: { 1: s('namespace'), 2: s('verb'), 3: s('group'), 4: s('version'), 5: s('resource'), 6: s('subresource'), 7: s('name') },
  NonResourceAttributes: { 1: s('path'), 2: s('verb') },
  SubjectAccessReview: { 1: m('metadata', 'ObjectMeta'), 2: m('spec', 'SubjectAccessReviewSpec'), 3: m('status', 'Empty') },
  SubjectAccessReviewSpec: { 1: m('resourceAttributes', 'ResourceAttributes'), 2: m('nonResourceAttributes', 'NonResourceAttributes'), 3: s('user'), 4: rs('groups'), 6: s('uid') },
  SelfSubjectRulesReview: { 1: m('metadata', 'ObjectMeta'), 2: m('spec', 'SelfSubjectRulesReviewSpec'), 3: m('status', 'Empty') },
  SelfSubjectRulesReviewSpec: { 1: s('namespace') },
  PolicyRule: { 1: rs('verbs'), 2: rs('apiGroups'), 3: rs('resources'), 4: rs('resourceNames'), 5: rs('nonResourceURLs') },
  Role: { 1: m('metadata', 'ObjectMeta'), 2: rm('rules', 'PolicyRule') },
  ClusterRole: { 1: m('metadata', 'ObjectMeta'), 2: rm('rules', 'PolicyRule'), 3: m('aggregationRule', 'AggregationRule') },
  AggregationRule: { 1: rm('clusterRoleSelectors', 'LabelSelector') },
  Subject: { 1: s('kind'), 2: s('apiGroup'), 3: s('name'), 4: s('namespace') },
  RoleRef: { 1: s('apiGroup'), 2: s('kind'), 3: s('name') },
  RoleBinding: { 1: m('metadata', 'ObjectMeta'), 2: rm('subjects', 'Subject'), 3: m('roleRef', 'RoleRef') },
  ClusterRoleBinding: { 1: m('metadata', 'ObjectMeta'), 2: rm('subjects', 'Subject'), 3: m('roleRef', 'RoleRef') },
  // Workloads (kubectl create deployment|job|service|poddisruptionbudget, kubectl run).
  Deployment: { 1: m('metadata', 'ObjectMeta'), 2: m('spec', 'DeploymentSpec'), 3: m('status', 'Empty') },
  DeploymentSpec: { 1: ip('replicas'), 2: m('selector', 'LabelSelector'), 3: m('template', 'PodTemplateSpec'), 4: m('strategy', 'DeploymentStrategy'), 5: i('minReadySeconds'), 6: ip('revisionHistoryLimit'), 7: b('paused'), 9: ip('progressDeadlineSeconds') },
  DeploymentStrategy: { 1: s('type'), 2: m('rollingUpdate', 'RollingUpdateDeployment') },
  RollingUpdateDeployment: { 1: ios('maxUnavailable'), 2: ios('maxSurge') },
  Job: { 1: m('metadata', 'ObjectMeta'), 2: m('spec', 'JobSpec'), 3: m('status', 'Empty') },
  JobSpec: { 1: ip('parallelism'), 2: ip('completions'), 3: ip('activeDeadlineSeconds'), 4: m('selector', 'LabelSelector'), 5: b('manualSelector'), 6: m('template', 'PodTemplateSpec'), 7: ip('backoffLimit'), 8: ip('ttlSecondsAfterFinished'), 9: s('completionMode'), 10: b('suspend') },
  PodDisruptionBudget: { 1: m('metadata', 'ObjectMeta'), 2: m('spec', 'PodDisruptionBudgetSpec'), 3: m('status', 'Empty') },
  PodDisruptionBudgetSpec: { 1: ios('minAvailable'), 2: m('selector', 'LabelSelector'), 3: ios('maxUnavailable'), 4: s('unhealthyPodEvictionPolicy') },
  Pod: { 1: m('metadata', 'ObjectMeta'), 2: m('spec', 'PodSpec'), 3: m('status', 'Empty') },
  PodTemplateSpec: { 1: m('metadata', 'ObjectMeta'), 2: m('spec', 'PodSpec') },
  PodSpec: {
    1: rm('volumes', 'Volume'), 2: rm('containers', 'Container'), 3: s('restartPolicy'), 4: ip('terminationGracePeriodSeconds'), 5: ip('activeDeadlineSeconds'),
    6: s('dnsPolicy'), 7: ['nodeSelector', 'map'], 8: s('serviceAccountName'), 9: s('serviceAccount'), 10: s('nodeName'), 11: b('hostNetwork'),
    14: m('securityContext', 'Empty'), 15: rm('imagePullSecrets', 'LocalObjectReference'), 16: s('hostname'), 17: s('subdomain'), 19: s('schedulerName'),
    20: rm('initContainers', 'Container'), 21: bp('automountServiceAccountToken'), 24: s('priorityClassName'), 30: bp('enableServiceLinks'),
  },
  Container: {
    1: s('name'), 2: s('image'), 3: rs('command'), 4: rs('args'), 5: s('workingDir'), 6: rm('ports', 'ContainerPort'), 7: rm('env', 'EnvVar'),
    8: m('resources', 'ResourceRequirements'), 9: rm('volumeMounts', 'VolumeMount'), 13: s('terminationMessagePath'), 14: s('imagePullPolicy'),
    16: b('stdin'), 17: b('stdinOnce'), 18: b('tty'), 20: s('terminationMessagePolicy'),
  },
  ContainerPort: { 1: s('name'), 2: i('hostPort'), 3: i('containerPort'), 4: s('protocol'), 5: s('hostIP') },
  EnvVar: { 1: s('name'), 2: s('value'), 3: m('valueFrom', 'EnvVarSource') },
  EnvVarSource: { 1: m('fieldRef', 'ObjectFieldSelector'), 3: m('configMapKeyRef', 'KeySelector'), 4: m('secretKeyRef', 'KeySelector') },
  ObjectFieldSelector: { 1: s('apiVersion'), 2: s('fieldPath') },
  KeySelector: { 1: m('__inline', 'LocalObjectReference'), 2: s('key'), 3: bp('optional') },
  ResourceRequirements: { 1: ['limits', 'quantityMap'], 2: ['requests', 'quantityMap'] },
  VolumeMount: { 1: s('name'), 2: b('readOnly'), 3: s('mountPath'), 4: s('subPath') },
  Volume: { 1: s('name') },
  Service: { 1: m('metadata', 'ObjectMeta'), 2: m('spec', 'ServiceSpec'), 3: m('status', 'Empty') },
  ServiceSpec: {
    1: rm('ports', 'ServicePort'), 2: ['selector', 'map'], 3: s('clusterIP'), 4: s('type'), 5: rs('externalIPs'), 7: s('sessionAffinity'),
    10: s('externalName'), 11: s('externalTrafficPolicy'), 13: b('publishNotReadyAddresses'), 18: rs('clusterIPs'),
  },
  ServicePort: { 1: s('name'), 2: s('protocol'), 3: i('port'), 4: ios('targetPort'), 5: i('nodePort'), 6: s('appProtocol') },
  IntOrString: { 1: i('type'), 2: i('intVal'), 3: s('strVal') },
  QuantityEntry: { 1: s('key'), 2: m('value', 'Quantity') },
  Quantity: { 1: s('string') },
  Time: { 1: ['seconds', 'int'], 2: ['nanos', 'int'] },
  MapEntry: { 1: s('key'), 2: s('value') },
  MapEntryBytes: { 1: s('key'), 2: ['value', 'bytes'] },
  Unknown: { 1: m('typeMeta', 'TypeMeta'), 2: ['raw', 'bytes'], 3: s('contentEncoding'), 4: s('contentType') },
  TypeMeta: { 1: s('apiVersion'), 2: s('kind') },
  Empty: {},
};

/** Kinds whose protobuf the server reads, by apiVersion/kind. */
const readable: Record<string, string> = {
  'v1/Namespace': 'Namespace',
  'v1/ConfigMap': 'ConfigMap',
  'v1/Secret': 'Secret',
  'v1/ServiceAccount': 'ServiceAccount',
  'authentication.k8s.io/v1/TokenRequest': 'TokenRequest',
  'authentication.k8s.io/v1/TokenReview': 'TokenReview',
  'authentication.k8s.io/v1/SelfSubjectReview': 'SelfSubjectReview',
  'authorization.k8s.io/v1/SelfSubjectAccessReview': 'SelfSubjectAccessReview',
  'authorization.k8s.io/v1/SubjectAccessReview': 'SubjectAccessReview',
  'authorization.k8s.io/v1/SelfSubjectRulesReview': 'SelfSubjectRulesReview',
  'rbac.authorization.k8s.io/v1/Role': 'Role',
  'rbac.authorization.k8s.io/v1/ClusterRole': 'ClusterRole',
  'rbac.authorization.k8s.io/v1/RoleBinding': 'RoleBinding',
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': 'ClusterRoleBinding',
  'apps/v1/Deployment': 'Deployment',
  'batch/v1/Job': 'Job',
  'policy/v1/PodDisruptionBudget': 'PodDisruptionBudget',
  'v1/Pod': 'Pod',
  'v1/Service': 'Service',
};

class Reader {
  pos = 0;
  constructor(readonly buf: Buffer, readonly end = buf.length) {}
  varint(): number {
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new Error('truncated varint');
      const b = this.buf[this.pos++];
      result += (b & 0x7f) * mul;
      if ((b & 0x80) === 0) return result;
      mul *= 128;
    }
    throw new Error('varint too long');
  }
  bytes(): Buffer {
    const len = this.varint();
    if (this.pos + len > this.end) throw new Error('truncated field');
    const out = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return out;
  }
  skip(wire: number): void {
    if (wire === 0) this.varint();
    else if (wire === 1) this.pos += 8;
    else if (wire === 2) this.bytes();
    else if (wire === 5) this.pos += 4;
    else throw new Error(`unsupported wire type ${wire}`);
  }
}

/** Proto maps arrive as repeated entries. */
function addEntry(out: JsonObject, name: string, key: string, value: Json): void {
  const cur = (out[name] as JsonObject | undefined) ?? {};
  cur[key] = value;
  out[name] = cur;
}

function decode(buf: Buffer, type: string): JsonObject {
  const schema = schemas[type];
  const out: JsonObject = {};
  const r = new Reader(buf);
  while (r.pos < r.end) {
    const tag = r.varint();
    const num = Math.floor(tag / 8);
    const wire = tag & 7;
    const f = schema[num];
    if (!f) {
      r.skip(wire);
      continue;
    }
    const [name, kind, sub, repeated] = f;
    let v: Json;
    switch (kind) {
      case 'string':
        v = r.bytes().toString('utf8');
        break;
      case 'bytes':
        v = r.bytes().toString('base64');
        break;
      case 'int':
      case 'intp': {
        const n = r.varint();
        // Negative int32/int64 arrive as 10-byte two's complement.
        v = n >= 2 ** 63 ? n - 2 ** 64 : n;
        if (kind === 'intp') {
          out[name] = v;
          continue;
        }
        break;
      }
      case 'intOrString': {
        const x = decode(r.bytes(), 'IntOrString');
        v = x['type'] === 1 ? String(x['strVal'] ?? '') : Number(x['intVal'] ?? 0);
        out[name] = v;
        continue;
      }
      case 'quantityMap': {
        const e = decode(r.bytes(), 'QuantityEntry');
        addEntry(out, name, String(e['key'] ?? ''), String((e['value'] as JsonObject | undefined)?.['string'] ?? '0'));
        continue;
      }
      case 'bool':
        v = r.varint() !== 0;
        break;
      case 'boolz':
        if (r.varint() !== 0) out[name] = true;
        continue;
      case 'time': {
        const t = decode(r.bytes(), 'Time');
        // Go's zero time (an unset creationTimestamp in a template) is null in JSON: leave it out.
        if (!(Number(t['seconds'] ?? 0) > 0)) continue;
        v = new Date(Number(t['seconds'] ?? 0) * 1000).toISOString().replace(/\.\d+Z$/, 'Z');
        break;
      }
      case 'map':
      case 'mapBytes': {
        const e = decode(r.bytes(), kind === 'map' ? 'MapEntry' : 'MapEntryBytes');
        addEntry(out, name, String(e['key'] ?? ''), e['value'] ?? '');
        continue;
      }
      case 'msg':
        v = decode(r.bytes(), sub as string);
        // Go's embedded structs (ConfigMapKeySelector's LocalObjectReference) are inline in JSON.
        if (name === '__inline') {
          Object.assign(out, v);
          continue;
        }
        break;
      default:
        r.skip(wire);
        continue;
    }
    if (repeated) out[name] = [...((out[name] as Json[] | undefined) ?? []), v];
    // proto2 writes zero values that Go's JSON (omitempty) leaves out; drop them so defaults apply.
    else if (v !== '' && v !== 0) out[name] = v;
  }
  return out;
}

const magic = Buffer.from([0x6b, 0x38, 0x73, 0x00]);

/** Decodes a Kubernetes protobuf envelope into the JSON object it carries; 415 for kinds it cannot read. */
export function decodeKubeProtobuf(body: Buffer): JsonObject {
  if (body.length < 4 || !body.subarray(0, 4).equals(magic)) throw new ApiError('BadRequest', 'protobuf body does not start with the Kubernetes magic number');
  let unknown: JsonObject;
  try {
    unknown = decode(body.subarray(4), 'Unknown');
  } catch (e) {
    throw new ApiError('BadRequest', `malformed protobuf body: ${e instanceof Error ? e.message : String(e)}`);
  }
  const tm = (unknown['typeMeta'] as JsonObject | undefined) ?? {};
  const apiVersion = String(tm['apiVersion'] ?? '');
  const kind = String(tm['kind'] ?? '');
  const type = readable[`${apiVersion}/${kind}`];
  if (!type) {
    throw new ApiError('UnsupportedMediaType', `this server reads protobuf only for ${Object.keys(readable).join(', ')}; send ${apiVersion}/${kind} as application/json (kubectl apply/create -f does)`);
  }
  try {
    const obj = decode(Buffer.from(String(unknown['raw'] ?? ''), 'base64'), type);
    return { apiVersion, kind, ...obj };
  } catch (e) {
    throw new ApiError('BadRequest', `malformed protobuf ${kind}: ${e instanceof Error ? e.message : String(e)}`);
  }
}
