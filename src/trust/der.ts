// DER building (node-forge's asn1 module) and signing (Node's native crypto). forge gives us the
// ASN.1 structures; it cannot do ECDSA, and its RSA signing in pure JS is slow, so every signature
// here is made and checked by OpenSSL through node:crypto.
import forge from 'node-forge';
import { createHash, sign, type KeyObject } from 'node:crypto';
import { TrustError } from './errors.js';

export type Asn1 = forge.asn1.Asn1;
const A = forge.asn1;
const U = A.Class.UNIVERSAL;
const T = A.Type;

export const OID = {
  ecPublicKey: '1.2.840.10045.2.1',
  prime256v1: '1.2.840.10045.3.1.7',
  ecdsaWithSHA256: '1.2.840.10045.4.3.2',
  commonName: '2.5.4.3',
  organization: '2.5.4.10',
  organizationalUnit: '2.5.4.11',
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  nameConstraints: '2.5.29.30',
  authorityKeyIdentifier: '2.5.29.35',
  extKeyUsage: '2.5.29.37',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
  extensionRequest: '1.2.840.113549.1.9.14',
} as const;

// forge works on "binary strings" (one char per byte); these two convert at the edges.
export const bin = (b: Buffer | Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('latin1');
export const buf = (s: string): Buffer => Buffer.from(s, 'latin1');

export const seq = (v: Asn1[]): Asn1 => A.create(U, T.SEQUENCE, true, v);
export const set = (v: Asn1[]): Asn1 => A.create(U, T.SET, true, v);
export const oid = (o: string): Asn1 => A.create(U, T.OID, false, A.oidToDer(o).getBytes());
export const int = (bytes: Buffer): Asn1 => A.create(U, T.INTEGER, false, bin(bytes));
export const smallInt = (n: number): Asn1 => A.create(U, T.INTEGER, false, A.integerToDer(n).getBytes());
export const bool = (v: boolean): Asn1 => A.create(U, T.BOOLEAN, false, v ? '\xff' : '\x00');
export const octets = (bytes: Buffer): Asn1 => A.create(U, T.OCTETSTRING, false, bin(bytes));
export const bits = (bytes: Buffer, unused = 0): Asn1 => A.create(U, T.BITSTRING, false, String.fromCharCode(unused) + bin(bytes));
export const utf8 = (s: string): Asn1 => A.create(U, T.UTF8, false, forge.util.encodeUtf8(s));
export const nul = (): Asn1 => A.create(U, T.NULL, false, '');
export const ctx = (tag: number, constructed: boolean, v: string | Asn1[]): Asn1 => A.create(A.Class.CONTEXT_SPECIFIC, tag, constructed, v);
export const toDer = (a: Asn1): Buffer => buf(A.toDer(a).getBytes());
export const derToOid = (content: Buffer): string => A.derToOid(bin(content));

/** RFC 5280: UTCTime through 2049, GeneralizedTime after. Whole seconds. */
export function time(d: Date): Asn1 {
  const t = new Date(Math.floor(d.getTime() / 1000) * 1000);
  return t.getUTCFullYear() < 2050 ? A.create(U, T.UTCTIME, false, A.dateToUtcTime(t)) : A.create(U, T.GENERALIZEDTIME, false, A.dateToGeneralizedTime(t));
}

export interface NameAttrs {
  O?: string;
  OU?: string;
  CN?: string;
}

export function name(attrs: NameAttrs): Asn1 {
  const rdns: Asn1[] = [];
  if (attrs.O !== undefined) rdns.push(set([seq([oid(OID.organization), utf8(attrs.O)])]));
  if (attrs.OU !== undefined) rdns.push(set([seq([oid(OID.organizationalUnit), utf8(attrs.OU)])]));
  if (attrs.CN !== undefined) rdns.push(set([seq([oid(OID.commonName), utf8(attrs.CN)])]));
  return seq(rdns);
}

export function extension(id: string, critical: boolean, value: Asn1): Asn1 {
  const parts = [oid(id)];
  if (critical) parts.push(bool(true));
  parts.push(octets(toDer(value)));
  return seq(parts);
}

export const ecdsaSha256AlgId = (): Asn1 => seq([oid(OID.ecdsaWithSHA256)]);

/** A positive 16-byte serial (RFC 5280 allows up to 20; at least 64 random bits per CA/B rules). */
export function randomSerial(rand: (n: number) => Buffer): Buffer {
  const s = rand(16);
  s[0] = (s[0]! & 0x7f) | 0x40; // positive, and minimal DER (no leading zero byte needed)
  return s;
}

/** Signs DER `tbs` with an ECDSA P-256 key: OpenSSL emits the DER ECDSA-Sig-Value X.509 wants. */
export function signEcdsaSha256(tbs: Buffer, key: KeyObject): Buffer {
  return sign('sha256', tbs, key);
}

/** The whole signed structure: SEQUENCE { tbs, algorithm, BIT STRING signature }. */
export function signed(tbsDer: Buffer, key: KeyObject): Buffer {
  const sig = signEcdsaSha256(tbsDer, key);
  const alg = toDer(ecdsaSha256AlgId());
  const sigBits = toDer(bits(sig));
  const body = Buffer.concat([tbsDer, alg, sigBits]);
  return Buffer.concat([derHeader(0x30, body.length), body]);
}

export function derHeader(tag: number, len: number): Buffer {
  if (len < 0x80) return Buffer.from([tag, len]);
  const bytes: number[] = [];
  for (let l = len; l > 0; l >>= 8) bytes.unshift(l & 0xff);
  return Buffer.from([tag, 0x80 | bytes.length, ...bytes]);
}

/** One DER element: where it starts, its tag, and where its content lies. For slicing signed bytes. */
export interface Tlv {
  tag: number;
  start: number;
  contentStart: number;
  end: number;
}

export function readTlv(b: Buffer, offset: number): Tlv {
  const fail = (): never => {
    throw new TrustError('INVALID_CERT', `malformed DER at byte ${offset}`);
  };
  if (offset + 2 > b.length) fail();
  const tag = b[offset]!;
  if ((tag & 0x1f) === 0x1f) fail(); // high tag numbers never occur in the structures we read
  let len = b[offset + 1]!;
  let p = offset + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || p + n > b.length) fail();
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + b[p + i]!;
    p += n;
  }
  if (p + len > b.length) fail();
  return { tag, start: offset, contentStart: p, end: p + len };
}

/** The children of a constructed element. */
export function children(b: Buffer, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let p = parent.contentStart; p < parent.end; ) {
    const t = readTlv(b, p);
    out.push(t);
    p = t.end;
  }
  return out;
}

/** RFC 5280 method 1 key identifier: SHA-1 of the subjectPublicKey bits of an SPKI. */
export function keyIdentifier(spkiDer: Buffer): Buffer {
  const outer = readTlv(spkiDer, 0);
  const [, bitString] = children(spkiDer, outer);
  if (!bitString || bitString.tag !== 0x03) throw new TrustError('INVALID_KEY', 'SubjectPublicKeyInfo has no BIT STRING');
  return createHash('sha1').update(spkiDer.subarray(bitString.contentStart + 1, bitString.end)).digest();
}

export function toPem(der: Buffer, label: string): string {
  const b64 = der.toString('base64');
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += 64) lines.push(b64.slice(i, i + 64));
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

const PEM_RE = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;

/** Every PEM block with the given label, as DER. */
export function pemBlocks(pem: string, label: string): Buffer[] {
  const out: Buffer[] = [];
  for (const m of pem.matchAll(PEM_RE)) {
    if (m[1] !== label) continue;
    const body = m[2]!.replace(/\s+/g, '');
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(body)) throw new TrustError('INVALID_PEM', `${label} PEM block is not base64`);
    out.push(Buffer.from(body, 'base64'));
  }
  return out;
}
