// SPIFFE ids as the mesh uses them: spiffe://<trust-domain>/ns/<namespace>/sa/<serviceaccount>.
// Rules from the SPIFFE-ID spec (lower-case trust domain, path segments of [A-Za-z0-9._-], no dot
// segments), plus Kubernetes name rules for the namespace and service account.
import { serviceAccountId } from '../api/index.js';
import { TrustError } from './errors.js';

const TRUST_DOMAIN_RE = /^[a-z0-9._-]{1,255}$/;
const SEGMENT_RE = /^[A-Za-z0-9._-]+$/;
const DNS_LABEL_RE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS_SUBDOMAIN_RE = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

export interface SpiffeId {
  /** The whole URI, e.g. spiffe://mesh.local/ns/default/sa/web. */
  uri: string;
  trustDomain: string;
  /** The path after the trust domain, '' or starting with '/'. */
  path: string;
  /** Set when the path has the mesh's /ns/<ns>/sa/<sa> shape. */
  namespace?: string;
  serviceAccount?: string;
}

export function validateTrustDomain(td: string): string {
  if (!TRUST_DOMAIN_RE.test(td) || td.startsWith('.') || td.endsWith('.') || td.includes('..')) {
    throw new TrustError('INVALID_SPIFFE_ID', `trust domain ${JSON.stringify(td)} is not valid: use lower-case letters, digits, '.', '-' or '_' (e.g. mesh.local)`);
  }
  return td;
}

/** spiffe://<td>/ns/<ns>/sa/<sa> (src/api's one format), after checking every part. */
export function spiffeId(trustDomain: string, namespace: string, serviceAccount: string): string {
  validateTrustDomain(trustDomain);
  if (!DNS_LABEL_RE.test(namespace)) throw new TrustError('INVALID_SPIFFE_ID', `namespace ${JSON.stringify(namespace)} is not a valid Kubernetes namespace name`);
  if (!DNS_SUBDOMAIN_RE.test(serviceAccount)) throw new TrustError('INVALID_SPIFFE_ID', `service account ${JSON.stringify(serviceAccount)} is not a valid Kubernetes name`);
  return serviceAccountId(trustDomain, namespace, serviceAccount);
}

/** Parses and checks a SPIFFE id; throws TrustError('INVALID_SPIFFE_ID') saying what is wrong. */
export function parseSpiffeId(uri: string): SpiffeId {
  const bad = (why: string): never => {
    throw new TrustError('INVALID_SPIFFE_ID', `${JSON.stringify(uri.length > 200 ? uri.slice(0, 200) + '…' : uri)} is not a SPIFFE id: ${why}`);
  };
  if (typeof uri !== 'string') return bad('not a string');
  if (uri.length > 2048) bad('longer than 2048 bytes');
  if (!uri.startsWith('spiffe://')) bad("it must start with 'spiffe://'");
  const rest = uri.slice('spiffe://'.length);
  const slash = rest.indexOf('/');
  const trustDomain = slash === -1 ? rest : rest.slice(0, slash);
  const path = slash === -1 ? '' : rest.slice(slash);
  if (!TRUST_DOMAIN_RE.test(trustDomain)) bad('the trust domain must be lower-case letters, digits, ".", "-" or "_"');
  if (path !== '') {
    const segs = path.slice(1).split('/');
    for (const s of segs) {
      if (s === '') bad('empty path segment (or trailing slash)');
      if (s === '.' || s === '..') bad('dot segments are not allowed');
      if (!SEGMENT_RE.test(s)) bad(`path segment ${JSON.stringify(s)} has characters other than [A-Za-z0-9._-]`);
    }
  }
  const id: SpiffeId = { uri, trustDomain, path };
  const m = /^\/ns\/([^/]+)\/sa\/([^/]+)$/.exec(path);
  if (m && DNS_LABEL_RE.test(m[1]!) && DNS_SUBDOMAIN_RE.test(m[2]!)) {
    id.namespace = m[1]!;
    id.serviceAccount = m[2]!;
  }
  return id;
}

/** Parses an id and requires the mesh's workload shape (ns + sa) and, if given, the trust domain. */
export function parseWorkloadId(uri: string, trustDomain?: string): Required<SpiffeId> {
  const id = parseSpiffeId(uri);
  if (id.namespace === undefined || id.serviceAccount === undefined) {
    throw new TrustError('INVALID_SPIFFE_ID', `${uri} is not a workload identity: expected spiffe://<trust-domain>/ns/<namespace>/sa/<serviceaccount>`);
  }
  if (trustDomain !== undefined && id.trustDomain !== trustDomain) {
    throw new TrustError('WRONG_TRUST_DOMAIN', `${uri} is in trust domain ${id.trustDomain}, expected ${trustDomain}`);
  }
  return id as Required<SpiffeId>;
}
