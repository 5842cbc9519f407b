// The server's own PKI, kept in the data dir: a CA (persisted, so kubeconfigs stay valid across
// restarts), a serving certificate (re-issued at each start, so new advertise addresses get SANs), the
// admin bearer token and the service-account signing key (EC P-256, PKCS#8).
import { constants, createPrivateKey, generateKeyPairSync, privateEncrypt, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import forge from 'node-forge';

export interface ServerPki {
  caPem: string;
  certPem: string;
  keyPem: string;
  adminToken: string;
  saSigningKeyPem: string;
}

function rsaKeyPem(): string {
  // Node's native RSA generation is fast; node-forge signs the certificates (it cannot sign with EC keys).
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
}

/**
 * A node-forge signer backed by Node's native RSA: forge builds the certificate, OpenSSL does the
 * (otherwise slow, pure-JS) private-key operation. RSASSA-PKCS1-v1_5 = private-encrypt(DigestInfo).
 */
function nativeSigner(keyPem: string): { sign(md: forge.md.MessageDigest): string } {
  const key = createPrivateKey(keyPem);
  const sha256Prefix = Buffer.from('3031300d060960864801650304020105000420', 'hex');
  return {
    sign(md) {
      const digest = Buffer.from(md.digest().getBytes(), 'binary');
      const sig = privateEncrypt({ key, padding: constants.RSA_PKCS1_PADDING }, Buffer.concat([sha256Prefix, digest]));
      return sig.toString('binary');
    },
  };
}

function publicKeyOf(keyPem: string): forge.pki.PublicKey {
  const spki = createPrivateKey(keyPem).export({ type: 'pkcs1', format: 'pem' }).toString();
  const k = forge.pki.privateKeyFromPem(spki);
  return forge.pki.setRsaPublicKey(k.n, k.e);
}

function serial(): string {
  // Positive, 16 bytes.
  return '01' + randomBytes(15).toString('hex');
}

function makeCa(clusterName: string): { certPem: string; keyPem: string } {
  const keyPem = rsaKeyPem();
  const cert = forge.pki.createCertificate();
  cert.publicKey = publicKeyOf(keyPem);
  cert.serialNumber = serial();
  cert.validity.notBefore = new Date(Date.now() - 60_000);
  cert.validity.notAfter = new Date(Date.now() + 10 * 365 * 24 * 3600_000);
  const attrs = [{ name: 'commonName', value: `${clusterName}-apiserver-ca` }];
  cert.setSubject(attrs);
  cert.setIssuer(attrs);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(nativeSigner(keyPem) as unknown as forge.pki.rsa.PrivateKey, forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem };
}

function makeServing(caCertPem: string, caKeyPem: string, names: string[]): { certPem: string; keyPem: string } {
  const keyPem = rsaKeyPem();
  const caCert = forge.pki.certificateFromPem(caCertPem);
  const cert = forge.pki.createCertificate();
  cert.publicKey = publicKeyOf(keyPem);
  cert.serialNumber = serial();
  cert.validity.notBefore = new Date(Date.now() - 60_000);
  cert.validity.notAfter = new Date(Date.now() + 365 * 24 * 3600_000);
  cert.setSubject([{ name: 'commonName', value: 'kube-apiserver' }]);
  cert.setIssuer(caCert.subject.attributes);
  const altNames = [...new Set(names)].map((n) => (isIP(n) ? { type: 7, ip: n } : { type: 2, value: n }));
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    { name: 'subjectAltName', altNames },
  ]);
  cert.sign(nativeSigner(caKeyPem) as unknown as forge.pki.rsa.PrivateKey, forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem };
}

function readOr(path: string, make: () => string): string {
  if (existsSync(path)) return readFileSync(path, 'utf8');
  const v = make();
  writeFileSync(path, v, { mode: 0o600 });
  return v;
}

/** Loads or creates the server's PKI in `dataDir`; the serving cert covers `names` (IPs and DNS names). */
export function loadPki(dataDir: string, clusterName: string, names: string[]): ServerPki {
  mkdirSync(dataDir, { recursive: true });
  const caCrt = join(dataDir, 'ca.crt');
  const caKey = join(dataDir, 'ca.key');
  let ca: { certPem: string; keyPem: string };
  if (existsSync(caCrt) && existsSync(caKey)) ca = { certPem: readFileSync(caCrt, 'utf8'), keyPem: readFileSync(caKey, 'utf8') };
  else {
    ca = makeCa(clusterName);
    writeFileSync(caKey, ca.keyPem, { mode: 0o600 });
    writeFileSync(caCrt, ca.certPem);
  }
  const serving = makeServing(ca.certPem, ca.keyPem, names);
  writeFileSync(join(dataDir, 'apiserver.crt'), serving.certPem);
  writeFileSync(join(dataDir, 'apiserver.key'), serving.keyPem, { mode: 0o600 });
  const adminToken = readOr(join(dataDir, 'admin-token'), () => randomBytes(32).toString('base64url')).trim();
  const saSigningKeyPem = readOr(join(dataDir, 'sa.key'), () =>
    generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  );
  return { caPem: ca.certPem, certPem: serving.certPem, keyPem: serving.keyPem, adminToken, saSigningKeyPem };
}

/** The admin kubeconfig (YAML is a superset of JSON, so JSON is a valid kubeconfig and needs no YAML writer). */
export function kubeconfigText(clusterName: string, url: string, caPem: string, token: string): string {
  const doc = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: clusterName, cluster: { server: url, 'certificate-authority-data': Buffer.from(caPem).toString('base64') } }],
    users: [{ name: clusterName, user: { token } }],
    contexts: [{ name: clusterName, context: { cluster: clusterName, user: clusterName } }],
    'current-context': clusterName,
    preferences: {},
  };
  return JSON.stringify(doc, null, 2) + '\n';
}
