// Each component's public surface is src/<component>/index.ts: other components import only that, only in
// the directions docs/architecture.md allows (its "Components" table, column "may import"), and the
// component graph has no cycles. Static and dynamic imports alike. Tests and benchmarks may reach inside.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve, dirname, sep } from 'node:path';

const root = resolve('src');
const problems = [];
const edges = new Map();

/** component → Set of components it may import, from the architecture page's table. */
function allowedDirections() {
  const doc = readFileSync('docs/architecture.md', 'utf8');
  const allowed = new Map();
  for (const line of doc.split('\n')) {
    const m = /^\|\s*`src\/([a-z0-9-]+)`\s*\|.*\|\s*([^|]*?)\s*\|\s*$/.exec(line);
    if (!m) continue;
    const targets = m[2] === '—' || m[2] === '' ? [] : m[2].split(',').map((x) => x.trim());
    allowed.set(m[1], new Set(targets));
  }
  if (allowed.size === 0) throw new Error('docs/architecture.md: no component table with a "may import" column found');
  return allowed;
}

const allowed = allowedDirections();

function walk(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) walk(path);
    else if (name.endsWith('.ts')) check(path);
  }
}

function componentOf(path) {
  return relative(root, path).split(sep)[0];
}

// `import x from '…'`, `export { x } from '…'`, `import '…'` and `import('…')` with a relative specifier.
const SPECIFIERS = [
  /(?:import|export)\s[^'"]*?from\s+['"](\.[^'"]+)['"]/g,
  /import\s+['"](\.[^'"]+)['"]/g,
  /import\(\s*['"](\.[^'"]+)['"]\s*\)/g,
];

function check(file) {
  const from = componentOf(file);
  const text = readFileSync(file, 'utf8');
  for (const re of SPECIFIERS) {
    for (const m of text.matchAll(re)) {
      const target = resolve(dirname(file), m[1]);
      if (!target.startsWith(root + sep)) continue;
      const to = componentOf(target);
      if (to === from) continue;
      const where = `${relative('.', file)} imports ${m[1]}`;
      if (relative(join(root, to), target) !== 'index.js') problems.push(`${where}: import src/${to}/index.js instead`);
      if (!allowed.get(from)?.has(to)) problems.push(`${where}: ${from} may not import ${to} (docs/architecture.md, "may import")`);
      if (!edges.has(from)) edges.set(from, new Set());
      edges.get(from).add(to);
    }
  }
}

function findCycle() {
  const state = new Map();
  const stack = [];
  function visit(n) {
    state.set(n, 'open');
    stack.push(n);
    for (const m of edges.get(n) ?? []) {
      if (state.get(m) === 'open') return [...stack.slice(stack.indexOf(m)), m];
      if (!state.has(m)) {
        const c = visit(m);
        if (c) return c;
      }
    }
    stack.pop();
    state.set(n, 'done');
    return null;
  }
  for (const n of edges.keys()) if (!state.has(n)) {
    const c = visit(n);
    if (c) return c;
  }
  return null;
}

for (const name of readdirSync(root)) {
  if (!statSync(join(root, name)).isDirectory()) continue;
  if (!allowed.has(name)) problems.push(`src/${name} has no row in docs/architecture.md's component table`);
}
walk(root);
const cycle = findCycle();
if (cycle) problems.push(`component import cycle: ${cycle.join(' -> ')}`);
if (problems.length) {
  console.error(problems.join('\n'));
  process.exit(1);
}
