// Writes manifests/crds/link.yaml from the Link's zod schema (src/api) through src/mirror/crd.ts.
// Run after `npm run build`; test/mirror/crd.test.ts fails while the file differs from what this writes.
import { writeFileSync } from 'node:fs';

const { linkCrdYaml } = await import('../dist/src/mirror/crd.js');
const target = new URL('../manifests/crds/link.yaml', import.meta.url);
writeFileSync(target, linkCrdYaml());
console.log(`wrote ${target.pathname}`);
