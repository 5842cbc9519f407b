// How the gateway is cut into parts, pinned: what each part may import (ztunnel's shape: the pool below
// the tunnels, inbound and outbound apart, the gateway composed from both), and what a gateway running
// from certificate files loads at all.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { importsFrom, type ImportEdge } from '../helpers/imports.js';
import { repoRoot } from '../helpers/process.js';

const gatewayFiles = (dir: string): string[] =>
  readdirSync(join(repoRoot, 'src/gateway', dir)).filter((f) => f.endsWith('.ts')).map((f) => `src/gateway/${dir ? `${dir}/` : ''}${f}`);

/** Direct imports of one file inside the repository. */
const direct = (file: string): ImportEdge[] => importsFrom(file, { dynamic: true }).edges.filter((e) => e.from === file && e.to);

test('pool/ sits below the tunnels: it imports errors, metrics, types, tls, the trust core, src/api and src/h2 only', () => {
  const allowed = new Set(['src/api/index.ts', 'src/gateway/errors.ts', 'src/gateway/metrics.ts', 'src/gateway/types.ts', 'src/gateway/tls.ts', 'src/trust/index.ts', 'src/log/index.ts', 'src/h2/index.ts']);
  const bad = gatewayFiles('pool').flatMap(direct).filter((e) => !e.to!.startsWith('src/gateway/pool/') && !allowed.has(e.to!));
  assert.deepEqual(bad.map((e) => `${e.from} → ${e.spec}`), []);
});

test('inbound and outbound do not import each other; the gateway composes them', () => {
  const cross = [
    ...gatewayFiles('inbound').flatMap(direct).filter((e) => e.to!.startsWith('src/gateway/outbound/')),
    ...gatewayFiles('outbound').flatMap(direct).filter((e) => e.to!.startsWith('src/gateway/inbound/')),
  ];
  assert.deepEqual(cross.map((e) => `${e.from} → ${e.spec}`), []);
});

test('only authorize.ts makes an AuthorizedTunnel; dialing a backend needs one', () => {
  // The brand is a module-private symbol: no other file can name it, so none can build the type.
  const all = [...gatewayFiles(''), ...gatewayFiles('inbound'), ...gatewayFiles('outbound'), ...gatewayFiles('pool')];
  assert.deepEqual(all.filter((f) => /Symbol\('authorized'\)/.test(readText(f))), ['src/gateway/inbound/authorize.ts']);
  assert.match(readText('src/gateway/inbound/upstream.ts'), /export function dialBackend\(auth: AuthorizedTunnel,/);
  // Every transport's way to open the client's end of a tunnel asks for the authorization.
  for (const f of ['src/gateway/inbound/h2.ts', 'src/gateway/inbound/pipe.ts']) assert.match(readText(f), /open\(_auth: AuthorizedTunnel\): RelayEnd/, f);
});

test('a gateway from certificate files loads neither src/kube, src/identity, gRPC nor the Kubernetes client', () => {
  // Statically reachable from the gateway's door: what every gateway process pays for in memory. The Identity
  // client and the Kubernetes watches are imported dynamically, only when used.
  const { edges } = importsFrom('src/gateway/index.ts');
  const heavy = edges.filter((e) => /^(@grpc\/|@kubernetes\/client-node|node-forge)/.test(e.spec) || /^src\/(kube|identity)\//.test(e.to ?? ''));
  assert.deepEqual(heavy.map((e) => `${e.from} → ${e.spec}`), []);
});

test("node:http2 is not on the gateway's data path: both tunnel ends speak HTTP/2 through src/h2", () => {
  const { edges } = importsFrom('src/gateway/index.ts');
  assert.deepEqual(edges.filter((e) => /^(node:)?http2$/.test(e.spec)).map((e) => `${e.from} → ${e.spec}`), []);
  assert.ok(edges.some((e) => e.to === 'src/h2/index.ts'), 'the gateway reaches src/h2');
});

test('a gateway from files loads only the prom-client pieces it uses, and yaml only for a route file that is not JSON', () => {
  // In a fresh Node process, as `mesh gateway` loads it: the packages in require's cache (CommonJS packages
  // imported from ESM land there too) after importing the command, then after parsing each kind of route file.
  const script = `
    import { createRequire } from 'node:module';
    const cache = () => Object.keys(createRequire(import.meta.url).cache).map((k) => k.replace(/^.*node_modules\\//, '')).filter((k) => /^(prom-client|yaml)\\//.test(k)).sort();
    const seen = [];
    await import('./dist/src/cli/cmd-gateway.js');
    seen.push(cache());
    const { parseRouteFile } = await import('./dist/src/gateway/static-source.js');
    parseRouteFile('{"remotes":[]}', 'routes.json');
    seen.push(cache());
    parseRouteFile('remotes: []\\n', 'routes.yaml');
    seen.push(cache());
    process.stdout.write(JSON.stringify(seen));`;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: repoRoot, encoding: 'utf8' });
  const [atImport, afterJson, afterYaml] = JSON.parse(out) as string[][];
  const pieces = ['registry', 'counter', 'gauge', 'histogram'].map((p) => `prom-client/lib/${p}.js`);
  for (const p of pieces) assert.ok(atImport!.includes(p), `${p} loaded`);
  for (const p of ['prom-client/index.js', 'prom-client/lib/pushgateway.js', 'prom-client/lib/summary.js', 'prom-client/lib/defaultMetrics.js', 'prom-client/lib/cluster.js']) {
    assert.ok(!atImport!.includes(p), `${p} not loaded`);
  }
  assert.deepEqual(afterJson!.filter((k) => k.startsWith('yaml/')), [], 'a JSON route file does not load yaml');
  assert.ok(afterYaml!.some((k) => k.startsWith('yaml/')), 'a YAML route file loads yaml');
});

function readText(f: string): string {
  return readFileSync(join(repoRoot, f), 'utf8');
}
