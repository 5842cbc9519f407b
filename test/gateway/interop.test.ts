// The gateway's tunnel port (src/h2 in the server role) against nghttp2's own client, with and without a
// client certificate: the mirror's GET /live probe answered, any other method refused as NOT_CONNECT with its
// reason header, no certificate no HTTP/2. (Node's http2 as a client of the same port: refusals.test.ts,
// link-policy.test.ts; the outbound side against a Node http2 server: dataplane.test.ts.)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { startProcess, stopAll } from '../helpers/process.js';
import { startGateway, MemoryRouteSource, MemoryCredentials, type Gateway } from '../../src/gateway/index.js';
import { createPki, writeCredentials } from './fixtures.js';

const nghttp = ['/usr/bin', '/usr/local/bin'].map((d) => join(d, 'nghttp')).find(existsSync);
const pki = createPki();
const client = writeCredentials(pki.leaf('cluster-a'));
let gw: Gateway;

before(async () => {
  const routes = new MemoryRouteSource();
  routes.set({ exported: [{ namespace: 'demo', name: 'echo', ports: [{ port: 7, backends: [{ address: '127.0.0.1', port: 9 }] }] }] });
  gw = await startGateway({ clusterName: 'cluster-b', host: '127.0.0.1', tunnelPort: 0, adminPort: 0 }, { credentials: new MemoryCredentials(pki.leaf('cluster-b')), routes });
});

after(async () => {
  await stopAll();
  await gw?.close();
  client.remove();
});

async function run(args: string[]): Promise<{ code: number | string; out: string; err: string }> {
  const p = startProcess(nghttp!, args);
  const timer = setTimeout(() => void p.stop(), 20_000);
  const code = await p.exited;
  clearTimeout(timer);
  return { code, out: p.stdout(), err: p.stderr() };
}

const skip = !nghttp && 'nghttp not installed (apt-get install nghttp2-client)';

test('nghttp with a client certificate: GET /live is answered by the tunnel port', { skip }, async () => {
  const r = await run(['--cert', client.cert, '--key', client.key, `https://127.0.0.1:${gw.tunnelPort}/live`]);
  assert.equal(r.code, 0, r.err);
  // (nghttp warns on stderr that the SPIFFE leaf names no host: gateways are identified by URI SAN.)
  assert.equal(r.out, 'live\n');
});

test('nghttp: a method other than CONNECT is refused 405 with mesh-refusal-reason NOT_CONNECT', { skip }, async () => {
  const r = await run(['-v', '--cert', client.cert, '--key', client.key, `https://127.0.0.1:${gw.tunnelPort}/anything`]);
  assert.match(r.out, /:status: 405/, r.err);
  assert.match(r.out, /mesh-refusal-reason: NOT_CONNECT/);
});

test('nghttp without a client certificate gets no answer, and the refusal is counted', { skip }, async () => {
  const r = await run([`https://127.0.0.1:${gw.tunnelPort}/live`]);
  assert.doesNotMatch(r.out, /live/);
  const refused = await gw.metrics.registry.getSingleMetricAsString('gateway_refused_total');
  assert.match(refused, /reason="NO_CLIENT_CERT"/);
});
