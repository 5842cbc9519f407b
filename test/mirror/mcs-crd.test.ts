// The MCS CRDs (manifests/crds/serviceexport.yaml, serviceimport.yaml, clusterproperty.yaml) are generated
// from the zod schemas in src/api/mcs.ts: each file is exactly what the generator writes, with upstream's
// group, versions (v1beta1 storage, v1alpha1 served), short names and status subresources.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { repoRoot } from '../helpers/process.js';
import { serviceImportSpecSchema } from '../../src/api/index.js';
import { mcsCrdFiles } from '../../src/mirror/mcs-crd.js';

interface Crd {
  metadata: { name: string };
  spec: {
    group: string;
    scope: string;
    names: { kind: string; shortNames?: string[] };
    versions: Array<{ name: string; served: boolean; storage: boolean; subresources?: { status?: object }; schema: { openAPIV3Schema: { properties: Record<string, { properties?: Record<string, unknown> }> } } }>;
  };
}

const read = (f: string) => readFileSync(join(repoRoot, 'manifests/crds', f), 'utf8');

test('each MCS CRD file is what the generator writes', () => {
  for (const [f, text] of Object.entries(mcsCrdFiles())) assert.equal(read(f), text, `manifests/crds/${f} is stale: npm run build && node scripts/gen-link-crd.mjs`);
});

test('ServiceExport and ServiceImport: upstream group, versions, short names, status subresource', () => {
  for (const [f, kind, short] of [
    ['serviceexport.yaml', 'ServiceExport', 'svcex'],
    ['serviceimport.yaml', 'ServiceImport', 'svcim'],
  ] as const) {
    const crd = parse(read(f)) as Crd;
    assert.equal(crd.spec.group, 'multicluster.x-k8s.io');
    assert.equal(crd.spec.names.kind, kind);
    assert.deepEqual(crd.spec.names.shortNames, [short]);
    assert.equal(crd.spec.scope, 'Namespaced');
    assert.deepEqual(
      crd.spec.versions.map((v) => [v.name, v.served, v.storage, Boolean(v.subresources?.status)]),
      [
        ['v1beta1', true, true, true],
        ['v1alpha1', true, false, true],
      ],
    );
  }
});

test('ServiceImport spec fields are the upstream ones', () => {
  const crd = parse(read('serviceimport.yaml')) as Crd;
  const spec = crd.spec.versions[0].schema.openAPIV3Schema.properties.spec.properties ?? {};
  const upstream = ['ports', 'ips', 'type', 'sessionAffinity', 'sessionAffinityConfig', 'ipFamilies', 'internalTrafficPolicy', 'trafficDistribution'];
  assert.deepEqual(Object.keys(spec).sort(), [...upstream].sort());
  assert.deepEqual(Object.keys(serviceImportSpecSchema.shape).sort(), [...upstream].sort());
  assert.ok(crd.spec.versions[0].schema.openAPIV3Schema.properties.status.properties?.clusters);
});

test('ClusterProperty: about.k8s.io, cluster-scoped, spec.value', () => {
  const crd = parse(read('clusterproperty.yaml')) as Crd;
  assert.equal(crd.metadata.name, 'clusterproperties.about.k8s.io');
  assert.equal(crd.spec.scope, 'Cluster');
  assert.ok(crd.spec.versions[0].schema.openAPIV3Schema.properties.spec.properties?.value);
});
