// Decoding of the Kubernetes protobuf encoding for the request bodies this module answers. kubectl
// (1.32+) sends built-in types as `application/vnd.kubernetes.protobuf`: the magic `k8s\0`, then a
// runtime.Unknown {typeMeta, raw}, `raw` being the object in protobuf. We turn such a body into the
// JSON shape the handlers validate; field numbers are those of k8s.io/api's generated.proto files.

export const protobufMagic = Buffer.from([0x6b, 0x38, 0x73, 0x00]);

type FieldType = 'string' | 'int64' | 'bool' | MessageSchema;
interface FieldSpec {
  name: string;
  type: FieldType;
  repeated?: boolean;
  /** map<string, ExtraValue> as in SubjectAccessReviewSpec.extra: entries {1: key, 2: {1: repeated string}}. */
  extraMap?: boolean;
}
type MessageSchema = Record<number, FieldSpec>;

const objectMeta: MessageSchema = { 1: { name: 'name', type: 'string' }, 2: { name: 'generateName', type: 'string' }, 3: { name: 'namespace', type: 'string' } };
const boundObjectReference: MessageSchema = {
  1: { name: 'kind', type: 'string' },
  2: { name: 'apiVersion', type: 'string' },
  3: { name: 'name', type: 'string' },
  4: { name: 'uid', type: 'string' },
};
const resourceAttributes: MessageSchema = {
  1: { name: 'namespace', type: 'string' },
  2: { name: 'verb', type: 'string' },
  3: { name: 'group', type: 'string' },
  4: { name: 'version', type: 'string' },
  5: { name: 'resource', type: 'string' },
  6: { name: 'subresource', type: 'string' },
  7: { name: 'name', type: 'string' },
};
const nonResourceAttributes: MessageSchema = { 1: { name: 'path', type: 'string' }, 2: { name: 'verb', type: 'string' } };

/** kind → schema of the top-level object (status fields are ignored: requests carry none). */
const kinds: Record<string, MessageSchema> = {
  TokenRequest: {
    1: { name: 'metadata', type: objectMeta },
    2: {
      name: 'spec',
      type: {
        1: { name: 'audiences', type: 'string', repeated: true },
        3: { name: 'boundObjectRef', type: boundObjectReference },
        4: { name: 'expirationSeconds', type: 'int64' },
      },
    },
  },
  TokenReview: {
    1: { name: 'metadata', type: objectMeta },
    2: { name: 'spec', type: { 1: { name: 'token', type: 'string' }, 2: { name: 'audiences', type: 'string', repeated: true } } },
  },
  SelfSubjectReview: { 1: { name: 'metadata', type: objectMeta } },
  SelfSubjectAccessReview: {
    1: { name: 'metadata', type: objectMeta },
    2: { name: 'spec', type: { 1: { name: 'resourceAttributes', type: resourceAttributes }, 2: { name: 'nonResourceAttributes', type: nonResourceAttributes } } },
  },
  SubjectAccessReview: {
    1: { name: 'metadata', type: objectMeta },
    2: {
      name: 'spec',
      type: {
        1: { name: 'resourceAttributes', type: resourceAttributes },
        2: { name: 'nonResourceAttributes', type: nonResourceAttributes },
        3: { name: 'user', type: 'string' },
        4: { name: 'groups', type: 'string', repeated: true },
        5: { name: 'extra', type: 'string', extraMap: true },
        6: { name: 'uid', type: 'string' },
      },
    },
  },
  SelfSubjectRulesReview: { 1: { name: 'metadata', type: objectMeta }, 2: { name: 'spec', type: { 1: { name: 'namespace', type: 'string' } } } },
};

export class ProtobufError extends Error {
  readonly code = 'AUTH_PROTOBUF';
  constructor(message: string) {
    super(message);
    this.name = 'ProtobufError';
  }
}

interface Field {
  no: number;
  wire: number;
  varint?: bigint;
  bytes?: Buffer;
}

/** Splits one message into its fields (wire types 0, 1, 2, 5); throws on truncation or groups. */
function fields(buf: Buffer): Field[] {
  const out: Field[] = [];
  let i = 0;
  const varint = (): bigint => {
    let v = 0n;
    for (let shift = 0n; shift < 70n; shift += 7n) {
      if (i >= buf.length) throw new ProtobufError('truncated varint');
      const b = buf[i++] as number;
      v |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return v;
    }
    throw new ProtobufError('varint too long');
  };
  while (i < buf.length) {
    const key = varint();
    const no = Number(key >> 3n);
    const wire = Number(key & 7n);
    if (no === 0) throw new ProtobufError('field number 0');
    if (wire === 0) out.push({ no, wire, varint: varint() });
    else if (wire === 2) {
      const len = Number(varint());
      if (i + len > buf.length) throw new ProtobufError('truncated field');
      out.push({ no, wire, bytes: buf.subarray(i, i + len) });
      i += len;
    } else if (wire === 1 || wire === 5) {
      const n = wire === 1 ? 8 : 4;
      if (i + n > buf.length) throw new ProtobufError('truncated fixed field');
      i += n;
    } else throw new ProtobufError(`unsupported wire type ${wire}`);
  }
  return out;
}

function decodeMessage(buf: Buffer, schema: MessageSchema): Record<string, unknown> {
  const obj: Record<string, unknown> = {};
  for (const f of fields(buf)) {
    const spec = schema[f.no];
    if (!spec) continue; // unknown fields are skipped, as protobuf readers do
    let value: unknown;
    if (spec.extraMap) {
      if (!f.bytes) throw new ProtobufError(`${spec.name}: expected a map entry`);
      const entry = fields(f.bytes);
      const k = entry.find((e) => e.no === 1)?.bytes?.toString('utf8') ?? '';
      const v = entry.find((e) => e.no === 2)?.bytes;
      const values = v ? fields(v).filter((e) => e.no === 1 && e.bytes).map((e) => (e.bytes as Buffer).toString('utf8')) : [];
      const map = (obj[spec.name] ??= {}) as Record<string, string[]>;
      map[k] = values;
      continue;
    }
    if (spec.type === 'string') {
      if (!f.bytes) throw new ProtobufError(`${spec.name}: expected a string`);
      value = f.bytes.toString('utf8');
    } else if (spec.type === 'int64') {
      if (f.varint === undefined) throw new ProtobufError(`${spec.name}: expected an integer`);
      value = Number(BigInt.asIntN(64, f.varint));
    } else if (spec.type === 'bool') {
      if (f.varint === undefined) throw new ProtobufError(`${spec.name}: expected a bool`);
      value = f.varint !== 0n;
    } else {
      if (!f.bytes) throw new ProtobufError(`${spec.name}: expected a message`);
      value = decodeMessage(f.bytes, spec.type);
    }
    if (spec.repeated) ((obj[spec.name] ??= []) as unknown[]).push(value);
    else obj[spec.name] = value;
  }
  return obj;
}

export function isProtobufBody(body: unknown): body is Uint8Array {
  return body instanceof Uint8Array && body.length >= 4 && Buffer.from(body.buffer, body.byteOffset, 4).equals(protobufMagic);
}

/**
 * The JSON form of a protobuf-encoded request body (`k8s\0` + runtime.Unknown). Throws ProtobufError
 * for bytes that are not such an envelope or a kind this module does not take.
 */
export function decodeProtobufBody(body: Uint8Array): Record<string, unknown> {
  const buf = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  if (!isProtobufBody(buf)) throw new ProtobufError('not a Kubernetes protobuf body (missing the k8s\\0 prefix)');
  const unknown = fields(buf.subarray(4));
  const typeMeta = unknown.find((f) => f.no === 1)?.bytes;
  const raw = unknown.find((f) => f.no === 2)?.bytes ?? Buffer.alloc(0);
  const tm = typeMeta ? decodeMessage(typeMeta, { 1: { name: 'apiVersion', type: 'string' }, 2: { name: 'kind', type: 'string' } }) : {};
  const kind = typeof tm.kind === 'string' ? tm.kind : '';
  const schema = kinds[kind];
  if (!schema) throw new ProtobufError(`protobuf bodies of kind "${kind}" are not accepted here`);
  return { apiVersion: tm.apiVersion, kind, ...decodeMessage(raw, schema) };
}
