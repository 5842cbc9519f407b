// Reading X.509 certificates: Node's X509Certificate for what it offers (validity, CA flag, signature
// checks) and a small DER walker for what it does not expose as structured data (URI SANs, subject
// attributes, raw subject bytes for building children).
import { X509Certificate } from 'node:crypto';
import { TrustError } from './errors.js';
import { OID, children, derToOid, pemBlocks, readTlv, toPem, type Tlv } from './der.js';

export interface ParsedCert {
  der: Buffer;
  x509: X509Certificate;
  /** The subject Name exactly as encoded (children's issuer field must match it byte for byte). */
  subjectDer: Buffer;
  /** The issuer Name exactly as encoded. */
  issuerDer: Buffer;
  spkiDer: Buffer;
  notBefore: Date;
  notAfter: Date;
  /** Extensions by OID: criticality and the DER inside the OCTET STRING. */
  extensions: Map<string, { critical: boolean; value: Buffer }>;
}

/** Parses a certificate's DER (or one Node already parsed, e.g. a TLS peer's, without parsing it twice). */
export function parseCertDer(input: Buffer | X509Certificate): ParsedCert {
  let x509: X509Certificate;
  try {
    x509 = input instanceof X509Certificate ? input : new X509Certificate(input);
  } catch (err) {
    throw new TrustError('INVALID_CERT', `not a valid X.509 certificate: ${(err as Error).message}`);
  }
  const der = x509.raw;
  const top = readTlv(der, 0);
  const [tbs] = children(der, top);
  if (!tbs || tbs.tag !== 0x30) throw new TrustError('INVALID_CERT', 'certificate has no TBSCertificate');
  const f = children(der, tbs);
  let i = 0;
  if (f[0]?.tag === 0xa0) i++; // [0] version
  // serial, signature alg, issuer, validity, subject, spki
  const issuer = f[i + 2];
  const subject = f[i + 4];
  const spki = f[i + 5];
  if (!issuer || !subject || !spki) throw new TrustError('INVALID_CERT', 'certificate TBS is truncated');
  const extensions = new Map<string, { critical: boolean; value: Buffer }>();
  const extWrap = f.slice(i + 6).find((t) => t.tag === 0xa3);
  if (extWrap) {
    const [extSeq] = children(der, extWrap);
    for (const ext of extSeq ? children(der, extSeq) : []) {
      const parts = children(der, ext);
      const id = derToOid(der.subarray(parts[0]!.contentStart, parts[0]!.end));
      const critical = parts.length === 3 && der[parts[1]!.contentStart] !== 0;
      const os = parts[parts.length - 1]!;
      extensions.set(id, { critical, value: der.subarray(os.contentStart, os.end) });
    }
  }
  return {
    der,
    x509,
    subjectDer: der.subarray(subject.start, subject.end),
    issuerDer: der.subarray(issuer.start, issuer.end),
    spkiDer: der.subarray(spki.start, spki.end),
    notBefore: new Date(x509.validFrom),
    notAfter: new Date(x509.validTo),
    extensions,
  };
}

export function parseCertPem(pem: string): ParsedCert {
  const [der] = pemBlocks(pem, 'CERTIFICATE');
  if (!der) throw new TrustError('INVALID_PEM', 'no CERTIFICATE PEM block found');
  return parseCertDer(der);
}

/** Every certificate in a PEM text (a chain or a bundle), in order. */
export function parseCertsPem(pem: string): ParsedCert[] {
  return pemBlocks(pem, 'CERTIFICATE').map(parseCertDer);
}

export const certPem = (c: ParsedCert): string => toPem(c.der, 'CERTIFICATE');

/** URI entries of a subjectAltName extension value (GeneralNames). */
export function uriSansFromExtension(value: Buffer): string[] {
  const outer = readTlv(value, 0);
  return children(value, outer)
    .filter((t: Tlv) => t.tag === 0x86)
    .map((t) => value.subarray(t.contentStart, t.end).toString('latin1'));
}

/** All names of a subjectAltName extension value, by kind, to refuse unexpected ones. */
export function sanKinds(value: Buffer): number[] {
  const outer = readTlv(value, 0);
  return children(value, outer).map((t) => t.tag & 0x1f);
}

export function uriSans(cert: ParsedCert): string[] {
  const san = cert.extensions.get(OID.subjectAltName);
  return san ? uriSansFromExtension(san.value) : [];
}

/** Attribute values of a Name, by OID (first one wins). */
export function nameAttributes(nameDer: Buffer): Map<string, string> {
  const out = new Map<string, string>();
  const top = readTlv(nameDer, 0);
  for (const rdn of children(nameDer, top)) {
    for (const atv of children(nameDer, rdn)) {
      const [o, v] = children(nameDer, atv);
      if (!o || !v) continue;
      const id = derToOid(nameDer.subarray(o.contentStart, o.end));
      if (!out.has(id)) out.set(id, nameDer.subarray(v.contentStart, v.end).toString('utf8'));
    }
  }
  return out;
}

export interface NameFields {
  O?: string;
  OU?: string;
  CN?: string;
}

const fieldsOf = (nameDer: Buffer): NameFields => {
  const a = nameAttributes(nameDer);
  return { O: a.get(OID.organization), OU: a.get(OID.organizationalUnit), CN: a.get(OID.commonName) };
};

export const subjectAttributes = (cert: ParsedCert): NameFields => fieldsOf(cert.subjectDer);

/** The issuer's name fields as the certificate names them (authentic once its chain is verified). */
export const issuerAttributes = (cert: ParsedCert): NameFields => fieldsOf(cert.issuerDer);
