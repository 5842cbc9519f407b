// src/api is the one home of the contract strings (issue 12: "no second copy of a schema, label, annotation,
// port or default anywhere in src/"). This keeps it so: every string src/api exports that names something
// (a label, annotation, well-known object, path, metric, default) is spelled as a literal nowhere else in
// src/; other files import it. Read with the TypeScript parser, so comments and identifiers never count.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';
import * as api from '../../src/api/index.js';
import { repoRoot } from '../helpers/process.js';

/**
 * The values worth guarding, by export name. A value counts when it is a structured name (it has a '.', '/',
 * '_' or '-') of at least 5 characters: short or plain words ('flat', 'Ready', 'kubeconfig', '3s') are not
 * worth a rule. Members of a closed set (the options of a z.enum such as 'tls-pipe' or 'local-first') are
 * words typed where they are used, unless they are names themselves (a prefix or annotation with '.' or '/').
 */
function contractStrings(exports: Record<string, unknown>): Map<string, string> {
  const out = new Map<string, string>();
  const add = (name: string, v: unknown, member: boolean): void => {
    if (typeof v === 'string') {
      if (v.length >= 5 && /[./_-]/.test(v) && (!member || /[./]/.test(v)) && !out.has(v)) out.set(v, name);
    } else if (Array.isArray(v)) {
      v.forEach((x, i) => add(`${name}[${i}]`, x, true));
    } else if (v !== null && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) {
      for (const [k, x] of Object.entries(v)) add(`${name}.${k}`, x, member);
    }
  };
  // Plain string exports first: a value a nested default repeats (a selector's key) is named by its constant.
  const all = Object.entries(exports);
  for (const [k, v] of all) if (typeof v === 'string') add(k, v, false);
  for (const [k, v] of all) add(k, v, false);
  return out;
}

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

/**
 * Literals of one source text that spell a contract value: the whole literal, or a part of one bounded by
 * anything but a name character (`app.kubernetes.io/name=`, `/apis/multicluster.x-k8s.io/v1beta1`), each
 * reported once, by the longest value it spells. Prose (a literal with white space: help, examples,
 * messages) names things for a reader and is left alone.
 */
function copiesIn(file: string, text: string, values: Map<string, string>): string[] {
  const patterns = [...values]
    .sort(([a], [b]) => b.length - a.length)
    .map(([value, name]) => ({ value, name, re: new RegExp(`(?<![A-Za-z0-9_-])${escape(value)}(?![A-Za-z0-9_-])`) }));
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const found: string[] = [];
  // A module specifier ('./metrics.js') names a file, not a contract.
  const specifier = (node: ts.Node): boolean => {
    const up = node.parent as ts.Node | undefined;
    if (up === undefined) return false;
    if (ts.isImportDeclaration(up) || ts.isExportDeclaration(up) || ts.isExternalModuleReference(up)) return true;
    if (ts.isLiteralTypeNode(up) && ts.isImportTypeNode(up.parent)) return true;
    return ts.isCallExpression(up) && up.expression.kind === ts.SyntaxKind.ImportKeyword;
  };
  const visit = (node: ts.Node): void => {
    if (specifier(node)) return;
    if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node) || ts.isTemplateHead(node) || ts.isTemplateMiddle(node) || ts.isTemplateTail(node)) {
      const literal = node.text;
      if (!/\s/.test(literal)) {
        const line = sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1;
        const p = patterns.find((x) => x.re.test(literal));
        if (p) found.push(`${file}:${line}: ${JSON.stringify(literal)} spells ${p.name} (${JSON.stringify(p.value)})`);
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return found;
}

const sources = (dir: string): string[] =>
  readdirSync(dir).flatMap((f) => {
    const path = join(dir, f);
    return statSync(path).isDirectory() ? sources(path) : f.endsWith('.ts') ? [path] : [];
  });

const values = contractStrings(api);

test('the rule finds what it should and leaves prose alone', () => {
  // Enough of src/api is guarded for the rule to mean something, and the words it skips are skipped.
  for (const v of ['mirror.mesh.io/exported', 'kubernetes.io/service-name', 'cluster.local', '/live', 'mesh-system', 'gateway_bytes_total', 'mirror.mesh.io/']) {
    assert.ok(values.has(v), `${v} is guarded`);
  }
  for (const v of ['gateway', 'flat', 'Ready', 'kubeconfig', 'tls-pipe', '3s']) assert.ok(!values.has(v), `${v} is not`);
  const sample = [
    `const a = { 'mirror.mesh.io/exported': 'true' };`,
    'const b = `app.kubernetes.io/name=${x}`;',
    `const c = '/livez';`,
    `const d = 'see mirror.mesh.io/exported on the Service';`,
    `// 'kubernetes.io/service-name' in a comment`,
    `const e = "/apis/multicluster.x-k8s.io/v1beta1";`,
    `import { m } from './metrics.js';`,
  ].join('\n');
  assert.deepEqual(copiesIn('sample.ts', sample, values), [
    'sample.ts:1: "mirror.mesh.io/exported" spells EXPORT_LABEL ("mirror.mesh.io/exported")',
    'sample.ts:2: "app.kubernetes.io/name=" spells APP_NAME_LABEL ("app.kubernetes.io/name")',
    'sample.ts:6: "/apis/multicluster.x-k8s.io/v1beta1" spells MCS_API_VERSION ("multicluster.x-k8s.io/v1beta1")',
  ]);
});

test("no file in src/ outside src/api spells one of src/api's contract strings: it imports them", () => {
  const files = sources(join(repoRoot, 'src')).map((f) => relative(repoRoot, f)).filter((f) => !f.startsWith('src/api/'));
  assert.ok(files.length > 100, `read ${files.length} files`);
  const copies = files.flatMap((f) => copiesIn(f, readFileSync(join(repoRoot, f), 'utf8'), values));
  assert.deepEqual(copies, []);
});
