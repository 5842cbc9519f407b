// Roots, per-cluster issuers and workload leaves. All keys are ECDSA P-256 (what Linkerd and Istio use):
// small keys, fast native signing (tens of microseconds), supported by every TLS stack we talk to.
// Structures are assembled by der.ts and signed with node:crypto.
import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { TrustError } from './errors.js';
import {
  OID, bits, bool, ctx, ecdsaSha256AlgId, extension, int, keyIdentifier, name, oid, octets, randomSerial, seq,
  signed, smallInt, time, toPem, type Asn1,
} from './der.js';
import { parseCertPem, subjectAttributes, type ParsedCert } from './x509.js';
import { parseWorkloadId, validateTrustDomain } from './spiffe.js';
import { parseCsr, type ParsedCsr } from './csr.js';

export const DEFAULT_ROOT_VALIDITY_DAYS = 3650;
export const DEFAULT_ISSUER_VALIDITY_DAYS = 365;
export const DEFAULT_LEAF_TTL_SECONDS = 24 * 3600;
/** notBefore is set this far in the past so that peers with slightly slow clocks accept a fresh cert. */
export const CLOCK_SKEW_MS = 60_000;
const DAY_MS = 86_400_000;

/** A CA we can sign with: the trust root, or a cluster's issuer. Holds parsed forms for fast signing. */
export interface CertificateAuthority {
  kind: 'root' | 'issuer';
  trustDomain: string;
  /** The cluster an issuer belongs to (its subject OU); undefined for a root. */
  clusterName?: string;
  cert: ParsedCert;
  certPem: string;
  key: KeyObject;
  keyPem: string;
  notBefore: Date;
  notAfter: Date;
  keyId: Buffer;
}

export interface Leaf {
  identity: string;
  certPem: string;
  certDer: Buffer;
  /** Leaf first, then the issuer: what a workload presents in TLS. */
  chainPem: string;
  notBefore: Date;
  notAfter: Date;
  serialHex: string;
}

export interface KeyPair {
  key: KeyObject;
  keyPem: string;
  publicKey: KeyObject;
}

export function generateKeyPair(): KeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return { key: privateKey, keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), publicKey };
}

/** Loads a PKCS#8 (or SEC1) PEM private key and requires P-256. */
export function loadPrivateKey(pem: string | KeyObject): KeyObject {
  let key: KeyObject;
  try {
    key = typeof pem === 'string' ? createPrivateKey(pem) : pem;
  } catch (err) {
    throw new TrustError('INVALID_KEY', `not a valid private key PEM: ${(err as Error).message}`);
  }
  requireP256(key, 'private key');
  return key;
}

export function loadPublicKey(pem: string | KeyObject): KeyObject {
  let key: KeyObject;
  try {
    key = typeof pem === 'string' ? createPublicKey(pem) : pem.type === 'private' ? createPublicKey(pem) : pem;
  } catch (err) {
    throw new TrustError('INVALID_KEY', `not a valid public key: ${(err as Error).message}`);
  }
  requireP256(key, 'public key');
  return key;
}

export function requireP256(key: KeyObject, what: string): void {
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new TrustError('INVALID_KEY', `${what} must be ECDSA P-256 (got ${key.asymmetricKeyType ?? 'unknown'} ${key.asymmetricKeyDetails?.namedCurve ?? ''})`.trim());
  }
}

const spkiOf = (pub: KeyObject): Buffer => pub.export({ type: 'spki', format: 'der' });

export interface TbsInput {
  serial: Buffer;
  /** The signer's subject, exactly as its certificate encodes it. */
  issuer: Asn1;
  notBefore: Date;
  notAfter: Date;
  subject: Asn1;
  /** SubjectPublicKeyInfo DER, embedded as is. */
  spki: Buffer;
  extensions: Asn1[];
}

const V3 = ctx(0, true, [smallInt(2)]);
const ECDSA_SHA256_ALG = ecdsaSha256AlgId();

/**
 * TBSCertificate DER. Already-encoded parts (the issuer name, the SPKI) are spliced in as bytes rather
 * than re-parsed, which keeps signing near the native floor. Exported for tests that need odd
 * certificates; not part of index.ts.
 */
export function tbsCertificate(t: TbsInput): Buffer {
  return seq([
    V3,
    int(t.serial),
    ECDSA_SHA256_ALG,
    t.issuer,
    seq([time(t.notBefore), time(t.notAfter)]),
    t.subject,
    t.spki,
    ctx(3, true, [seq(t.extensions)]),
  ]);
}

// keyUsage bits, first bit is the high bit of the first byte: digitalSignature(0), keyCertSign(5), cRLSign(6).
const KU_DIGITAL_SIGNATURE = Buffer.from([0x80]);
const KU_CA = Buffer.from([0x06]);

function caExtensions(keyId: Buffer, authorityKeyId: Buffer, pathLen: number, permittedUriDomain?: string): Asn1[] {
  const exts = [
    extension(OID.basicConstraints, true, seq([bool(true), smallInt(pathLen)])),
    extension(OID.keyUsage, true, bits(KU_CA, 1)),
    extension(OID.subjectKeyIdentifier, false, octets(keyId)),
    extension(OID.authorityKeyIdentifier, false, seq([ctx(0, false, authorityKeyId)])),
  ];
  if (permittedUriDomain !== undefined) {
    // Permitted URI subtree = the trust domain: OpenSSL matches it against the host part of spiffe://td/…,
    // so this issuer cannot mint identities of another trust domain that any verifier would accept.
    exts.push(extension(OID.nameConstraints, true, seq([ctx(0, true, [seq([ctx(6, false, permittedUriDomain)])])])));
  }
  return exts;
}

function authorityFrom(kind: 'root' | 'issuer', certPemText: string, key: KeyObject): CertificateAuthority {
  const cert = parseCertPem(certPemText);
  requireP256(key, `${kind} key`);
  if (!cert.x509.ca) throw new TrustError('INVALID_CERT', `the ${kind} certificate is not a CA (basicConstraints CA:false)`);
  if (!spkiOf(createPublicKey(key)).equals(cert.spkiDer)) {
    throw new TrustError('INVALID_KEY', `the ${kind} key does not belong to the ${kind} certificate`);
  }
  const attrs = subjectAttributes(cert);
  if (!attrs.O) throw new TrustError('INVALID_CERT', `the ${kind} certificate's subject has no O=<trust domain>; was it made by mesh trust?`);
  const trustDomain = validateTrustDomain(attrs.O);
  return {
    kind,
    trustDomain,
    clusterName: kind === 'issuer' ? attrs.OU : undefined,
    cert,
    certPem: certPemText.trim() + '\n',
    key,
    keyPem: key.export({ type: 'pkcs8', format: 'pem' }).toString(),
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
    keyId: keyIdentifier(cert.spkiDer),
  };
}

/** Loads a root or issuer from PEM cert + key, checking the key matches and the cert is a CA. */
export function loadAuthority(kind: 'root' | 'issuer', certPemText: string, keyPemText: string | KeyObject): CertificateAuthority {
  return authorityFrom(kind, onlyFirstCert(certPemText), loadPrivateKey(keyPemText));
}

function onlyFirstCert(pem: string): string {
  const m = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/.exec(pem);
  if (!m) throw new TrustError('INVALID_PEM', 'no CERTIFICATE PEM block found');
  return m[0] + '\n';
}

export interface CreateRootOptions {
  trustDomain: string;
  validityDays?: number;
  now?: Date;
  key?: KeyObject;
}

/** A self-signed trust anchor: CA:true pathLen 1 (root → issuer → leaf), keyCertSign + cRLSign. */
export function createRoot(opts: CreateRootOptions): CertificateAuthority {
  const trustDomain = validateTrustDomain(opts.trustDomain);
  const days = positive(opts.validityDays ?? DEFAULT_ROOT_VALIDITY_DAYS, 'validityDays');
  const now = opts.now ?? new Date();
  const key = opts.key ? loadPrivateKey(opts.key) : generateKeyPair().key;
  const spki = spkiOf(createPublicKey(key));
  const keyId = keyIdentifier(spki);
  // The key id in the CN keeps subjects of old and new roots distinct during a rotation.
  const subject = name({ O: trustDomain, CN: `mesh root ${trustDomain} ${keyId.subarray(0, 4).toString('hex')}` });
  const der = signed(
    tbsCertificate({
      serial: randomSerial(pooledRandom),
      issuer: subject,
      notBefore: new Date(now.getTime() - CLOCK_SKEW_MS),
      notAfter: new Date(now.getTime() + days * DAY_MS),
      subject,
      spki,
      extensions: caExtensions(keyId, keyId, 1),
    }),
    key,
  );
  return authorityFrom('root', toPem(der, 'CERTIFICATE'), key);
}

export interface CreateIssuerOptions {
  root: CertificateAuthority;
  clusterName: string;
  validityDays?: number;
  now?: Date;
  key?: KeyObject;
}

const CLUSTER_NAME_RE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** A cluster's intermediate: CA:true pathLen 0, subject O=<td> OU=<cluster>, URI name constraint = td. */
export function createIssuer(opts: CreateIssuerOptions): CertificateAuthority {
  const { root } = opts;
  if (root.kind !== 'root') throw new TrustError('INVALID_ARGUMENT', 'createIssuer needs a root, got an issuer');
  if (!CLUSTER_NAME_RE.test(opts.clusterName)) {
    throw new TrustError('INVALID_ARGUMENT', `cluster name ${JSON.stringify(opts.clusterName)} must be a DNS label (lower-case letters, digits, '-')`);
  }
  const days = positive(opts.validityDays ?? DEFAULT_ISSUER_VALIDITY_DAYS, 'validityDays');
  const now = opts.now ?? new Date();
  if (root.notAfter.getTime() <= now.getTime()) throw new TrustError('ISSUER_EXPIRED', `the root expired at ${root.notAfter.toISOString()}`);
  const key = opts.key ? loadPrivateKey(opts.key) : generateKeyPair().key;
  const spki = spkiOf(createPublicKey(key));
  const keyId = keyIdentifier(spki);
  const notAfter = new Date(Math.min(now.getTime() + days * DAY_MS, root.notAfter.getTime()));
  const der = signed(
    tbsCertificate({
      serial: randomSerial(pooledRandom),
      issuer: root.cert.subjectDer,
      notBefore: new Date(Math.max(now.getTime() - CLOCK_SKEW_MS, root.notBefore.getTime())),
      notAfter,
      subject: name({ O: root.trustDomain, OU: opts.clusterName, CN: `mesh issuer ${opts.clusterName}` }),
      spki,
      extensions: caExtensions(keyId, root.keyId, 0, root.trustDomain),
    }),
    root.key,
  );
  return authorityFrom('issuer', toPem(der, 'CERTIFICATE'), key);
}

export interface IssueLeafOptions {
  issuer: CertificateAuthority;
  /** spiffe://<td>/ns/<ns>/sa/<sa>, in the issuer's trust domain. */
  identity: string;
  /** The workload's public key (PEM, KeyObject), or a CSR (PEM/DER) whose signature is checked. */
  publicKey?: string | KeyObject;
  csr?: string | Buffer | ParsedCsr;
  ttlSeconds?: number;
  now?: Date;
}

/**
 * A workload certificate: URI SAN = identity (critical, the subject is empty as in Istio/SPIFFE),
 * digitalSignature, serverAuth + clientAuth, never outliving the issuer.
 */
export function issueLeaf(opts: IssueLeafOptions): Leaf {
  const { issuer } = opts;
  const id = parseWorkloadId(opts.identity);
  if (id.trustDomain !== issuer.trustDomain) {
    throw new TrustError('WRONG_TRUST_DOMAIN', `identity ${opts.identity} is not in the issuer's trust domain ${issuer.trustDomain}`);
  }
  let spki: Buffer;
  if (opts.csr !== undefined) {
    const csr = isParsedCsr(opts.csr) ? opts.csr : parseCsr(opts.csr);
    if (csr.uris.length > 0 && (csr.uris.length !== 1 || csr.uris[0] !== opts.identity)) {
      throw new TrustError('INVALID_CSR', `the CSR asks for ${csr.uris.join(', ')}, not ${opts.identity}`);
    }
    spki = csr.spkiDer;
  } else if (opts.publicKey !== undefined) {
    spki = spkiOf(loadPublicKey(opts.publicKey));
  } else {
    throw new TrustError('INVALID_ARGUMENT', 'issueLeaf needs a publicKey or a csr');
  }
  const ttl = positive(opts.ttlSeconds ?? DEFAULT_LEAF_TTL_SECONDS, 'ttlSeconds');
  const now = (opts.now ?? new Date()).getTime();
  if (issuer.notAfter.getTime() <= now) throw new TrustError('ISSUER_EXPIRED', `the issuer expired at ${issuer.notAfter.toISOString()}`);
  const notBefore = new Date(Math.max(now - CLOCK_SKEW_MS, issuer.notBefore.getTime()));
  const notAfter = new Date(Math.min(now + ttl * 1000, issuer.notAfter.getTime()));
  const serial = randomSerial(pooledRandom);
  const der = signed(
    tbsCertificate({
      serial,
      issuer: issuer.cert.subjectDer,
      notBefore,
      notAfter,
      subject: seq([]),
      spki,
      extensions: [
        extension(OID.basicConstraints, true, seq([])),
        extension(OID.keyUsage, true, bits(KU_DIGITAL_SIGNATURE, 7)),
        extension(OID.extKeyUsage, false, seq([oid(OID.serverAuth), oid(OID.clientAuth)])),
        extension(OID.authorityKeyIdentifier, false, seq([ctx(0, false, issuer.keyId)])),
        extension(OID.subjectAltName, true, seq([ctx(6, false, opts.identity)])),
      ],
    }),
    issuer.key,
  );
  const certPem = toPem(der, 'CERTIFICATE');
  return {
    identity: opts.identity,
    certPem,
    certDer: der,
    chainPem: certPem + issuer.certPem,
    // Validity is encoded in whole seconds.
    notBefore: new Date(Math.floor(notBefore.getTime() / 1000) * 1000),
    notAfter: new Date(Math.floor(notAfter.getTime() / 1000) * 1000),
    serialHex: serial.toString('hex'),
  };
}

// One getrandom call per 256 serials instead of one per certificate.
let pool = Buffer.alloc(0);
let poolAt = 0;
function pooledRandom(n: number): Buffer {
  if (poolAt + n > pool.length) {
    pool = randomBytes(4096);
    poolAt = 0;
  }
  const out = Buffer.from(pool.subarray(poolAt, poolAt + n));
  poolAt += n;
  return out;
}

function isParsedCsr(v: unknown): v is ParsedCsr {
  return typeof v === 'object' && v !== null && !Buffer.isBuffer(v) && 'spkiDer' in v;
}

function positive(n: number, what: string): number {
  if (!Number.isFinite(n) || n <= 0) throw new TrustError('INVALID_ARGUMENT', `${what} must be a positive number, got ${n}`);
  return n;
}
