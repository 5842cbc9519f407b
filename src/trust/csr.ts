// PKCS#10 certificate requests with P-256 keys: built by der.ts and signed natively; parsed with
// the DER walker and their self-signature checked natively over the exact bytes received.
import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import { TrustError } from './errors.js';
import { OID, children, ctx, derToOid, extension, pemBlocks, readTlv, seq, set, oid, signed, smallInt, toPem } from './der.js';
import { sanKinds, uriSansFromExtension } from './x509.js';

// The fixed DER prefix of a P-256 SubjectPublicKeyInfo with an uncompressed point (04 || x || y).
const P256_SPKI_PREFIX = Buffer.from('3059301306072a8648ce3d020106082a8648ce3d030107034200', 'hex');

/**
 * Imports an SPKI. For P-256 (all of ours) the point goes in as a JWK: with OpenSSL 3, Node's DER
 * decoder costs about twice as much, and this runs on every Certify. OpenSSL still checks the point
 * is on the curve.
 */
export function importSpki(spkiDer: Buffer): KeyObject {
  if (spkiDer.length === P256_SPKI_PREFIX.length + 65 && spkiDer[P256_SPKI_PREFIX.length] === 0x04 && spkiDer.subarray(0, P256_SPKI_PREFIX.length).equals(P256_SPKI_PREFIX)) {
    const p = spkiDer.subarray(P256_SPKI_PREFIX.length + 1);
    return createPublicKey({ key: { kty: 'EC', crv: 'P-256', x: p.subarray(0, 32).toString('base64url'), y: p.subarray(32).toString('base64url') }, format: 'jwk' });
  }
  return createPublicKey({ key: spkiDer, format: 'der', type: 'spki' });
}

/** A CSR whose signature has been checked. */
export interface ParsedCsr {
  der: Buffer;
  spkiDer: Buffer;
  publicKey: KeyObject;
  /** URI SANs it asks for (the identity). */
  uris: string[];
  /** True if it asks for any SAN kind other than URI (DNS, IP, email): we refuse those. */
  otherSans: boolean;
}

/** Upper bound for a CSR: a P-256 CSR with one SAN is ~300 bytes; anything near this is not ours. */
export const MAX_CSR_BYTES = 8192;

export function createCsr(opts: { key: KeyObject; identity: string }): string {
  const spki = createPublicKey(opts.key).export({ type: 'spki', format: 'der' });
  const info = seq([
    smallInt(0),
    seq([]),
    spki,
    ctx(0, true, [seq([oid(OID.extensionRequest), set([seq([extension(OID.subjectAltName, true, seq([ctx(6, false, opts.identity)]))])])])]),
  ]);
  return toPem(signed(info, opts.key), 'CERTIFICATE REQUEST');
}

/** Parses a CSR (PEM or DER) and checks its signature; throws TrustError INVALID_CSR / CSR_SIGNATURE. */
export function parseCsr(input: string | Buffer): ParsedCsr {
  let der: Buffer;
  if (typeof input === 'string' || (input.length > 0 && input[0] === 0x2d /* '-' */)) {
    const text = typeof input === 'string' ? input : input.toString('latin1');
    const blocks = pemBlocks(text, 'CERTIFICATE REQUEST');
    if (blocks.length === 0) blocks.push(...pemBlocks(text, 'NEW CERTIFICATE REQUEST'));
    if (blocks.length !== 1) throw new TrustError('INVALID_CSR', blocks.length === 0 ? 'no CERTIFICATE REQUEST PEM block found' : 'more than one CSR in the input');
    der = blocks[0]!;
  } else {
    der = input;
  }
  if (der.length > MAX_CSR_BYTES) throw new TrustError('INVALID_CSR', `the CSR is ${der.length} bytes, more than the ${MAX_CSR_BYTES} allowed`);
  try {
    return parseCsrDer(der);
  } catch (err) {
    if (err instanceof TrustError && err.code === 'CSR_SIGNATURE') throw err;
    throw new TrustError('INVALID_CSR', `the CSR is not a valid PKCS#10 request: ${(err as Error).message}`);
  }
}

function parseCsrDer(der: Buffer): ParsedCsr {
  const top = readTlv(der, 0);
  if (top.tag !== 0x30 || top.end !== der.length) throw new Error('not a single DER SEQUENCE');
  const [info, alg, sig] = children(der, top);
  if (!info || !alg || !sig || info.tag !== 0x30 || alg.tag !== 0x30 || sig.tag !== 0x03) throw new Error('expected SEQUENCE { info, algorithm, signature }');
  const [algOid] = children(der, alg);
  if (!algOid || derToOid(der.subarray(algOid.contentStart, algOid.end)) !== OID.ecdsaWithSHA256) throw new Error('signature algorithm must be ecdsa-with-SHA256');
  const fields = children(der, info);
  const spki = fields[2];
  if (!spki || spki.tag !== 0x30) throw new Error('no SubjectPublicKeyInfo');
  const spkiDer = der.subarray(spki.start, spki.end);
  let publicKey: KeyObject;
  try {
    publicKey = importSpki(spkiDer);
  } catch (err) {
    throw new Error(`bad public key: ${(err as Error).message}`);
  }
  if (publicKey.asymmetricKeyType !== 'ec' || publicKey.asymmetricKeyDetails?.namedCurve !== 'prime256v1') throw new Error('the key must be ECDSA P-256');
  const signature = der.subarray(sig.contentStart + 1, sig.end);
  if (!verify('sha256', der.subarray(info.start, info.end), publicKey, signature)) {
    throw new TrustError('CSR_SIGNATURE', 'the CSR signature does not verify with its own public key');
  }
  let uris: string[] = [];
  let otherSans = false;
  const attrs = fields[3];
  if (attrs && attrs.tag === 0xa0) {
    for (const attr of children(der, attrs)) {
      const [attrOid, values] = children(der, attr);
      if (!attrOid || !values || derToOid(der.subarray(attrOid.contentStart, attrOid.end)) !== OID.extensionRequest) continue;
      for (const exts of children(der, values)) {
        for (const ext of children(der, exts)) {
          const parts = children(der, ext);
          if (derToOid(der.subarray(parts[0]!.contentStart, parts[0]!.end)) !== OID.subjectAltName) continue;
          const os = parts[parts.length - 1]!;
          const value = der.subarray(os.contentStart, os.end);
          uris = uris.concat(uriSansFromExtension(value));
          otherSans ||= sanKinds(value).some((k) => k !== 6);
        }
      }
    }
  }
  return { der, spkiDer, publicKey, uris, otherSans };
}
