// Decoding of `application/vnd.kubernetes.protobuf` request bodies. kubectl's typed clients (create
// namespace/configmap/secret/serviceaccount/role…, create token, auth can-i, auth whoami) send protobuf
// and do not fall back to JSON on 415, so the server reads the kinds those commands send. Responses
// stay JSON (kubectl's Accept always lists application/json too).
import { ApiError } from './errors.js';
import type { Json, JsonObject } from './patch.js';

type Kind = 'string' | 'bytes' | 'int' | 'bool' | 'time' | 'map' | 'mapBytes' | 'msg' | 'intOrString';
type Field = readonly [name: string, kind: Kind, sub?: string, repeated?: boolean];
type Schema = Record<number, Field>;

const s = (name: string): Field => [name, 'string'];
const rs = (name: string): Field => [name, 'string', undefined, true];
const m = (name: string, sub: string): Field => [name, 'msg', sub];
const rm = (name: string, sub: string): Field => [name, 'msg', sub, true];

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
      case 'int': {
        const n = r.varint();
        // Negative int32/int64 arrive as 10-byte two's complement.
        v = n >= 2 ** 63 ? n - 2 ** 64 : n;
        break;
      }
      case 'bool':
        v = r.varint() !== 0;
        break;
      case 'time': {
        const t = decode(r.bytes(), 'Time');
        v = new Date(Number(t['seconds'] ?? 0) * 1000).toISOString().replace(/\.\d+Z$/, 'Z');
        break;
      }
      case 'map':
      case 'mapBytes': {
        const e = decode(r.bytes(), kind === 'map' ? 'MapEntry' : 'MapEntryBytes');
        const cur = (out[name] as JsonObject | undefined) ?? {};
        cur[String(e['key'] ?? '')] = e['value'] ?? '';
        out[name] = cur;
        continue;
      }
      case 'msg':
        v = decode(r.bytes(), sub as string);
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
