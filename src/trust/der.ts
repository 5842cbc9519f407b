// DER encoding and reading for the certificates and CSRs the mesh makes (a small, fixed set of structures)
// and signing with Node's native crypto. An encoded element is a Buffer: builders take encoded children,
// so already-encoded parts (an issuer's subject, an SPKI) are spliced in as bytes. No ASN.1 library: the
// gateway loads this module, and node-forge alone would add ~12 MB to its resident memory.
import { createHash, sign, type KeyObject } from 'node:crypto';
import { TrustError } from './errors.js';

/** One encoded DER element (tag, length, content). */
export type Asn1 = Buffer;

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

export function derHeader(tag: number, len: number): Buffer {
  if (len < 0x80) return Buffer.from([tag, len]);
  const bytes: number[] = [];
  for (let l = len; l > 0; l = Math.floor(l / 256)) bytes.unshift(l & 0xff);
  return Buffer.from([tag, 0x80 | bytes.length, ...bytes]);
}

const tlv = (tag: number, content: Buffer): Asn1 => Buffer.concat([derHeader(tag, content.length), content]);

export const seq = (v: Asn1[]): Asn1 => tlv(0x30, Buffer.concat(v));
/** A SET of one element (DER would sort several by encoding; the mesh's names have one per RDN). */
export const set = (v: Asn1[]): Asn1 => tlv(0x31, Buffer.concat(v));
export const oid = (o: string): Asn1 => tlv(0x06, oidContent(o));
/** An INTEGER from its content bytes (the caller makes them minimal and positive, see randomSerial). */
export const int = (bytes: Buffer): Asn1 => tlv(0x02, bytes);
export const smallInt = (n: number): Asn1 => tlv(0x02, intContent(n));
export const bool = (v: boolean): Asn1 => tlv(0x01, Buffer.from([v ? 0xff : 0x00]));
export const octets = (bytes: Buffer): Asn1 => tlv(0x04, bytes);
export const bits = (bytes: Buffer, unused = 0): Asn1 => tlv(0x03, Buffer.concat([Buffer.from([unused]), bytes]));
export const utf8 = (s: string): Asn1 => tlv(0x0c, Buffer.from(s, 'utf8'));
export const nul = (): Asn1 => Buffer.from([0x05, 0x00]);
/** A context-specific [tag]: constructed from elements, or primitive with raw content (a string is taken
 * byte for byte, e.g. an IA5String URI). */
export const ctx = (tag: number, constructed: boolean, v: string | Buffer | Asn1[]): Asn1 =>
  tlv(0x80 | (constructed ? 0x20 : 0) | tag, Array.isArray(v) ? Buffer.concat(v) : typeof v === 'string' ? Buffer.from(v, 'latin1') : v);

const oidCache = new Map<string, Buffer>();

function oidContent(o: string): Buffer {
  const cached = oidCache.get(o);
  if (cached) return cached;
  const arcs = o.split('.').map(Number);
  if (arcs.length < 2 || arcs.some((a) => !Number.isSafeInteger(a) || a < 0) || arcs[0]! > 2) throw new TrustError('INVALID_ARGUMENT', `${o} is not an OID`);
  const out: number[] = [];
  const push = (n: number) => {
    const groups = [n & 0x7f];
    for (n = Math.floor(n / 128); n > 0; n = Math.floor(n / 128)) groups.unshift((n & 0x7f) | 0x80);
    out.push(...groups);
  };
  push(arcs[0]! * 40 + arcs[1]!);
  for (const a of arcs.slice(2)) push(a);
  const b = Buffer.from(out);
  oidCache.set(o, b);
  return b;
}

function intContent(n: number): Buffer {
  if (!Number.isSafeInteger(n) || n < 0) throw new TrustError('INVALID_ARGUMENT', `${n} is not a small non-negative integer`);
  const bytes: number[] = [];
  do {
    bytes.unshift(n & 0xff);
    n = Math.floor(n / 256);
  } while (n > 0);
  if (bytes[0]! & 0x80) bytes.unshift(0); // keep it positive
  return Buffer.from(bytes);
}

/** The dotted form of an OID's content bytes. */
export function derToOid(content: Buffer): string {
  const arcs: number[] = [];
  let n = 0;
  for (let i = 0; i < content.length; i++) {
    const b = content[i]!;
    n = n * 128 + (b & 0x7f);
    if (n > Number.MAX_SAFE_INTEGER) throw new TrustError('INVALID_CERT', 'OID arc too large');
    if (b & 0x80) {
      if (i === content.length - 1) throw new TrustError('INVALID_CERT', 'truncated OID');
      continue;
    }
    if (arcs.length === 0) arcs.push(n < 80 ? Math.floor(n / 40) : 2, n < 80 ? n % 40 : n - 80);
    else arcs.push(n);
    n = 0;
  }
  if (arcs.length === 0) throw new TrustError('INVALID_CERT', 'empty OID');
  return arcs.join('.');
}

const pad = (n: number, w = 2): string => String(n).padStart(w, '0');

/** RFC 5280: UTCTime through 2049, GeneralizedTime after. Whole seconds. */
export function time(d: Date): Asn1 {
  const y = d.getUTCFullYear();
  const rest = `${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}${pad(d.getUTCHours())}${pad(d.getUTCMinutes())}${pad(d.getUTCSeconds())}Z`;
  return y < 2050 ? tlv(0x17, Buffer.from(`${pad(y % 100)}${rest}`, 'latin1')) : tlv(0x18, Buffer.from(`${pad(y, 4)}${rest}`, 'latin1'));
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
  parts.push(octets(value));
  return seq(parts);
}

export const ecdsaSha256AlgId = (): Asn1 => seq([oid(OID.ecdsaWithSHA256)]);
const ECDSA_SHA256_ALG = ecdsaSha256AlgId();

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
  return seq([tbsDer, ECDSA_SHA256_ALG, bits(sig)]);
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
