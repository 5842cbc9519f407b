// Certify against the embedded API server (`mesh apiserver` as its own process) with real ServiceAccount
// tokens from TokenRequest, the issuer and bundle read from the Secret and ConfigMap, and a full root
// rotation with live mTLS connections between two workloads (none refused or dropped at any step).
import { describe, it, before, after } from 'node:test';
import { csrFor, refused } from './certify-fixtures.js';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import tls from 'node:tls';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { KubeClient } from '../../src/kube/index.js';
import { renderLinkTargetRbac } from '../../src/cli/render.js';
import { collectionPath, idOf } from '../../src/cli/kinds.js';
import { createRoot, createIssuer, issueLeaf, generateKeyPair, spiffeId, verifyChain, peerIdentity, TrustBundle, type CertificateAuthority } from '../../src/trust/index.js';
import { startIdentityService, IdentityClient, CertificateManager, type IdentityService } from '../../src/identity/index.js';
import { issueServiceAccountToken, loadSigningKey, type StoredObject } from '../../src/apiserver/auth/index.js';
import { silentLogger } from '../../src/log/index.js';
import { startApiServer, type TestApiServer } from '../helpers/apiserver.js';
import { stopAll } from '../helpers/process.js';

const TD = 'mesh.local';
const AUD = 'identity.mesh.io';
const root1 = createRoot({ trustDomain: TD });
const issuer1 = createIssuer({ root: root1, clusterName: 'cluster-a' });

let api: TestApiServer;
let core: CoreV1Api;
let svc: IdentityService;
let client: IdentityClient;

const b64 = (s: string) => Buffer.from(s).toString('base64');

async function putIssuer(issuer: CertificateAuthority, bundlePem: string): Promise<void> {
  const body = { metadata: { name: 'mesh-issuer', namespace: 'mesh-system' }, type: 'kubernetes.io/tls', data: { 'tls.crt': b64(issuer.certPem), 'tls.key': b64(issuer.keyPem), 'ca.crt': b64(bundlePem) } };
  try {
    await core.replaceNamespacedSecret({ namespace: 'mesh-system', name: 'mesh-issuer', body });
  } catch {
    await core.createNamespacedSecret({ namespace: 'mesh-system', body });
  }
}

async function putBundle(bundlePem: string): Promise<void> {
  const body = { metadata: { name: 'mesh-trust-roots', namespace: 'mesh-system' }, data: { 'ca-bundle.crt': bundlePem } };
  try {
    await core.replaceNamespacedConfigMap({ namespace: 'mesh-system', name: 'mesh-trust-roots', body });
  } catch {
    await core.createNamespacedConfigMap({ namespace: 'mesh-system', body });
  }
}

async function getBundle(): Promise<string> {
  const cm = await core.readNamespacedConfigMap({ namespace: 'mesh-system', name: 'mesh-trust-roots' });
  return cm.data?.['ca-bundle.crt'] ?? '';
}

async function tokenFor(ns: string, sa: string, audiences = [AUD]): Promise<string> {
  const res = await core.createNamespacedServiceAccountToken({ namespace: ns, name: sa, body: { spec: { audiences } } });
  return res.status!.token;
}



/** Polls `fn` until it returns true (bounded: 15 s). */
async function eventually(what: string, fn: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (await fn().catch(() => false)) return;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

before(async () => {
  api = await startApiServer();
  core = api.kubeConfig.makeApiClient(CoreV1Api);
  for (const ns of ['mesh-system', 'apps']) await core.createNamespace({ body: { metadata: { name: ns } } });
  for (const sa of ['web', 'db', 'gone']) await core.createNamespacedServiceAccount({ namespace: 'apps', body: { metadata: { name: sa } } });
  await putIssuer(issuer1, root1.certPem);
  await putBundle(root1.certPem);
  svc = await startIdentityService({ kubeConfig: api.kubeConfig, host: '127.0.0.1', port: 0, logger: silentLogger() });
  client = new IdentityClient({ address: `127.0.0.1:${svc.port}`, bundle: root1.certPem });
});

after(async () => {
  client?.close();
  await svc?.stop();
  await api?.stop();
  await stopAll();
});

const WEB = spiffeId(TD, 'apps', 'web');

describe('Certify with real ServiceAccount tokens', () => {
  it('issues a leaf for a token with audience identity.mesh.io', async () => {
    const res = await client.certify({ identity: WEB, token: await tokenFor('apps', 'web'), csr: csrFor(WEB) });
    assert.equal(verifyChain(res.chainPem, root1.certPem).uri, WEB);
    assert.ok(res.chainPem.endsWith(issuer1.certPem));
  });

  it('UNAUTHENTICATED: a token for another audience', async () => {
    const e = await refused(client.certify({ identity: WEB, token: await tokenFor('apps', 'web', ['https://kubernetes.default.svc.cluster.local']), csr: csrFor(WEB) }));
    assert.equal(e.status, grpc.status.UNAUTHENTICATED);
    assert.match(e.details, /audience/);
  });

  it('UNAUTHENTICATED: an expired token (signed by the server’s own key an hour ago)', async () => {
    const sa = await core.readNamespacedServiceAccount({ namespace: 'apps', name: 'web' });
    const key = loadSigningKey(readFileSync(join(api.dataDir, 'sa.key'), 'utf8'));
    const { token } = issueServiceAccountToken(
      { key, issuer: 'https://kubernetes.default.svc.cluster.local', now: () => new Date(Date.now() - 7200_000) },
      { serviceAccount: sa as unknown as StoredObject, audiences: [AUD], expirationSeconds: 3600 },
    );
    const e = await refused(client.certify({ identity: WEB, token, csr: csrFor(WEB) }));
    assert.equal(e.status, grpc.status.UNAUTHENTICATED);
    assert.match(e.details, /expired/i);
  });

  it('UNAUTHENTICATED: the token of a deleted ServiceAccount', async () => {
    const token = await tokenFor('apps', 'gone');
    await core.deleteNamespacedServiceAccount({ namespace: 'apps', name: 'gone' });
    const id = spiffeId(TD, 'apps', 'gone');
    const e = await refused(client.certify({ identity: id, token, csr: csrFor(id) }));
    assert.equal(e.status, grpc.status.UNAUTHENTICATED);
  });

  it('PERMISSION_DENIED: a CSR for a different identity, or a request for another ServiceAccount', async () => {
    const token = await tokenFor('apps', 'web');
    const db = spiffeId(TD, 'apps', 'db');
    const e = await refused(client.certify({ identity: WEB, token, csr: csrFor(db) }));
    assert.equal(e.status, grpc.status.PERMISSION_DENIED);
    assert.match(e.details, /CSR asks for spiffe:\/\/mesh\.local\/ns\/apps\/sa\/db/);
    const e2 = await refused(client.certify({ identity: db, token, csr: csrFor(db) }));
    assert.equal(e2.status, grpc.status.PERMISSION_DENIED);
    assert.match(e2.details, /token proves ServiceAccount apps\/web/);
  });

  it('INVALID_ARGUMENT: a garbage CSR; RESOURCE_EXHAUSTED: an oversize request', async () => {
    const token = await tokenFor('apps', 'web');
    const e = await refused(client.certify({ identity: WEB, token, csr: Buffer.from('-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n') }));
    assert.equal(e.status, grpc.status.INVALID_ARGUMENT);
    assert.match(e.details, /CSR/);
    const e2 = await refused(client.certify({ identity: WEB, token, csr: Buffer.alloc(256 * 1024, 0x30) }));
    assert.equal(e2.status, grpc.status.RESOURCE_EXHAUSTED);
  });
});

describe('link credentials are never a workload identity (issue 17 item 6)', () => {
  it('the link ServiceAccount can mint an identity.mesh.io token for itself, and the Identity service refuses it', async () => {
    // The target side exactly as `mesh link` creates it: ServiceAccount, read-only ClusterRole, token renewal Role.
    const admin = await KubeClient.create(api.kubeConfig);
    try {
      for (const obj of renderLinkTargetRbac('north')) await admin.create(collectionPath(idOf(obj)), obj);
    } finally {
      admin.close();
    }
    const linkToken = (await core.createNamespacedServiceAccountToken({ namespace: 'mesh-system', name: 'mesh-link-north', body: { spec: { audiences: [], expirationSeconds: 86400 } } })).status!.token;
    // With its own credentials (the Secret in the source cluster holds them), it asks for the Identity audience.
    const asLink = new KubeConfig();
    asLink.loadFromOptions({
      clusters: [{ name: 'c', server: api.url, caData: Buffer.from(api.caPem).toString('base64') }],
      users: [{ name: 'link', token: linkToken }],
      contexts: [{ name: 'c', cluster: 'c', user: 'link' }],
      currentContext: 'c',
    });
    const minted = await asLink.makeApiClient(CoreV1Api).createNamespacedServiceAccountToken({ namespace: 'mesh-system', name: 'mesh-link-north', body: { spec: { audiences: [AUD] } } });
    const id = spiffeId(TD, 'mesh-system', 'mesh-link-north');
    const e = await refused(client.certify({ identity: id, token: minted.status!.token, csr: csrFor(id) }));
    assert.equal(e.status, grpc.status.PERMISSION_DENIED);
    assert.match(e.details, /link ServiceAccount/);
    // A workload ServiceAccount of the mesh namespace is still served (only link credentials are refused).
    await core.createNamespacedServiceAccount({ namespace: 'mesh-system', body: { metadata: { name: 'mesh-gateway' } } });
    const gw = spiffeId(TD, 'mesh-system', 'mesh-gateway');
    const ok = await client.certify({ identity: gw, token: await tokenFor('mesh-system', 'mesh-gateway'), csr: csrFor(gw) });
    assert.equal(verifyChain(ok.chainPem, root1.certPem).uri, gw);
  });
});

describe('issuer reload from the Secret', () => {
  it('an invalid Secret is logged and ignored (the last good issuer keeps signing); a valid one is picked up', async () => {
    const good = await core.readNamespacedSecret({ namespace: 'mesh-system', name: 'mesh-issuer' });
    await core.replaceNamespacedSecret({ namespace: 'mesh-system', name: 'mesh-issuer', body: { ...good, data: { ...good.data, 'tls.key': b64('not a key') } } });
    // Give the watch time to deliver the bad Secret, then check the service still signs with issuer1.
    await new Promise((r) => setTimeout(r, 500));
    const res = await client.certify({ identity: WEB, token: await tokenFor('apps', 'web'), csr: csrFor(WEB) });
    assert.ok(res.chainPem.endsWith(issuer1.certPem));
    const other = createIssuer({ root: root1, clusterName: 'cluster-a' });
    await putIssuer(other, root1.certPem);
    await eventually('the new issuer', async () => (await client.certify({ identity: WEB, token: await tokenFor('apps', 'web'), csr: csrFor(WEB) })).chainPem.endsWith(other.certPem));
    await putIssuer(issuer1, root1.certPem);
    await eventually('issuer1 again', async () => (await client.certify({ identity: WEB, token: await tokenFor('apps', 'web'), csr: csrFor(WEB) })).chainPem.endsWith(issuer1.certPem));
  });
});

describe('root rotation with live connections', () => {
  it('add new root → reissue issuer → remove old root: no connection refused or dropped at any step', async () => {
    const root2 = createRoot({ trustDomain: TD });
    const address = `127.0.0.1:${svc.port}`;
    const mk = (sa: string) => new CertificateManager({ identity: spiffeId(TD, 'apps', sa), address, token: () => tokenFor('apps', sa), bundle: getBundle, backoffInitialMs: 100, backoffMaxMs: 500 });
    const server = mk('db');
    const clientMgr = mk('web');
    await Promise.all([server.start(), clientMgr.start()]);

    // A workload server: echoes, says who called; takes new credentials (and bundle) for new handshakes.
    const srv = tls.createServer(server.serverTlsOptions(), (s) => {
      const who = peerIdentity(s, { trustDomain: TD }).uri;
      s.on('data', (d: Buffer) => s.write(`${who}:${d}`));
    });
    server.on('credentials', () => srv.setSecureContext(server.secureContextOptions()));
    const refusedHandshakes: string[] = [];
    srv.on('tlsClientError', (err) => refusedHandshakes.push(err.message));
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as { port: number }).port;

    const open = () => new Promise<tls.TLSSocket>((resolve, reject) => {
      const s = tls.connect({ host: '127.0.0.1', port, ...clientMgr.clientTlsOptions({ expectedIdentity: spiffeId(TD, 'apps', 'db') }) });
      s.once('secureConnect', () => resolve(s));
      s.once('error', reject);
    });
    const ping = (s: tls.TLSSocket, msg: string) => new Promise<string>((resolve, reject) => {
      s.once('data', (d: Buffer) => resolve(d.toString()));
      s.once('error', reject);
      s.write(msg);
    });
    const check = async (step: string) => {
      const s = await open();
      assert.equal(await ping(s, step), `${WEB}:${step}`, `new connection at ${step}`);
      s.destroy();
      assert.equal(await ping(longLived, step), `${WEB}:${step}`, `long-lived connection at ${step}`);
    };

    const longLived = await open();
    try {
      await check('start');

      // 1. Add the new root to the bundle; workloads pick it up (renewal re-reads the bundle).
      await putBundle(root1.certPem + root2.certPem);
      await Promise.all([server.renewNow(), clientMgr.renewNow()]);
      assert.equal(server.current()!.bundle.roots.length, 2);
      await check('bundle has both roots');

      // 2. Reissue the cluster's issuer under the new root; the service reloads it from the Secret.
      const issuer2 = createIssuer({ root: root2, clusterName: 'cluster-a' });
      await putIssuer(issuer2, root1.certPem + root2.certPem);
      await eventually('the service to sign with the new issuer', async () => {
        const r = await client.certify({ identity: WEB, token: await tokenFor('apps', 'web'), csr: csrFor(WEB) });
        return r.chainPem.endsWith(issuer2.certPem);
      });
      await server.renewNow(); // server on the new root, client still on the old one
      assert.ok(server.current()!.chainPem.endsWith(issuer2.certPem));
      assert.ok(clientMgr.current()!.chainPem.endsWith(issuer1.certPem));
      await check('server reissued, client not yet');
      await clientMgr.renewNow();
      await check('both reissued');

      // 3. Remove the old root.
      await putBundle(root2.certPem);
      await Promise.all([server.renewNow(), clientMgr.renewNow()]);
      assert.equal(server.current()!.bundle.roots.length, 1);
      await check('old root removed');
      // Anything still chained to the old root is now refused.
      assert.throws(() => verifyChain(issueOld(), TrustBundle.fromPem(root2.certPem)));
      assert.deepEqual(refusedHandshakes, []);
    } finally {
      longLived.destroy();
      server.stop();
      clientMgr.stop();
      await new Promise<void>((r) => srv.close(() => r()));
    }
  });
});

describe('a changed trust bundle renews a CertificateManager at once (issue 17 item 1)', () => {
  it('a root added to the ConfigMap reaches the manager without renewNow and long before the 70% renewal', async () => {
    const mgr = new CertificateManager({ identity: WEB, address: `127.0.0.1:${svc.port}`, token: () => tokenFor('apps', 'web'), bundle: getBundle, bundleCheckMs: 200, backoffInitialMs: 100, backoffMaxMs: 500 });
    try {
      const first = await mgr.start();
      const before = first.bundle.roots.length;
      const renewed = new Promise<void>((resolve) => mgr.on('credentials', (c) => { if (c.bundle.roots.length === before + 1) resolve(); }));
      const root3 = createRoot({ trustDomain: TD });
      await putBundle((await getBundle()) + root3.certPem);
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([renewed, new Promise((_, reject) => { timer = setTimeout(() => reject(new Error('no new credentials within 15 s of the bundle change')), 15_000); })]).finally(() => clearTimeout(timer));
      assert.ok(mgr.current()!.bundle.has(createRootFingerprint(root3.certPem)), 'the new root is in the bundle peers are verified with');
      assert.notEqual(mgr.current()!.keyPem, first.keyPem, 'a new leaf');
    } finally {
      mgr.stop();
    }
  });
});

const createRootFingerprint = (pem: string): string => TrustBundle.fromPem(pem).roots[0].fingerprint;

function issueOld(): string {
  return issueLeaf({ issuer: issuer1, identity: WEB, publicKey: generateKeyPair().publicKey }).chainPem;
}
