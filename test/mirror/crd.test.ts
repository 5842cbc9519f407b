// The Link CRD (manifests/crds/link.yaml) and the zod schema in src/mirror/link.ts describe the same spec.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { z } from 'zod';
import { repoRoot } from '../helpers/process.js';
import { linkSpecSchema } from '../../src/api/index.js';

interface Props {
  properties?: Record<string, Props>;
  required?: string[];
  enum?: string[];
  default?: unknown;
}

const crd = parse(readFileSync(join(repoRoot, 'manifests/crds/link.yaml'), 'utf8')) as {
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
  assert.deepEqual(spec.required?.sort(), ['clusterCredentialsSecret', 'targetClusterName']);
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
