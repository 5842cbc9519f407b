// The Link CRD (manifests/crds/link.yaml) is generated from the zod schema in src/api/link.ts: the file must be
// exactly what the generator writes, structural, agree with zod field by field, and keep all the status writes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { z } from 'zod';
import { repoRoot } from '../helpers/process.js';
import { linkSpecSchema, parseLinkSpec } from '../../src/api/index.js';
import { computeLinkStatus } from '../../src/mirror/index.js';
import { CrdSchemaError, LINK_STATUS_SCHEMA, linkCrdYaml, linkSpecOpenApi, toStructural, type StructuralSchema } from '../../src/mirror/crd.js';

type Props = StructuralSchema;

const crdText = readFileSync(join(repoRoot, 'manifests/crds/link.yaml'), 'utf8');
const crd = parse(crdText) as {
  metadata: { name: string };
  spec: { group: string; names: { kind: string; plural: string }; scope: string; versions: Array<{ name: string; subresources?: { status?: object }; schema: { openAPIV3Schema: Props } }> };
};

function shapeOf(s: z.ZodType): Record<string, z.ZodType> {
  let t: z.ZodType = s;
  // Unwrap optional/default/pipe wrappers down to the object.
  for (let i = 0; i < 5; i++) {
    const def = (t as unknown as { def: { type: string; innerType?: z.ZodType; in?: z.ZodType } }).def;
    if (def.type === 'object') break;
    t = def.innerType ?? def.in ?? t;
  }
  return (t as z.ZodObject).shape as Record<string, z.ZodType>;
}

test('CRD names match the design card', () => {
  assert.equal(crd.metadata.name, 'links.multicluster.mesh.io');
  assert.equal(crd.spec.group, 'multicluster.mesh.io');
  assert.equal(crd.spec.names.kind, 'Link');
  assert.equal(crd.spec.scope, 'Namespaced');
  assert.equal(crd.spec.versions[0].name, 'v1alpha1');
  assert.ok(crd.spec.versions[0].subresources?.status, 'status subresource');
});

test('CRD spec fields are exactly the zod schema fields (top level, gateway, probe)', () => {
  const spec = crd.spec.versions[0].schema.openAPIV3Schema.properties!.spec;
  const zs = shapeOf(linkSpecSchema);
  assert.deepEqual(Object.keys(spec.properties!).sort(), Object.keys(zs).sort());
  assert.deepEqual(Object.keys(spec.properties!.gateway.properties!).sort(), Object.keys(shapeOf(zs.gateway)).sort());
  assert.deepEqual(Object.keys(spec.properties!.probe.properties!).sort(), Object.keys(shapeOf(zs.probe)).sort());
  assert.deepEqual([...(spec.required ?? [])].sort(), ['clusterCredentialsSecret', 'targetClusterName']);
  assert.deepEqual(crd.spec.versions[0].schema.openAPIV3Schema.required, ['spec'], 'a Link without spec is refused');
  assert.deepEqual(spec.properties!.gateway.properties!.transport.enum, ['connect', 'tls-pipe']);
});

test('CRD defaults agree with the zod defaults', () => {
  const spec = crd.spec.versions[0].schema.openAPIV3Schema.properties!.spec.properties!;
  const parsed = linkSpecSchema.parse({ targetClusterName: 'x', clusterCredentialsSecret: 'y', gateway: { addresses: ['1.2.3.4'], identity: 'spiffe://mesh.local/x' } });
  assert.equal(spec.targetClusterDomain.default, parsed.targetClusterDomain);
  assert.equal(spec.trustDomain.default, parsed.trustDomain);
  assert.equal(spec.createNamespaces.default, parsed.createNamespaces);
  assert.equal(spec.gateway.properties!.port.default, parsed.gateway?.port);
  assert.equal(spec.probe.properties!.path.default, parsed.probe.path);
  assert.equal(spec.probe.properties!.period.default, parsed.probe.period);
  assert.equal(spec.probe.properties!.timeout.default, parsed.probe.timeout);
  assert.equal(spec.probe.properties!.failureThreshold.default, parsed.probe.failureThreshold);
});

test('manifests/crds/link.yaml is exactly what the generator writes from the zod schema', () => {
  assert.equal(crdText, linkCrdYaml(), 'the CRD differs from the zod schema: run `npm run build && node scripts/gen-link-crd.mjs`');
  assert.deepEqual(crd.spec.versions[0].schema.openAPIV3Schema.properties!.spec, linkSpecOpenApi());
});

test('the CRD schema is structural: every node has a type, no additionalProperties beside properties, no unknown keywords', () => {
  const known = new Set(['type', 'description', 'format', 'properties', 'required', 'items', 'additionalProperties', 'enum', 'default', 'minimum', 'maximum', 'minLength', 'maxLength', 'minItems', 'maxItems', 'pattern']);
  const walk = (s: Props, path: string) => {
    assert.ok(s.type, `${path}: no type`);
    for (const k of Object.keys(s)) assert.ok(known.has(k), `${path}: keyword ${k}`);
    assert.ok(!(s.properties && s.additionalProperties), `${path}: properties and additionalProperties`);
    for (const [k, v] of Object.entries(s.properties ?? {})) walk(v, `${path}.${k}`);
    if (s.items) walk(s.items, `${path}[]`);
    if (s.additionalProperties) walk(s.additionalProperties, `${path}{}`);
    for (const r of s.required ?? []) assert.ok(s.properties?.[r], `${path}: required ${r} is not a property`);
  };
  walk(crd.spec.versions[0].schema.openAPIV3Schema, 'openAPIV3Schema');
});

test('bounds and patterns of the CRD agree with zod: what zod refuses the API server refuses too', () => {
  const spec = crd.spec.versions[0].schema.openAPIV3Schema.properties!.spec.properties!;
  const refused = (raw: unknown) => !parseLinkSpec(raw).ok;
  const base = { targetClusterName: 'east', clusterCredentialsSecret: 'c' };
  const cases: Array<[string, unknown, Props, unknown]> = [
    ['targetClusterName', 'Bad_Name', spec.targetClusterName, { ...base, targetClusterName: 'Bad_Name' }],
    ['targetClusterDomain', 'bad domain', spec.targetClusterDomain, { ...base, targetClusterDomain: 'bad domain' }],
    ['gateway.identity', 'mesh-gateway', spec.gateway.properties!.identity, { ...base, gateway: { addresses: ['1.2.3.4'], identity: 'mesh-gateway' } }],
    ['gateway.addresses[]', 'a b', spec.gateway.properties!.addresses.items!, { ...base, gateway: { addresses: ['a b'], identity: 'spiffe://mesh.local/x' } }],
    ['probe.period', 'often', spec.probe.properties!.period, { ...base, probe: { period: 'often' } }],
    ['probe.period', '0ms', spec.probe.properties!.period, { ...base, probe: { period: '0ms' } }],
    ['probe.period', '500ms', spec.probe.properties!.period, { ...base, probe: { period: '500ms', timeout: '100ms' } }],
    ['probe.timeout', '0s', spec.probe.properties!.timeout, { ...base, probe: { timeout: '0s' } }],
    ['probe.path', 'live', spec.probe.properties!.path, { ...base, probe: { path: 'live' } }],
  ];
  for (const [field, value, schema, raw] of cases) {
    assert.ok(refused(raw), `zod refuses ${field}=${String(value)}`);
    assert.ok(schema.pattern, `${field} has a pattern`);
    assert.doesNotMatch(String(value), new RegExp(schema.pattern), `the CRD refuses ${field}=${String(value)}`);
  }
  assert.deepEqual([spec.gateway.properties!.port.minimum, spec.gateway.properties!.port.maximum], [1, 65535]);
  assert.deepEqual([spec.probe.properties!.failureThreshold.minimum, spec.probe.properties!.failureThreshold.maximum], [1, 100]);
  assert.equal(spec.gateway.properties!.allowedIdentities.maxItems, 256);
  assert.equal(spec.gateway.properties!.addresses.minItems, 1);
  assert.deepEqual(spec.selector.properties!.matchExpressions.items!.properties!.operator.enum, ['In', 'NotIn', 'Exists', 'DoesNotExist']);
});

test('a zod construct the CRD cannot express is an error of the generator, not a silent gap', () => {
  for (const t of [z.union([z.string(), z.number()]), z.union([z.object({ a: z.string() }), z.object({ b: z.string() })]), z.literal('x')]) {
    assert.throws(() => toStructural(z.toJSONSchema(z.object({ f: t })) as Record<string, unknown>), CrdSchemaError);
  }
});

test('every field of a status the mirror writes is in the CRD status schema (nothing is pruned)', () => {
  const p = parseLinkSpec({ targetClusterName: 'east', clusterCredentialsSecret: 'c', gateway: { addresses: ['10.0.0.1'], identity: 'spiffe://mesh.local/x' } });
  const status = computeLinkStatus({
    link: { metadata: { name: 'east', generation: 1 } },
    now: '2030-01-01T00:00:00Z',
    parsed: p,
    credentials: { ok: true, kubeconfig: '', version: '1' },
    health: { reachable: true, credentialsValid: true, message: '', since: 0 },
    server: 'https://x',
    probe: { healthy: true, last: { ok: true, latencyMs: 1, address: '10.0.0.1', message: 'HTTP 200', time: new Date(0) } },
    mirrored: { services: [{ namespace: 'a', name: 'b', shadow: 'b-east', mode: 'flat', problem: 'p' }], conflicts: ['Service a/b-east'], impostors: [] },
    listMax: 10,
  });
  const walk = (v: unknown, s: Props | undefined, path: string) => {
    assert.ok(s, `${path} is not in the CRD status schema: the API server would drop it`);
    if (Array.isArray(v)) v.forEach((x, i) => walk(x, s.items, `${path}[${i}]`));
    else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) walk(x, s.properties?.[k], `${path}.${k}`);
  };
  walk(status, LINK_STATUS_SCHEMA, 'status');
  assert.deepEqual(crd.spec.versions[0].schema.openAPIV3Schema.properties!.status, LINK_STATUS_SCHEMA);
});
