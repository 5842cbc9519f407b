// Each component's public surface is src/<component>/index.ts: other components import only that, and
// the component graph has no cycles. Tests and benchmarks may reach inside a component.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve, dirname, sep } from 'node:path';

const root = resolve('src');
const problems = [];
const edges = new Map();

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

function check(file) {
  const from = componentOf(file);
  const text = readFileSync(file, 'utf8');
  for (const m of text.matchAll(/(?:import|export)\s[^'"]*?from\s+['"](\.[^'"]+)['"]/g)) {
    const target = resolve(dirname(file), m[1]);
    if (!target.startsWith(root + sep)) continue;
    const to = componentOf(target);
    if (to === from) continue;
    const inside = relative(join(root, to), target);
    if (inside !== 'index.js') {
      problems.push(`${relative('.', file)} imports ${m[1]}: import src/${to}/index.js instead`);
    }
    if (!edges.has(from)) edges.set(from, new Set());
    edges.get(from).add(to);
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

walk(root);
const cycle = findCycle();
if (cycle) problems.push(`component import cycle: ${cycle.join(' -> ')}`);
if (problems.length) {
  console.error(problems.join('\n'));
  process.exit(1);
}
