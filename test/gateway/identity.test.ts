// The gateway process gets its certificate from the Identity service (src/identity) with a ServiceAccount
// token, becomes ready only then, and serves the tunnel port with that identity.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import http2 from 'node:http2';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { TrustBundle } from '../../src/trust/index.js';
import { startIdentityService, StaticTrustSource, type IdentityService, type TokenReviewer, type TokenReviewResult } from '../../src/identity/index.js';
import { silentLogger } from '../../src/log/index.js';
import { startMesh, stopAll, type Proc } from '../helpers/process.js';
import { createPki } from './fixtures.js';
import { waitUntil } from './pair.js';

const pki = createPki();
const dir = mkdtempSync(join(tmpdir(), 'gw-identity-'));
let svc: IdentityService;
let gw: Proc;
let admin = 0;
let tunnel = 0;

class OneTokenReviewer implements TokenReviewer {
  async review(token: string, audiences: string[]): Promise<TokenReviewResult> {
    if (token === 'tok-gateway' && audiences.includes('identity.mesh.io')) return { authenticated: true, username: 'system:serviceaccount:mesh-system:mesh-gateway', audiences };
    return { authenticated: false, error: 'invalid bearer token' };
  }
}

function get(port: number, path: string): Promise<number> {
  return new Promise((resolve) => {
    http.get({ host: '127.0.0.1', port, path }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    }).on('error', () => resolve(0));
  });
}

before(async () => {
  svc = await startIdentityService({
    source: new StaticTrustSource({ issuer: pki.issuers.get('cluster-b')!, bundle: TrustBundle.fromPem(pki.bundle) }),
    reviewer: new OneTokenReviewer(),
    host: '127.0.0.1',
    port: 0,
    logger: silentLogger(),
  });
  writeFileSync(join(dir, 'token'), 'tok-gateway');
  writeFileSync(join(dir, 'ca-bundle.crt'), pki.bundle);
  writeFileSync(join(dir, 'routes.yaml'), JSON.stringify({ exported: [] }));
  gw = startMesh([
    'gateway', '--cluster-name', 'cluster-b', '--host', '127.0.0.1', '--tunnel-port', '0', '--admin-port', '0',
    '--identity-addr', `127.0.0.1:${svc.port}`, '--identity-token', join(dir, 'token'), '--trust-bundle', join(dir, 'ca-bundle.crt'),
    '--routes', join(dir, 'routes.yaml'),
  ]);
  const m = await gw.waitFor(/gateway listening tunnel=(\d+) admin=(\d+)/);
  tunnel = Number(m[1]);
  admin = Number(m[2]);
});

after(async () => {
  await stopAll();
  await svc?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('ready once the Identity service issued the gateway its certificate; the tunnel port presents it', async () => {
  await waitUntil(async () => (await get(admin, '/ready')) === 200, 20_000, '/ready after certification');
  const client = pki.leaf('cluster-a');
  const session = http2.connect(`https://127.0.0.1:${tunnel}`, { ca: pki.bundle, cert: client.certChain, key: client.key, checkServerIdentity: () => undefined });
  try {
    const { status, peer } = await new Promise<{ status: number; peer: string }>((resolve, reject) => {
      const req = session.request({ ':path': '/live' });
      req.on('response', (h) => {
        const sock = session.socket as unknown as { getPeerX509Certificate(): X509Certificate };
        resolve({ status: Number(h[':status']), peer: sock.getPeerX509Certificate().subjectAltName ?? '' });
        req.resume();
      });
      req.on('error', reject);
      req.end();
    });
    assert.equal(status, 200);
    assert.equal(peer, 'URI:spiffe://mesh.local/ns/mesh-system/sa/mesh-gateway');
  } finally {
    session.close();
  }
});
