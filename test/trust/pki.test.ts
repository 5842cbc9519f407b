// PKI and TLS: chains built here are checked by Node's TLS stack (real sockets) and by openssl, an
// independent implementation.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import tls from 'node:tls';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate, randomBytes } from 'node:crypto';
import {
  createRoot, createIssuer, issueLeaf, generateKeyPair, createCsr, parseCsr, spiffeId, parseSpiffeId, TrustBundle,
  serverTlsOptions, clientTlsOptions, peerIdentity, verifyChain, isTrustError, writeRoot, readRoot, writeIssuer, readIssuer,
  parseCertPem, type CertificateAuthority, type SpiffeId,
} from '../../src/trust/index.js';
import { tbsCertificate } from '../../src/trust/pki.js';
import { OID, bits, ctx, extension, name, randomSerial, seq, signed, toPem } from '../../src/trust/der.js';

const execFileP = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'trust-pki-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const TD = 'mesh.local';
const root = createRoot({ trustDomain: TD });
const issuerA = createIssuer({ root, clusterName: 'cluster-a' });
const issuerB = createIssuer({ root, clusterName: 'cluster-b' });

interface Workload { keyPem: string; chainPem: string; identity: string }
function workload(issuer: CertificateAuthority, ns: string, sa: string, opts: { now?: Date; ttlSeconds?: number } = {}): Workload {
  const kp = generateKeyPair();
  const identity = spiffeId(issuer.trustDomain, ns, sa);
  const leaf = issueLeaf({ issuer, identity, publicKey: kp.publicKey, ...opts });
  return { keyPem: kp.keyPem, chainPem: leaf.chainPem, identity };
}

function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

/** A mutual-TLS handshake between a server and a client; reports what each side saw. */
// The server takes the handshake even with a bad client chain (requireClientCert false) so that the
// refusal comes from peerIdentity() with OpenSSL's reason; `strict` uses the default (refuse in TLS).
async function handshake(server: Workload, client: Workload, bundlePem: string, strict = false): Promise<{ ok: boolean; serverSaw?: SpiffeId; serverError?: string; clientError?: string }> {
  const serverTrustDomain = TD;
  let serverSaw: SpiffeId | undefined;
  let serverError: string | undefined;
  const srv = tls.createServer(serverTlsOptions({ keyPem: server.keyPem, chainPem: server.chainPem, bundle: bundlePem }, { requireClientCert: strict }), (sock) => {
    try {
      serverSaw = peerIdentity(sock, { trustDomain: serverTrustDomain });
      sock.end('hello');
    } catch (err) {
      serverError = (err as Error).message;
      sock.destroy();
    }
  });
  srv.on('tlsClientError', (err) => { serverError = err.message; });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  try {
    const data = await new Promise<string>((resolve, reject) => {
      const s = tls.connect({ host: '127.0.0.1', port, ...clientTlsOptions({ keyPem: client.keyPem, chainPem: client.chainPem, bundle: bundlePem }, { expectedIdentity: server.identity }) });
      let got = '';
      s.on('data', (d: Buffer) => { got += d.toString(); });
      s.on('end', () => resolve(got));
      s.on('close', () => resolve(got));
      s.on('error', reject);
    });
    return { ok: data === 'hello', serverSaw, serverError };
  } catch (err) {
    return { ok: false, serverSaw, serverError, clientError: (err as Error).message };
  } finally {
    await new Promise<void>((r) => srv.close(() => r()));
  }
}

describe('spiffe ids', () => {
  it('builds and parses workload ids and refuses malformed ones', () => {
    assert.equal(spiffeId('mesh.local', 'default', 'web'), 'spiffe://mesh.local/ns/default/sa/web');
    const id = parseSpiffeId('spiffe://mesh.local/ns/default/sa/web');
    assert.deepEqual([id.trustDomain, id.namespace, id.serviceAccount], ['mesh.local', 'default', 'web']);
    for (const bad of ['http://mesh.local/ns/a/sa/b', 'spiffe://Mesh.Local/x', 'spiffe://mesh.local/ns//sa/b', 'spiffe://mesh.local/../x', 'spiffe://mesh.local/ns/a/sa/b/']) {
      assert.throws(() => parseSpiffeId(bad), (e: unknown) => isTrustError(e, 'INVALID_SPIFFE_ID'), bad);
    }
    assert.throws(() => spiffeId('mesh.local', 'Bad_NS', 'x'), (e: unknown) => isTrustError(e, 'INVALID_SPIFFE_ID'));
  });
});

describe('certificates', () => {
  it('root, issuer and leaf carry the constraints the design asks for', () => {
    const r = new X509Certificate(root.certPem);
    const i = new X509Certificate(issuerA.certPem);
    const w = workload(issuerA, 'default', 'web');
    const l = new X509Certificate(w.chainPem.split('-----END CERTIFICATE-----')[0] + '-----END CERTIFICATE-----\n');
    assert.equal(r.ca, true);
    assert.equal(i.ca, true);
    assert.equal(l.ca, false);
    assert.ok(i.checkIssued(r) && i.verify(r.publicKey));
    assert.ok(l.checkIssued(i) && l.verify(i.publicKey));
    assert.equal(l.subjectAltName, 'URI:spiffe://mesh.local/ns/default/sa/web');
    assert.deepEqual(l.keyUsage, ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']);
    assert.match(i.subject, /OU=cluster-a/);
    assert.equal(issuerA.clusterName, 'cluster-a');
    assert.equal(issuerA.trustDomain, TD);
    const ttl = (new Date(l.validTo).getTime() - Date.now()) / 1000;
    assert.ok(ttl > 86_000 && ttl <= 86_400, `leaf lives 24 h by default, got ${ttl}s`);
  });

  it('openssl verify accepts the chain and shows pathlen 0 and the URI name constraint', async () => {
    const w = workload(issuerA, 'default', 'web');
    const leafPem = w.chainPem.slice(0, w.chainPem.indexOf('-----END CERTIFICATE-----') + 26);
    const { stdout } = await execFileP('openssl', ['verify', '-CAfile', file('root.crt', root.certPem), '-untrusted', file('issuerA.crt', issuerA.certPem), file('leaf.crt', leafPem)]);
    assert.match(stdout, /leaf\.crt: OK/);
    const text = (await execFileP('openssl', ['x509', '-in', file('issuerA2.crt', issuerA.certPem), '-noout', '-text'])).stdout;
    assert.match(text, /CA:TRUE, pathlen:0/);
    assert.match(text, /Permitted:\s+URI:mesh\.local/);
    // A chain from another root fails openssl too.
    const other = createRoot({ trustDomain: TD });
    await assert.rejects(execFileP('openssl', ['verify', '-CAfile', file('other.crt', other.certPem), '-untrusted', file('issuerA3.crt', issuerA.certPem), file('leaf2.crt', leafPem)]));
  });

  it('a leaf never outlives its issuer', () => {
    const shortIssuer = createIssuer({ root, clusterName: 'short', validityDays: 0.5 });
    const kp = generateKeyPair();
    const leaf = issueLeaf({ issuer: shortIssuer, identity: spiffeId(TD, 'a', 'b'), publicKey: kp.publicKey, ttlSeconds: 86_400 });
    assert.ok(leaf.notAfter.getTime() <= shortIssuer.notAfter.getTime());
    assert.throws(() => issueLeaf({ issuer: shortIssuer, identity: spiffeId(TD, 'a', 'b'), publicKey: kp.publicKey, now: new Date(Date.now() + 86_400_000) }), (e: unknown) => isTrustError(e, 'ISSUER_EXPIRED'));
  });

  it('an issuer refuses identities of another trust domain', () => {
    const kp = generateKeyPair();
    assert.throws(() => issueLeaf({ issuer: issuerA, identity: 'spiffe://other.local/ns/a/sa/b', publicKey: kp.publicKey }), (e: unknown) => isTrustError(e, 'WRONG_TRUST_DOMAIN'));
  });

  it('CSRs round-trip, and a tampered CSR or a CSR for another identity is refused', () => {
    const kp = generateKeyPair();
    const id = spiffeId(TD, 'default', 'web');
    const csr = createCsr({ key: kp.key, identity: id });
    const parsed = parseCsr(csr);
    assert.deepEqual(parsed.uris, [id]);
    assert.equal(parsed.otherSans, false);
    const der = Buffer.from(csr.replace(/-----[^-]+-----|\s/g, ''), 'base64');
    der[der.length - 70] ^= 0x01; // flip a bit in the signed part
    assert.throws(() => parseCsr(toPem(der, 'CERTIFICATE REQUEST')), (e: unknown) => isTrustError(e, 'CSR_SIGNATURE') || isTrustError(e, 'INVALID_CSR'));
    // A public key that is not a point on P-256 (one bit flipped in x) is refused, not imported.
    const badPoint = Buffer.from(der);
    badPoint[der.length - 70] ^= 0x01; // undo the signature-part flip
    badPoint[badPoint.indexOf(Buffer.from('034200', 'hex')) + 14] ^= 0x01;
    assert.throws(() => parseCsr(badPoint), (e: unknown) => isTrustError(e, 'INVALID_CSR') && /public key/.test((e as Error).message));
    assert.throws(() => parseCsr('not a csr'), (e: unknown) => isTrustError(e, 'INVALID_CSR'));
    assert.throws(() => parseCsr(randomBytes(300)), (e: unknown) => isTrustError(e, 'INVALID_CSR'));
    assert.throws(() => issueLeaf({ issuer: issuerA, identity: spiffeId(TD, 'default', 'other'), csr }), (e: unknown) => isTrustError(e, 'INVALID_CSR'));
    const leaf = issueLeaf({ issuer: issuerA, identity: id, csr });
    assert.equal(verifyChain(leaf.chainPem, root.certPem).uri, id);
  });

  it('files round-trip and keys are checked against certificates', async () => {
    const d = join(dir, 'files');
    await writeRoot(d, root);
    await writeIssuer(d, issuerA);
    const r2 = await readRoot(d);
    const i2 = await readIssuer(d);
    assert.equal(r2.certPem, root.certPem);
    assert.equal(i2.clusterName, 'cluster-a');
    await assert.rejects(writeRoot(d, root), (e: unknown) => isTrustError(e, 'FILE_ERROR'));
    await assert.rejects(readRoot(join(dir, 'nowhere')), (e: unknown) => isTrustError(e, 'FILE_ERROR'));
  });
});

describe('mutual TLS with mesh identities', () => {
  const bundle = root.certPem;

  it('a leaf from cluster A is accepted by a server with cluster B’s issuer under the same root', async () => {
    const server = workload(issuerB, 'mesh-system', 'mesh-gateway');
    const client = workload(issuerA, 'default', 'web');
    const r = await handshake(server, client, bundle);
    assert.equal(r.ok, true, JSON.stringify(r));
    assert.equal(r.serverSaw?.uri, 'spiffe://mesh.local/ns/default/sa/web');
  });

  it('openssl s_client (an independent client) completes mTLS with a Node server', async () => {
    const server = workload(issuerB, 'mesh-system', 'mesh-gateway');
    const client = workload(issuerA, 'default', 'web');
    let seen: string | undefined;
    const srv = tls.createServer(serverTlsOptions({ keyPem: server.keyPem, chainPem: server.chainPem, bundle }), (sock) => {
      seen = peerIdentity(sock, { trustDomain: TD }).uri;
      sock.end('hello\n');
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    try {
      const port = (srv.address() as { port: number }).port;
      const leafPem = client.chainPem.slice(0, client.chainPem.indexOf('-----END CERTIFICATE-----') + 26);
      // s_client exits 1 on the server's close; what counts is its verdict and the server's.
      const res = await execFileP('openssl', [
        's_client', '-connect', `127.0.0.1:${port}`, '-CAfile', file('sc-root.crt', bundle), '-verify_return_error',
        '-cert', file('sc-leaf.crt', leafPem), '-key', file('sc-leaf.key', client.keyPem), '-cert_chain', file('sc-issuer.crt', issuerA.certPem),
      ], { timeout: 10_000 }).catch((err: { stdout?: string }) => ({ stdout: err.stdout ?? '' }));
      const stdout = res.stdout;
      assert.match(stdout, /Verify return code: 0 \(ok\)/);
      assert.match(stdout, /hello/);
      assert.equal(seen, client.identity);
    } finally {
      await new Promise<void>((r) => srv.close(() => r()));
    }
  });

  it('refuses a leaf from a different root', async () => {
    const otherIssuer = createIssuer({ root: createRoot({ trustDomain: TD }), clusterName: 'cluster-a' });
    const r = await handshake(workload(issuerB, 'mesh-system', 'gw'), workload(otherIssuer, 'default', 'web'), bundle);
    assert.equal(r.ok, false);
    assert.equal(r.serverSaw, undefined);
    assert.match(r.serverError ?? '', /not trusted: .*(UNABLE_TO_GET_ISSUER_CERT|unable to get local issuer)/i);
    // And with the default server options the handshake itself fails.
    const strict = await handshake(workload(issuerB, 'mesh-system', 'gw'), workload(otherIssuer, 'default', 'web'), bundle, true);
    assert.equal(strict.ok, false);
    assert.equal(strict.serverSaw, undefined);
  });

  it('refuses an expired leaf', async () => {
    const expired = workload(issuerA, 'default', 'web', { now: new Date(Date.now() - 2 * 3600_000), ttlSeconds: 3600 });
    const r = await handshake(workload(issuerB, 'mesh-system', 'gw'), expired, bundle);
    assert.equal(r.ok, false);
    assert.match(r.serverError ?? '', /not trusted: .*expired/i);
    assert.throws(() => verifyChain(expired.chainPem, bundle), (e: unknown) => isTrustError(e, 'PEER_UNTRUSTED'));
  });

  it('refuses a leaf whose issuer is not a CA', async () => {
    // A cert signed by the root with CA:false, then used to sign a "leaf".
    const kp = generateKeyPair();
    const spki = kp.publicKey.export({ type: 'spki', format: 'der' });
    const subject = name({ O: TD, OU: 'rogue', CN: 'not a ca' });
    const der = signed(tbsCertificate({
      serial: randomSerial(randomBytes), issuer: root.cert.subjectDer, notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + 86_400_000),
      subject, spki, extensions: [extension(OID.basicConstraints, true, seq([])), extension(OID.keyUsage, true, bits(Buffer.from([0x86]), 1)), extension(OID.authorityKeyIdentifier, false, seq([ctx(0, false, root.keyId)]))],
    }), root.key);
    const notCaPem = toPem(der, 'CERTIFICATE');
    const fake: CertificateAuthority = { ...issuerA, cert: parseCertPem(notCaPem), certPem: notCaPem, key: kp.key, keyPem: kp.keyPem, keyId: Buffer.alloc(20, 1) };
    const client = workload(fake, 'default', 'web');
    const r = await handshake(workload(issuerB, 'mesh-system', 'gw'), client, bundle);
    assert.equal(r.ok, false);
    assert.match(r.serverError ?? '', /not trusted: .*(INVALID_CA|INVALID_PURPOSE)/i);
    assert.throws(() => verifyChain(client.chainPem, bundle), (e: unknown) => isTrustError(e, 'PEER_UNTRUSTED'));
  });

  it('refuses a leaf for another trust domain (peer identity check, and the issuer name constraint)', async () => {
    // 1. Another trust domain's root is in the bundle (a federation mistake): the chain verifies, the identity check refuses it.
    const otherRoot = createRoot({ trustDomain: 'other.local' });
    const otherIssuer = createIssuer({ root: otherRoot, clusterName: 'cluster-x' });
    const both = root.certPem + otherRoot.certPem;
    const r1 = await handshake(workload(issuerB, 'mesh-system', 'gw'), workload(otherIssuer, 'default', 'web'), both);
    assert.equal(r1.ok, false);
    assert.equal(r1.serverSaw, undefined);
    assert.match(r1.serverError ?? '', /not in trust domain mesh\.local/);
    // 2. Our issuer tricked into signing another domain's id: OpenSSL refuses it by the name constraint.
    const kp = generateKeyPair();
    const leaf = issueLeaf({ issuer: { ...issuerA, trustDomain: 'other.local' }, identity: 'spiffe://other.local/ns/default/sa/web', publicKey: kp.publicKey });
    const r2 = await handshake(workload(issuerB, 'mesh-system', 'gw'), { keyPem: kp.keyPem, chainPem: leaf.chainPem, identity: leaf.identity }, bundle);
    assert.equal(r2.ok, false);
    // Node names OpenSSL's error 47 (permitted subtree violation) UNSPECIFIED; openssl verify says it plainly.
    assert.match(r2.serverError ?? '', /not trusted/);
    const leafPem = leaf.certPem;
    const v = await execFileP('openssl', ['verify', '-CAfile', file('nc-root.crt', root.certPem), '-untrusted', file('nc-issuer.crt', issuerA.certPem), file('nc-leaf.crt', leafPem)])
      .then((x) => x.stdout + x.stderr, (err: { stdout?: string; stderr?: string }) => `${err.stdout ?? ''}${err.stderr ?? ''}`);
    assert.match(v, /permitted subtree violation/);
  });

  it('a client refuses a server whose identity is not the expected one', async () => {
    const server = workload(issuerB, 'default', 'impostor');
    const client = workload(issuerA, 'default', 'web');
    const r = await handshake({ ...server, identity: 'spiffe://mesh.local/ns/mesh-system/sa/mesh-gateway' }, client, bundle);
    assert.equal(r.ok, false);
    assert.match(r.clientError ?? '', /not the expected/);
  });

  it('a bundle with two roots accepts chains from both (rotation overlap)', async () => {
    const newRoot = createRoot({ trustDomain: TD });
    const newIssuer = createIssuer({ root: newRoot, clusterName: 'cluster-a' });
    const b = TrustBundle.fromPem(root.certPem).with(newRoot.certPem);
    assert.equal(b.roots.length, 2);
    const r = await handshake(workload(issuerB, 'mesh-system', 'gw'), workload(newIssuer, 'default', 'web'), b.pem());
    assert.equal(r.ok, true, JSON.stringify(r));
    assert.equal(b.without(newRoot.certPem).roots.length, 1);
    assert.throws(() => b.without(b.pem()), (e: unknown) => isTrustError(e, 'INVALID_ARGUMENT'));
  });
});
