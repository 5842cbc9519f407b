// Writes manifests/crds/ from the zod schemas (src/api) through src/mirror/crd.ts (Link) and
// src/mirror/mcs-crd.ts (ServiceExport, ServiceImport, ClusterProperty). Run after `npm run build`;
// test/mirror/crd.test.ts fails while a file differs from what this writes.
import { writeFileSync } from 'node:fs';

const { linkCrdYaml } = await import('../dist/src/mirror/crd.js');
const { mcsCrdFiles } = await import('../dist/src/mirror/mcs-crd.js');
const files = { 'link.yaml': linkCrdYaml(), ...mcsCrdFiles() };
for (const [name, text] of Object.entries(files)) {
  const target = new URL(`../manifests/crds/${name}`, import.meta.url);
  writeFileSync(target, text);
  console.log(`wrote ${target.pathname}`);
}
