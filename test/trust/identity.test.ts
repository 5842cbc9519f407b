// The Identity service over real gRPC + TLS, with the TokenReviewer replaced by a table of tokens (the
// API-server-backed variant is in identity-apiserver.test.ts). Checks status codes and messages, the
// message-size limit, issuer reload without restart, and the client's renewal.
import { describe, it, before, after } from 'node:test';
import { csrFor, refused } from './certify-fixtures.js';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import tls from 'node:tls';
import { createRoot, createIssuer, spiffeId, TrustBundle, verifyChain, peerIdentity, parseCertPem, uriSans } from '../../src/trust/index.js';
import {
  startIdentityService, StaticTrustSource, IdentityClient, CertificateManager,
  type IdentityService, type TokenReviewer, type TokenReviewResult, type Credentials, type CertificateState,
} from '../../src/identity/index.js';
import { silentLogger } from '../../src/log/index.js';

const TD = 'mesh.local';
const root = createRoot({ trustDomain: TD });
const issuer = createIssuer({ root, clusterName: 'cluster-a' });
const bundle = TrustBundle.fromPem(root.certPem);

/** Tokens → who they prove, as a TokenReview would answer; `down` makes it throw (API server away). */
class TableReviewer implements TokenReviewer {
  down = 0;
  calls = 0;
  constructor(private readonly table: Record<string, TokenReviewResult>) {}
  async review(token: string, audiences: string[]): Promise<TokenReviewResult> {
    this.calls++;
    if (this.down > 0) { this.down--; throw new Error('connect ECONNREFUSED'); }
    assert.deepEqual(audiences, ['identity.mesh.io']);
    return this.table[token] ?? { authenticated: false, error: 'invalid bearer token' };
  }
}

const reviewer = new TableReviewer({
  'tok-web': { authenticated: true, username: 'system:serviceaccount:default:web', audiences: ['identity.mesh.io'] },
  'tok-admin': { authenticated: true, username: 'admin', audiences: ['identity.mesh.io'] },
  'tok-otheraud': { authenticated: true, username: 'system:serviceaccount:default:web', audiences: ['api'] },
});
const WEB = spiffeId(TD, 'default', 'web');

let svc: IdentityService;
let client: IdentityClient;
const source = new StaticTrustSource({ issuer, bundle });

before(async () => {
  svc = await startIdentityService({ source, reviewer, host: '127.0.0.1', port: 0, leafTtlSeconds: 3600, logger: silentLogger() });
  client = new IdentityClient({ address: `127.0.0.1:${svc.port}`, bundle });
});
after(async () => {
  client?.close();
  await svc?.stop();
});



describe('Identity service (gRPC, TLS)', () => {
  it('certifies a workload: chain verifies against the bundle, valid for the configured TTL', async () => {
    const res = await client.certify({ identity: WEB, token: 'tok-web', csr: csrFor(WEB) });
    assert.equal(verifyChain(res.chainPem, bundle).uri, WEB);
    const ttl = (res.validUntil.getTime() - Date.now()) / 1000;
    assert.ok(ttl > 3500 && ttl <= 3600, `ttl ${ttl}`);
    // The service presents its own identity; the client checked it (a wrong expectation fails).
    assert.equal(svc.identity, 'spiffe://mesh.local/ns/mesh-system/sa/mesh-controller');
    const wrong = new IdentityClient({ address: `127.0.0.1:${svc.port}`, bundle, serverIdentity: spiffeId(TD, 'default', 'impostor'), timeoutMs: 3000 });
    try {
      const e = await refused(wrong.certify({ identity: WEB, token: 'tok-web', csr: csrFor(WEB) }));
      assert.equal(e.status, grpc.status.UNAVAILABLE);
    } finally {
      wrong.close();
    }
  });

  it('UNAUTHENTICATED for a token the API server does not accept, saying why', async () => {
    const e = await refused(client.certify({ identity: WEB, token: 'nonsense', csr: csrFor(WEB) }));
    assert.equal(e.status, grpc.status.UNAUTHENTICATED);
    assert.match(e.details, /token was not accepted: invalid bearer token/);
    const e2 = await refused(client.certify({ identity: WEB, token: 'tok-otheraud', csr: csrFor(WEB) }));
    assert.equal(e2.status, grpc.status.UNAUTHENTICATED);
    assert.match(e2.details, /not for audience identity\.mesh\.io/);
  });

  it('PERMISSION_DENIED when the token proves another identity or is not a ServiceAccount', async () => {
    const other = spiffeId(TD, 'default', 'db');
    const e = await refused(client.certify({ identity: other, token: 'tok-web', csr: csrFor(other) }));
    assert.equal(e.status, grpc.status.PERMISSION_DENIED);
    assert.match(e.details, /token proves ServiceAccount default\/web, but the request is for spiffe:\/\/mesh\.local\/ns\/default\/sa\/db/);
    const e2 = await refused(client.certify({ identity: WEB, token: 'tok-admin', csr: csrFor(WEB) }));
    assert.equal(e2.status, grpc.status.PERMISSION_DENIED);
    assert.match(e2.details, /belongs to admin, not a ServiceAccount/);
  });

  it('PERMISSION_DENIED for a CSR asking for a different identity', async () => {
    const e = await refused(client.certify({ identity: WEB, token: 'tok-web', csr: csrFor(spiffeId(TD, 'kube-system', 'admin')) }));
    assert.equal(e.status, grpc.status.PERMISSION_DENIED);
    assert.match(e.details, /CSR asks for spiffe:\/\/mesh\.local\/ns\/kube-system\/sa\/admin/);
  });

  it('INVALID_ARGUMENT for a garbage CSR, an empty field, or another trust domain', async () => {
    const e = await refused(client.certify({ identity: WEB, token: 'tok-web', csr: Buffer.from('garbage') }));
    assert.equal(e.status, grpc.status.INVALID_ARGUMENT);
    assert.match(e.details, /CSR/);
    const e2 = await refused(client.certify({ identity: WEB, token: '', csr: csrFor(WEB) }));
    assert.equal(e2.status, grpc.status.INVALID_ARGUMENT);
    assert.match(e2.details, /token is empty/);
    const e3 = await refused(client.certify({ identity: 'spiffe://other.local/ns/default/sa/web', token: 'tok-web', csr: csrFor('spiffe://other.local/ns/default/sa/web') }));
    assert.equal(e3.status, grpc.status.INVALID_ARGUMENT);
    assert.match(e3.details, /trust domain/);
  });

  it('refuses an oversize request before decoding it (RESOURCE_EXHAUSTED)', async () => {
    const e = await refused(client.certify({ identity: WEB, token: Buffer.alloc(200 * 1024, 0x61), csr: csrFor(WEB) }));
    assert.equal(e.status, grpc.status.RESOURCE_EXHAUSTED);
    // The service is still there.
    const ok = await client.certify({ identity: WEB, token: 'tok-web', csr: csrFor(WEB) });
    assert.equal(verifyChain(ok.chainPem, bundle).uri, WEB);
  });

  it('UNAVAILABLE while the API server cannot review tokens', async () => {
    reviewer.down = 1;
    const e = await refused(client.certify({ identity: WEB, token: 'tok-web', csr: csrFor(WEB) }));
    assert.equal(e.status, grpc.status.UNAVAILABLE);
    assert.match(e.details, /could not review the token/);
  });

  it('picks up a new issuer without a restart; the open channel keeps working', async () => {
    const before = svc.servingLeaf()!.serialHex;
    const issuer2 = createIssuer({ root, clusterName: 'cluster-a' });
    source.set({ issuer: issuer2, bundle });
    const res = await client.certify({ identity: WEB, token: 'tok-web', csr: csrFor(WEB) });
    const chain = res.chainPem.split(/(?<=-----END CERTIFICATE-----\n)/);
    assert.equal(chain[1], issuer2.certPem);
    assert.notEqual(svc.servingLeaf()!.serialHex, before);
    // An invalid issuer (not under the bundle) is refused and the old one kept.
    const stray = createIssuer({ root: createRoot({ trustDomain: TD }), clusterName: 'cluster-a' });
    assert.throws(() => source.set({ issuer: stray, bundle }), /not signed by any root/);
    const res2 = await client.certify({ identity: WEB, token: 'tok-web', csr: csrFor(WEB) });
    assert.equal(res2.chainPem.split(/(?<=-----END CERTIFICATE-----\n)/)[1], issuer2.certPem);
  });
});

describe('CertificateManager', () => {
  it('obtains a certificate, renews at ~70% of its life before expiry, and live TLS servers switch contexts', async () => {
    const short = await startIdentityService({ source: new StaticTrustSource({ issuer, bundle }), reviewer, host: '127.0.0.1', port: 0, leafTtlSeconds: 3, servingTtlSeconds: 3600, logger: silentLogger() });
    let tokenReads = 0;
    const mgr = new CertificateManager({ identity: WEB, address: `127.0.0.1:${short.port}`, token: () => { tokenReads++; return 'tok-web'; }, bundle: root.certPem });
    const states: CertificateState[] = [];
    mgr.on('state', (s) => states.push(s));
    const creds: Credentials[] = [];
    const received: number[] = [];
    mgr.on('credentials', (c) => { creds.push(c); received.push(Date.now()); });
    try {
      const first = await mgr.start();
      assert.equal(mgr.state, 'Available');
      // A live server takes the manager's credentials and updates them on renewal.
      const server = tls.createServer({ ...mgr.serverTlsOptions() }, (s) => s.end(peerIdentity(s).uri));
      mgr.on('credentials', () => server.setSecureContext(mgr.secureContextOptions()));
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      const port = (server.address() as { port: number }).port;
      const dial = () => new Promise<string>((resolve, reject) => {
        const s = tls.connect({ host: '127.0.0.1', port, ...mgr.clientTlsOptions({ expectedIdentity: WEB }) });
        let got = '';
        s.on('data', (d: Buffer) => { got += d; });
        s.on('end', () => { const cert = s.getPeerCertificate(); s.destroy(); resolve(`${got}|${cert.serialNumber}`); });
        s.on('error', reject);
      });
      const [who1, serial1] = (await dial()).split('|');
      assert.equal(who1, WEB);
      // Wait for the renewal (leaf lives 3 s, renewal at ~2.1 s): bounded wait, no sleeps of the leaf's life.
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no renewal; state ${mgr.state}, error ${mgr.lastError}`)), 10_000);
        mgr.once('credentials', () => { clearTimeout(t); resolve(); });
      });
      const second = mgr.current()!;
      assert.notEqual(second.chainPem, first.chainPem);
      const renewedAt = received[1]!;
      assert.ok(renewedAt < first.notAfter.getTime(), 'renewed before the old certificate expired');
      assert.ok(second.notAfter.getTime() > first.notAfter.getTime());
      assert.ok(tokenReads >= 2, 'the token is re-read for every request');
      const [who2, serial2] = (await dial()).split('|');
      assert.equal(who2, WEB);
      assert.notEqual(serial2, serial1, 'new connections use the renewed certificate');
      assert.deepEqual(states, ['Available']);
      assert.equal(uriSans(parseCertPem(second.chainPem))[0], WEB);
      await new Promise<void>((r) => server.close(() => r()));
    } finally {
      mgr.stop();
      await short.stop();
    }
  });

  it('retries with backoff while the service refuses, and becomes Available when it recovers', async () => {
    const r2 = new TableReviewer({ 'tok-web': { authenticated: true, username: 'system:serviceaccount:default:web' } });
    r2.down = 2;
    const s2 = await startIdentityService({ source: new StaticTrustSource({ issuer, bundle }), reviewer: r2, host: '127.0.0.1', port: 0, logger: silentLogger() });
    // The cluster name is resolved by the injected resolver (as the sandbox does with its own DNS).
    const resolved: string[] = [];
    const mgr = new CertificateManager({
      identity: WEB, address: 'mesh-controller.mesh-system.svc.cluster.local:8080', token: () => 'tok-web', bundle: root.certPem, backoffInitialMs: 50, backoffMaxMs: 200,
      resolveAddress: async (a) => { resolved.push(a); return `127.0.0.1:${s2.port}`; },
    });
    try {
      assert.equal(mgr.state, 'Initializing');
      const c = await mgr.start();
      assert.ok(resolved.length >= 1 && resolved.every((a) => a === 'mesh-controller.mesh-system.svc.cluster.local:8080'));
      assert.equal(mgr.state, 'Available');
      assert.equal(r2.calls, 3, 'two refused attempts, then success');
      assert.equal(verifyChain(c.chainPem, bundle).uri, WEB);
    } finally {
      mgr.stop();
      await s2.stop();
    }
  });

  it('goes Unavailable when its certificate expires and the service is gone, and says why', async () => {
    const s3 = await startIdentityService({ source: new StaticTrustSource({ issuer, bundle }), reviewer, host: '127.0.0.1', port: 0, leafTtlSeconds: 2, servingTtlSeconds: 3600, logger: silentLogger() });
    const mgr = new CertificateManager({ identity: WEB, address: `127.0.0.1:${s3.port}`, token: () => 'tok-web', bundle: root.certPem, backoffInitialMs: 100, backoffMaxMs: 300 });
    try {
      const c = await mgr.start();
      await s3.stop();
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`still ${mgr.state}`)), 8_000);
        mgr.on('state', (st) => { if (st === 'Unavailable') { clearTimeout(t); resolve(); } });
      });
      assert.ok(Date.now() >= c.notAfter.getTime(), 'Unavailable only once the held certificate has expired');
      assert.match(mgr.lastError ?? '', /UNAVAILABLE/);
      assert.equal(mgr.state, 'Unavailable');
    } finally {
      mgr.stop();
    }
  });

  it('regression: a leaf living longer than setTimeout allows (60 days) does not cause a renewal loop', async () => {
    const r4 = new TableReviewer({ 'tok-web': { authenticated: true, username: 'system:serviceaccount:default:web' } });
    const s4 = await startIdentityService({ source: new StaticTrustSource({ issuer, bundle }), reviewer: r4, host: '127.0.0.1', port: 0, leafTtlSeconds: 60 * 86_400, logger: silentLogger() });
    const mgr = new CertificateManager({ identity: WEB, address: `127.0.0.1:${s4.port}`, token: () => 'tok-web', bundle: root.certPem });
    try {
      const c = await mgr.start();
      assert.ok(c.notAfter.getTime() - Date.now() > 59 * 86_400_000);
      await new Promise((r) => setTimeout(r, 500));
      assert.equal(r4.calls, 1, 'one Certify, no immediate re-renewal');
      assert.equal(mgr.state, 'Available');
    } finally {
      mgr.stop();
      await s4.stop();
    }
  });
});
