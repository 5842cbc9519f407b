// /openapi/v2 in its protobuf encoding (`application/com.github.proto-openapi.spec.v2@v1.0+protobuf`, the
// gnostic `openapi.v2.Document` message). kubectl up to 1.28 asks only for this encoding (client-go's
// OpenAPISchema), for `apply` (field-validation support, strategic merge) and `explain`; a JSON-only
// server makes both fail with a bare NotFound. The JSON document is encoded as gnostic maps it: objects of
// named values become repeated (name, value) pairs, `x-` keys vendor extensions whose values (like
// `default`, `enum` and `example`) travel as YAML text; JSON is YAML. Field numbers are gnostic's
// OpenAPIv2.proto. A writer of our own for the ~20 messages this needs, like protobuf.ts's reader.
import { isObject, type Json, type JsonObject } from '../patch.js';

/** What clients ask for; the answer's Content-Type spells the version with a dot, as kube-openapi does
 * (Go's mime parser refuses the `@`). */
export const OPENAPI_V2_PROTOBUF = 'application/com.github.proto-openapi.spec.v2@v1.0+protobuf';
export const OPENAPI_V2_PROTOBUF_CONTENT_TYPE = 'application/com.github.proto-openapi.spec.v2.v1.0+protobuf';

const VARINT = 0;
const FIXED64 = 1;
const BYTES = 2;

/** Protocol-buffer wire writer; proto3 rules: zero values (empty string, false, 0) are not written. */
class Writer {
  private readonly parts: Buffer[] = [];
  private size = 0;

  private push(b: Buffer): void {
    this.parts.push(b);
    this.size += b.length;
  }

  private varint(n: number): void {
    const bytes: number[] = [];
    let v = BigInt.asUintN(64, BigInt(Math.trunc(n)));
    do {
      const low = Number(v & 0x7fn);
      v >>= 7n;
      bytes.push(v > 0n ? low | 0x80 : low);
    } while (v > 0n);
    this.push(Buffer.from(bytes));
  }

  private tag(field: number, wire: number): void {
    this.varint(field * 8 + wire);
  }

  string(field: number, v: unknown): void {
    if (typeof v !== 'string' || v === '') return;
    this.bytes(field, Buffer.from(v, 'utf8'));
  }

  strings(field: number, v: unknown): void {
    if (Array.isArray(v)) for (const x of v) if (typeof x === 'string') this.bytes(field, Buffer.from(x, 'utf8'));
  }

  bool(field: number, v: unknown): void {
    if (v !== true) return;
    this.tag(field, VARINT);
    this.varint(1);
  }

  int(field: number, v: unknown): void {
    if (typeof v !== 'number' || !Number.isFinite(v) || v === 0) return;
    this.tag(field, VARINT);
    this.varint(v);
  }

  double(field: number, v: unknown): void {
    if (typeof v !== 'number' || !Number.isFinite(v) || v === 0) return;
    this.tag(field, FIXED64);
    const b = Buffer.alloc(8);
    b.writeDoubleLE(v);
    this.push(b);
  }

  bytes(field: number, b: Buffer): void {
    this.tag(field, BYTES);
    this.varint(b.length);
    this.push(b);
  }

  /** A nested message (always written, even empty: presence matters for oneof members). */
  message(field: number, fill: (w: Writer) => void): void {
    const w = new Writer();
    fill(w);
    this.bytes(field, w.finish());
  }

  finish(): Buffer {
    return Buffer.concat(this.parts, this.size);
  }
}

/** gnostic `Any`: the value as YAML text (field 2). */
function anyValue(w: Writer, field: number, v: Json | undefined): void {
  if (v === undefined) return;
  w.message(field, (a) => a.string(2, JSON.stringify(v)));
}

/** `x-…` keys of an object as repeated NamedAny. */
function vendorExtensions(w: Writer, field: number, o: JsonObject): void {
  for (const [name, v] of Object.entries(o)) {
    if (!name.startsWith('x-') || v === undefined) continue;
    w.message(field, (n) => {
      n.string(1, name);
      anyValue(n, 2, v);
    });
  }
}

/** An object of named values as repeated (name, value) messages at `field`. */
function named(w: Writer, field: number, o: Json | undefined, value: (w: Writer, v: JsonObject) => void): void {
  if (!isObject(o)) return;
  for (const [name, v] of Object.entries(o)) {
    if (!isObject(v)) continue;
    w.message(field, (n) => {
      n.string(1, name);
      n.message(2, (m) => value(m, v));
    });
  }
}

function schema(w: Writer, s: JsonObject): void {
  w.string(1, s['$ref']);
  w.string(2, s['format']);
  w.string(3, s['title']);
  w.string(4, s['description']);
  anyValue(w, 5, s['default']);
  w.double(6, s['multipleOf']);
  w.double(7, s['maximum']);
  w.bool(8, s['exclusiveMaximum']);
  w.double(9, s['minimum']);
  w.bool(10, s['exclusiveMinimum']);
  w.int(11, s['maxLength']);
  w.int(12, s['minLength']);
  w.string(13, s['pattern']);
  w.int(14, s['maxItems']);
  w.int(15, s['minItems']);
  w.bool(16, s['uniqueItems']);
  w.int(17, s['maxProperties']);
  w.int(18, s['minProperties']);
  w.strings(19, s['required']);
  if (Array.isArray(s['enum'])) for (const e of s['enum']) anyValue(w, 20, e);
  const extra = s['additionalProperties'];
  if (isObject(extra)) w.message(21, (a) => a.message(1, (m) => schema(m, extra)));
  else if (extra === true) w.message(21, (a) => a.bool(2, true));
  const type = s['type'];
  if (typeof type === 'string' || Array.isArray(type)) w.message(22, (t) => t.strings(1, typeof type === 'string' ? [type] : type));
  const items = s['items'];
  const itemList = Array.isArray(items) ? items.filter(isObject) : isObject(items) ? [items] : [];
  if (itemList.length) w.message(23, (it) => itemList.forEach((x) => it.message(1, (m) => schema(m, x))));
  if (Array.isArray(s['allOf'])) for (const x of s['allOf']) if (isObject(x)) w.message(24, (m) => schema(m, x));
  if (isObject(s['properties'])) w.message(25, (p) => named(p, 1, s['properties'], schema));
  w.bool(27, s['readOnly']);
  anyValue(w, 30, s['example']);
  vendorExtensions(w, 31, s);
}

/** A query parameter (the only kind the v2 document has: the PATCH paths' fieldValidation and friends):
 * ParametersItem.parameter → Parameter.non_body_parameter → NonBodyParameter.query_parameter_sub_schema. */
function queryParameter(w: Writer, p: JsonObject): void {
  w.message(1, (param) =>
    param.message(2, (nonBody) =>
      nonBody.message(3, (q) => {
        q.bool(1, p['required']);
        q.string(2, 'query');
        q.string(3, p['description']);
        q.string(4, p['name']);
        q.string(6, p['type']);
        q.string(7, p['format']);
        q.bool(20, p['uniqueItems']);
      }),
    ),
  );
}

function operation(w: Writer, op: JsonObject): void {
  w.strings(1, op['tags']);
  w.string(3, op['description']);
  w.string(5, op['operationId']);
  w.strings(6, op['produces']);
  w.strings(7, op['consumes']);
  if (Array.isArray(op['parameters'])) {
    for (const p of op['parameters']) if (isObject(p) && p['in'] === 'query') w.message(8, (item) => queryParameter(item, p));
  }
  const responses = op['responses'];
  if (isObject(responses)) {
    w.message(9, (r) =>
      named(r, 1, responses, (rv, resp) => rv.message(1, (m) => m.string(1, resp['description']))),
    );
  }
  vendorExtensions(w, 13, op);
}

/** PathItem: the v2 document has PATCH operations only (field 8). */
function pathItem(w: Writer, item: JsonObject): void {
  const op = item['patch'];
  if (isObject(op)) w.message(8, (m) => operation(m, op));
}

/** The Swagger 2.0 JSON document as gnostic's openapi.v2.Document. */
export function encodeOpenApiV2(doc: JsonObject): Buffer {
  const w = new Writer();
  w.string(1, doc['swagger']);
  const info = doc['info'];
  if (isObject(info)) {
    w.message(2, (i) => {
      i.string(1, info['title']);
      i.string(2, info['version']);
    });
  }
  w.message(8, (p) => named(p, 2, doc['paths'], pathItem));
  w.message(9, (d) => named(d, 1, doc['definitions'], schema));
  return w.finish();
}
