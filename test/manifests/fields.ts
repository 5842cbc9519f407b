// Unknown-field check for rendered objects (what `--validate=strict` does on a real API server): every
// key must be a property of the upstream type in kubernetes-models' declarations (generated from the
// Kubernetes OpenAPI spec), walked with the TypeScript checker. The JSON-schema validators check types,
// required fields and enums but let a misspelt field through; this closes that gap.
import ts from 'typescript';
import { resolve } from 'node:path';

export interface Typed {
  apiVersion: string;
  kind: string;
}

export function unknownFields(objects: Typed[], repoRoot: string): string[] {
  const kinds = [...new Map(objects.map((o) => [`${o.apiVersion}/${o.kind}`, o])).values()];
  const virtual = resolve(repoRoot, '__mesh_fields_check__.ts');
  const text = kinds.map((k, i) => `import type { I${k.kind} as T${i} } from 'kubernetes-models/${k.apiVersion}/${k.kind}';\nexport declare const v${i}: T${i};`).join('\n');
  const options: ts.CompilerOptions = { module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, strict: true, noEmit: true, skipLibCheck: true, types: [] };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (name, lang, onError) => (resolve(name) === virtual ? ts.createSourceFile(name, text, lang) : getSourceFile(name, lang, onError));
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (name) => resolve(name) === virtual || fileExists(name);
  const program = ts.createProgram([virtual], options, host);
  const checker = program.getTypeChecker();
  const sf = program.getSourceFile(virtual);
  if (!sf) throw new Error('fields check: virtual source missing');
  const diags = ts.getPreEmitDiagnostics(program, sf);
  if (diags.length > 0) throw new Error(`fields check: ${ts.flattenDiagnosticMessageText(diags[0].messageText, '\n')}`);
  const moduleSymbol = checker.getSymbolAtLocation(sf);
  const exports = moduleSymbol ? checker.getExportsOfModule(moduleSymbol) : [];
  const typeOf = new Map(kinds.map((k, i) => [`${k.apiVersion}/${k.kind}`, exports.find((e) => e.name === `v${i}`)]));
  const problems: string[] = [];

  const walk = (value: unknown, type: ts.Type, path: string): void => {
    const t = checker.getNonNullableType(type);
    if (Array.isArray(value)) {
      if (checker.isArrayType(t)) {
        const [elem] = checker.getTypeArguments(t as ts.TypeReference);
        value.forEach((v, i) => walk(v, elem, `${path}[${i}]`));
      }
      return;
    }
    if (value === null || typeof value !== 'object') return;
    // Unions of object types (rare in these models): accept a key any member knows.
    // An interface with no declared properties (JSONSchemaPropsOrArray, RawExtension) is opaque: not checked.
    const known = (m: ts.Type) => m.getProperties().length > 0 || checker.getIndexInfosOfType(m).length > 0;
    const members = (t.isUnion() ? t.types : [t]).filter(known);
    if (members.length === 0) return;
    for (const [k, v] of Object.entries(value)) {
      const prop = members.map((m) => m.getProperty(k)).find((p) => p !== undefined);
      if (prop) {
        walk(v, checker.getTypeOfSymbol(prop), `${path}.${k}`);
        continue;
      }
      const index = members.flatMap((m) => checker.getIndexInfosOfType(m)).find((ii) => ii.keyType.flags & ts.TypeFlags.String);
      if (index) walk(v, index.type, `${path}.${k}`);
      else problems.push(`${path}.${k}`);
    }
  };

  for (const o of objects) {
    const sym = typeOf.get(`${o.apiVersion}/${o.kind}`);
    if (!sym) throw new Error(`fields check: no type for ${o.apiVersion} ${o.kind}`);
    const name = (o as { metadata?: { name?: string } }).metadata?.name ?? '?';
    walk(o, checker.getTypeOfSymbol(sym), `${o.kind}/${name}`);
  }
  return problems;
}
