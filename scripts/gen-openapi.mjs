// Generates src/apiserver/openapi/builtin-schemas.json: OpenAPI v3 schemas (with field descriptions) of
// the built-in kinds the API server serves, and of every type they reference. Source: the models of
// @kubernetes/client-node (generated from Kubernetes' own OpenAPI document; its version is recorded in
// the output): structure and formats from each model's attributeTypeMap, descriptions and required
// fields from its .d.ts. Run after `npm run build`: node scripts/gen-openapi.mjs
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const require = createRequire(import.meta.url);
const modelsDir = join(require.resolve('@kubernetes/client-node'), '..', 'gen', 'models');
const pkg = JSON.parse(readFileSync(join(modelsDir, '..', '..', '..', 'package.json'), 'utf8'));
const { builtinResources } = await import('../dist/src/apiserver/resources.js');

/** Class and field descriptions, and required fields, from a model's .d.ts. */
function docs(cls) {
  const text = readFileSync(join(modelsDir, `${cls}.d.ts`), 'utf8');
  const comment = /\/\*\*\s*\n((?:\s*\*.*\n)*?)\s*\*\/\s*\n\s*(?:export declare class (\w+)|'([^']+)'(\??):)/g;
  const out = { description: '', fields: {}, required: [] };
  for (const m of text.matchAll(comment)) {
    const d = m[1].split('\n').map((l) => l.replace(/^\s*\*\s?/, '')).join('\n').trim().replace(/\\(["'\\])/g, '$1');
    if (m[2]) out.description = d;
    else out.fields[m[3]] = d;
  }
  for (const m of text.matchAll(/^\s*'([^']+)'(\??):/gm)) if (!m[2]) out.required.push(m[1]);
  return out;
}

const schemas = {};
const seen = new Set();

function typeSchema(type, format) {
  let m;
  if ((m = /^Array<(.+)>$/.exec(type))) return { type: 'array', items: typeSchema(m[1], '') };
  if ((m = /^\{ \[key: string\]: (.+); \}$/.exec(type))) return { type: 'object', additionalProperties: typeSchema(m[1], format) };
  if (type === 'string') return { type: 'string', ...(format ? { format } : {}) };
  if (type === 'number') return { type: format === 'double' ? 'number' : 'integer', ...(format ? { format } : {}) };
  if (type === 'boolean') return { type: 'boolean' };
  if (type === 'Date' || type === 'V1MicroTime') return { type: 'string', format: 'date-time' };
  if (type === 'IntOrString') return { 'x-kubernetes-int-or-string': true };
  if (type === 'any' || type === 'object') return { type: 'object', 'x-kubernetes-preserve-unknown-fields': true };
  visit(type);
  return { allOf: [{ $ref: `#/components/schemas/${schemaName(type)}` }] };
}

/** `V1DeploymentSpec` → `io.k8s.api.v1.DeploymentSpec`, `DiscoveryV1EndpointPort` → `io.k8s.api.discovery.v1.EndpointPort` (kubectl explain shows the last part). */
function schemaName(cls) {
  const m = /^([A-Z][a-z]+)?(V\d+(?:(?:alpha|beta)\d+)?)([A-Z].*)$/.exec(cls);
  if (!m) return cls;
  return `io.k8s.api.${m[1] ? m[1].toLowerCase() + '.' : ''}${m[2].toLowerCase()}.${m[3]}`;
}

function refDescription(type) {
  const m = /^(?:Array<)?(\w+)>?$/.exec(type);
  return m && existsSync(join(modelsDir, `${m[1]}.d.ts`)) ? docs(m[1]).description : '';
}

function visit(cls) {
  if (seen.has(cls)) return;
  seen.add(cls);
  const file = join(modelsDir, `${cls}.js`);
  if (!existsSync(file)) throw new Error(`no model ${cls}`);
  const model = require(file)[cls];
  const d = docs(cls);
  const properties = {};
  for (const a of model.attributeTypeMap) {
    const s = typeSchema(a.type, a.format);
    // The models drop the description of fields whose type is another model: use that model's own.
    const description = d.fields[a.baseName] || refDescription(a.type);
    properties[a.baseName] = description ? { ...s, description } : s;
  }
  schemas[schemaName(cls)] = { type: 'object', ...(d.description ? { description: d.description } : {}), properties, ...(d.required.length ? { required: d.required } : {}) };
}

const prefixes = { '': 'Core', apps: 'Apps', batch: 'Batch', 'discovery.k8s.io': 'Discovery', 'events.k8s.io': 'Events', 'rbac.authorization.k8s.io': 'Rbac', policy: 'Policy', 'coordination.k8s.io': 'Coordination', 'apiextensions.k8s.io': 'Apiextensions' };
const kinds = {};
for (const r of builtinResources) {
  if (r.virtual) continue;
  for (const v of r.versions) {
    const base = `${v.toUpperCase()[0]}${v.slice(1)}${r.kind}`;
    const cls = [base, `${prefixes[r.group] ?? ''}${base}`].find((c) => existsSync(join(modelsDir, `${c}.js`)));
    if (!cls) throw new Error(`no model for ${r.group}/${v} ${r.kind}`);
    visit(cls);
    schemas[schemaName(cls)]['x-kubernetes-group-version-kind'] = [{ group: r.group, version: v, kind: r.kind }];
    kinds[`${r.group}/${v}/${r.kind}`] = schemaName(cls);
  }
}
const out = { source: `@kubernetes/client-node ${pkg.version} models`, kinds, schemas };
writeFileSync('src/apiserver/openapi/builtin-schemas.json', JSON.stringify(out) + '\n');
console.log(`wrote ${Object.keys(schemas).length} schemas for ${Object.keys(kinds).length} kinds`);
