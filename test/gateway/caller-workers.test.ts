// Caller attestation with `--workers 2` on both hops, as processes from route files: the pods for
// attestation (A) and the PROXY v2 opt-in (B) reach the workers with the routes over IPC, so a client
// through A → B is shown to the target as its pod's ServiceAccount whichever worker takes it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RouteFile } from '../../src/gateway/index.js';
import { startMesh, stopAll } from '../helpers/process.js';
import { freePort } from '../helpers/ports.js';
import { createPki, startCallerEchoServer, writeCredentials } from './fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'gw-callers-'));
let who: net.Server;
let outPort = 0;

before(async () => {
  // The target: reads the PROXY v2 header and answers the caller it names.
  who = (await startCallerEchoServer()).server;
  const pki = createPki();
  const aCreds = writeCredentials(pki.leaf('cluster-a'), mkdtempSync(join(dir, 'a-')));
  const bCreds = writeCredentials(pki.leaf('cluster-b'), mkdtempSync(join(dir, 'b-')));
  const bRoutes: RouteFile = { exported: [{ namespace: 'demo', name: 'web', proxyProtocol: 'v2', ports: [{ port: 80, backends: [{ address: '127.0.0.1', port: (who.address() as net.AddressInfo).port }] }] }] };
  writeFileSync(join(dir, 'b.json'), JSON.stringify(bRoutes));
  const tunnel = await freePort();
  const common = ['--host', '127.0.0.1', '--outbound-ports', '1024-65535', '--admin-port', '0', '--workers', '2'];
  const b = startMesh(['gateway', '--cluster-name', 'cluster-b', '--tunnel-port', String(tunnel), '--cert', bCreds.cert, '--key', bCreds.key, '--bundle', bCreds.bundle, '--routes', join(dir, 'b.json'), ...common]);
  await b.waitFor(/gateway listening tunnel=\d+/, 30_000);
  outPort = await freePort();
  const aRoutes: RouteFile = {
    outbound: [{ outboundPort: outPort, remoteCluster: 'cluster-b', namespace: 'demo', service: 'web', port: 80 }],
    remotes: [{ cluster: 'cluster-b', addresses: ['127.0.0.1'], port: tunnel }],
    callers: [{ address: '127.0.0.1', namespace: 'demo', serviceAccount: 'frontend' }],
  };
  writeFileSync(join(dir, 'a.json'), JSON.stringify(aRoutes));
  const a = startMesh(['gateway', '--cluster-name', 'cluster-a', '--tunnel-port', '0', '--cert', aCreds.cert, '--key', aCreds.key, '--bundle', aCreds.bundle, '--routes', join(dir, 'a.json'), ...common]);
  await a.waitFor(/gateway listening tunnel=\d+/, 30_000);
});

after(async () => {
  await stopAll();
  who?.close();
  rmSync(dir, { recursive: true, force: true });
});

function ask(localAddress: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port: outPort, localAddress }, () => s.write('hi'));
    let out = '';
    s.setEncoding('utf8');
    s.on('data', (d: string) => (out += d));
    s.on('end', () => resolve(JSON.parse(out)));
    s.on('error', reject);
  });
}

test('every worker attests the client pod and sends PROXY v2; an unknown address is the gateway, flagged unknown', async () => {
  // Both workers accept (the kernel spreads connections): ten requests reach both with near certainty, and
  // each must carry the pod's identity.
  for (let i = 0; i < 10; i++) {
    // The outbound listener opens once the workers have the routes: the first attempts may be refused.
    let got: unknown;
    for (let tries = 0; tries < 100 && got === undefined; tries++) {
      got = await ask('127.0.0.1').catch(() => undefined);
      if (got === undefined) await new Promise((r) => setTimeout(r, 100));
    }
    assert.deepEqual(got, { id: 'spiffe://mesh.local/ns/demo/sa/frontend', cluster: 'cluster-a', unknown: false });
  }
  assert.deepEqual(await ask('127.0.0.9'), { id: 'spiffe://mesh.local/ns/mesh-system/sa/mesh-gateway', cluster: 'cluster-a', unknown: true });
});
