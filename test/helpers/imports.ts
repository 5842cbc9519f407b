// Follows a module's imports through the source tree (static `import`/`export … from`, and dynamic
// `import()` when asked), for tests that pin what a component may load.
import { readFileSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import { repoRoot } from './process.js';

export interface ImportEdge {
  /** Importing file, relative to the repository root (src/gateway/main.ts). */
  from: string;
  /** The specifier as written ('../trust/index.js', 'node:net', '@grpc/grpc-js'). */
  spec: string;
  /** Resolved file for a relative specifier, relative to the repository root. */
  to?: string;
  dynamic: boolean;
}

const STATIC = /(?:^|\n)\s*(?:import|export)\s(?!type\s)[^'"]*?from\s+['"]([^'"]+)['"]/g;
const DYNAMIC = /import\(\s*['"]([^'"]+)['"]\s*\)/g;

/** Every import reachable from `entry` (a path relative to the repository root). */
export function importsFrom(entry: string, opts: { dynamic?: boolean } = {}): { files: Set<string>; edges: ImportEdge[] } {
  const files = new Set<string>();
  const edges: ImportEdge[] = [];
  const visit = (file: string) => {
    if (files.has(file)) return;
    files.add(file);
    const text = readFileSync(resolve(repoRoot, file), 'utf8');
    const found = [...text.matchAll(STATIC)].map((m) => ({ spec: m[1]!, dynamic: false }));
    if (opts.dynamic) found.push(...[...text.matchAll(DYNAMIC)].map((m) => ({ spec: m[1]!, dynamic: true })));
    for (const { spec, dynamic } of found) {
      const to = spec.startsWith('.') ? relative(repoRoot, resolve(dirname(resolve(repoRoot, file)), spec.replace(/\.js$/, '.ts'))) : undefined;
      edges.push({ from: file, spec, dynamic, ...(to ? { to } : {}) });
      if (to) visit(to);
    }
  };
  visit(entry);
  return { files, edges };
}
