// The browser side, shipped with the package and read once at start: index.html and style.css as written
// (src/dashboard/web/), the browser modules as tsc compiled them (src/dashboard/web/tsconfig.json puts them
// in dist/src/dashboard/client/web/). No CDN, nothing fetched at run time.
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { DashboardError } from './errors.js';

export interface Asset {
  body: Buffer;
  type: string;
}

const WEB_SOURCE = fileURLToPath(new URL('../../../src/dashboard/web/', import.meta.url));
const WEB_BUILD = fileURLToPath(new URL('./client/web/', import.meta.url));

/** Asset files by the name they are served under (/assets/<name>); index.html is the page of every route. */
export function loadAssets(source = WEB_SOURCE, build = WEB_BUILD): Map<string, Asset> {
  const out = new Map<string, Asset>();
  try {
    out.set('index.html', { body: readFileSync(join(source, 'index.html')), type: 'text/html; charset=utf-8' });
    out.set('style.css', { body: readFileSync(join(source, 'style.css')), type: 'text/css; charset=utf-8' });
    for (const f of readdirSync(build)) {
      if (/^[a-z0-9-]+\.js$/.test(f)) out.set(f, { body: readFileSync(join(build, f)), type: 'text/javascript; charset=utf-8' });
    }
  } catch (err) {
    throw new DashboardError('AssetsMissing', `the dashboard's browser files are missing: ${(err as Error).message}`, 'build first: npm run build');
  }
  if (!out.has('app.js')) throw new DashboardError('AssetsMissing', `no app.js in ${build}`, 'build first: npm run build');
  return out;
}
