// Dual-stack Service fields as kube-apiserver handles them (pkg/registry/core/service/storage/alloc.go and the
// Service validation): ipFamilyPolicy, ipFamilies (order = primary family), clusterIP/clusterIPs (requested
// or allocated per family, the first is the primary), headless, on create and update (upgrade to dual-stack
// allocates the second family's IP; a downgrade to SingleStack releases it). Error texts are Kubernetes'.
import type { JsonObject } from './patch.js';
import { invalid, ApiError, type StatusCause } from './errors.js';
import { canonicalIp, familyOf, type IpFamily, type ServiceIpRanges } from './allocators.js';

const POLICIES = ['PreferDualStack', 'RequireDualStack', 'SingleStack'];
const FAMILIES = ['IPv4', 'IPv6'];

/** What admission took from and gave back to the ranges; the caller undoes `allocated` if the write fails. */
export interface IpChange {
  allocated: string[];
  released: string[];
}

interface Fields {
  clusterIP: string;
  clusterIPs: string[];
  ipFamilies: string[];
  policy: string | undefined;
  headless: boolean;
  selectorless: boolean;
}

const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);
const goList = (xs: string[]): string => `[]string{${xs.map((x) => JSON.stringify(x)).join(', ')}}`;
const cause = (field: string, value: string, message: string): StatusCause => ({ reason: 'FieldValueInvalid', message: `Invalid value: ${value}: ${message}`, field });
const other = (f: IpFamily): IpFamily => (f === 'IPv4' ? 'IPv6' : 'IPv4');
const sameList = (a: string[], b: string[]): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

function read(spec: JsonObject): Fields {
  const clusterIP = typeof spec['clusterIP'] === 'string' ? spec['clusterIP'] : '';
  const sel = spec['selector'];
  return {
    clusterIP,
    clusterIPs: strings(spec['clusterIPs']),
    ipFamilies: strings(spec['ipFamilies']),
    policy: typeof spec['ipFamilyPolicy'] === 'string' ? spec['ipFamilyPolicy'] : undefined,
    headless: clusterIP === 'None',
    selectorless: !sel || typeof sel !== 'object' || Object.keys(sel).length === 0,
  };
}

/** ClusterIP and ClusterIPs in sync before anyone looks at them (normalizeClusterIPs, patchAllocatedValues). */
function normalize(f: Fields, prev: Fields | undefined): void {
  if (!prev) {
    if (f.clusterIP && f.clusterIPs.length === 0) f.clusterIPs = [f.clusterIP];
    return;
  }
  // An update that leaves the allocated values out keeps them (an old client, a partial PUT).
  if (f.clusterIP === '' && f.clusterIPs.length === 0) f.clusterIP = prev.clusterIP;
  if (f.clusterIPs.length === 0 && prev.clusterIPs.length > 0 && f.clusterIP === prev.clusterIP) f.clusterIPs = [...prev.clusterIPs];
  if (f.clusterIP !== prev.clusterIP && f.clusterIP !== '' && sameList(f.clusterIPs, prev.clusterIPs)) f.clusterIPs = [f.clusterIP];
  f.headless = f.clusterIP === 'None';
}

/** The stand-alone checks of clusterIP(s), ipFamilies and ipFamilyPolicy (ValidateServiceClusterIPsRelatedFields). */
function fieldCauses(f: Fields): StatusCause[] {
  const causes: StatusCause[] = [];
  if (f.clusterIP !== '') {
    if (f.clusterIPs.length === 0) causes.push({ reason: 'FieldValueRequired', message: 'Required value', field: 'spec.clusterIPs' });
    else if (f.clusterIPs[0] !== f.clusterIP) causes.push(cause('spec.clusterIPs', goList(f.clusterIPs), 'first value must match `clusterIP`'));
  } else if (f.clusterIPs.length) causes.push(cause('spec.clusterIPs', goList(f.clusterIPs), 'must be empty when `clusterIP` is not specified'));
  const seen = new Set<string>();
  f.ipFamilies.forEach((fam, i) => {
    if (!FAMILIES.includes(fam)) causes.push({ reason: 'FieldValueNotSupported', message: `Unsupported value: "${fam}": supported values: "IPv4", "IPv6"`, field: `spec.ipFamilies[${i}]` });
    if (seen.has(fam)) causes.push({ reason: 'FieldValueDuplicate', message: `Duplicate value: "${fam}"`, field: `spec.ipFamilies[${i}]` });
    seen.add(fam);
  });
  if (f.policy !== undefined && !POLICIES.includes(f.policy))
    causes.push({ reason: 'FieldValueNotSupported', message: `Unsupported value: "${f.policy}": supported values: "PreferDualStack", "RequireDualStack", "SingleStack"`, field: 'spec.ipFamilyPolicy' });
  let badIPs = false;
  f.clusterIPs.forEach((ip, i) => {
    if (i === 0 && ip === 'None') {
      if (f.clusterIPs.length > 1) {
        badIPs = true;
        causes.push(cause('spec.clusterIPs', goList(f.clusterIPs), "'None' must be the first and only value"));
      }
      return;
    }
    if (familyOf(ip)) return;
    badIPs = true;
    causes.push(cause(`spec.clusterIPs[${i}]`, JSON.stringify(ip), 'must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)'));
  });
  if (f.clusterIPs.length > 2) causes.push(cause('spec.clusterIPs', goList(f.clusterIPs), 'may only hold up to 2 values'));
  if (badIPs) return causes;
  if (f.clusterIPs.length === 2 && familyOf(f.clusterIPs[0]!) === familyOf(f.clusterIPs[1]!))
    causes.push(cause('spec.clusterIPs', goList(f.clusterIPs), 'may specify no more than one IP for each IP family'));
  if (!f.headless)
    f.clusterIPs.forEach((ip, i) => {
      const want = f.ipFamilies[i];
      if (want === 'IPv4' && familyOf(ip) === 'IPv6') causes.push(cause(`spec.clusterIPs[${i}]`, JSON.stringify(ip), `expected an IPv4 value as indicated by \`ipFamilies[${i}]\``));
      if (want === 'IPv6' && familyOf(ip) !== 'IPv6') causes.push(cause(`spec.clusterIPs[${i}]`, JSON.stringify(ip), `expected an IPv6 value as indicated by \`ipFamilies[${i}]\``));
    });
  return causes;
}

const policyCause = (f: Fields, message: string): StatusCause => cause('spec.ipFamilyPolicy', JSON.stringify(f.policy ?? null), message);

/** A PreferDualStack Service whose IPs and families did not change is left as it is (no silent up/downgrade). */
function unchangedPreferDualStack(f: Fields, prev: Fields | undefined): boolean {
  return !!prev && prev.policy === 'PreferDualStack' && f.policy === 'PreferDualStack' && f.headless === prev.headless && sameList(f.clusterIPs, prev.clusterIPs) && sameList(f.ipFamilies, prev.ipFamilies);
}

/** Update-only: what SingleStack trims, and what other policies may not drop (alloc.go's update prep). */
function updatePrep(name: string, f: Fields, prev: Fields): void {
  if (f.policy === 'SingleStack') {
    // Same IPs/families plus SingleStack is a clear intent to downgrade; clusterIPs[0] is immutable, so kept.
    if (sameList(f.clusterIPs, prev.clusterIPs) && f.clusterIPs.length > 1) f.clusterIPs = f.clusterIPs.slice(0, 1);
    if (sameList(f.ipFamilies, prev.ipFamilies) && f.ipFamilies.length > 1) f.ipFamilies = f.ipFamilies.slice(0, 1);
    return;
  }
  if (f.clusterIPs.length < prev.clusterIPs.length && f.clusterIPs.length > 0) throw invalid('Service', '', name, [policyCause(f, "must be 'SingleStack' to release the secondary cluster IP")]);
  if (f.ipFamilies.length < prev.ipFamilies.length && f.ipFamilies.length > 0) throw invalid('Service', '', name, [policyCause(f, "must be 'SingleStack' to release the secondary IP family")]);
}

/** Policy and families made consistent with the request and the cluster (initIPFamilyFields). */
function initFamilies(r: ServiceIpRanges, name: string, f: Fields, prev: Fields | undefined): void {
  const fail = (causes: StatusCause[]): never => {
    throw invalid('Service', '', name, causes);
  };
  const standalone = fieldCauses(f);
  if (standalone.length) fail(standalone);
  if (prev) updatePrep(name, f, prev);
  if (unchangedPreferDualStack(f, prev)) return;
  // No static default: a missing policy follows what the request holds, so an edit never flips the stack.
  f.policy ??= f.clusterIPs.length === 2 || f.ipFamilies.length === 2 ? 'RequireDualStack' : 'SingleStack';
  if (f.policy === 'SingleStack') {
    if (f.clusterIPs.length === 2) fail([policyCause(f, "must be 'RequireDualStack' or 'PreferDualStack' when multiple cluster IPs are specified")]);
    if (f.ipFamilies.length === 2) fail([policyCause(f, "must be 'RequireDualStack' or 'PreferDualStack' when multiple IP families are specified")]);
  }
  for (let i = 0; i < f.clusterIPs.length && f.clusterIPs[i] !== 'None'; i++) {
    const fam = familyOf(f.clusterIPs[i]!)!;
    if (i < f.ipFamilies.length) continue;
    if (!r.byFamily(fam)) fail([cause(`spec.clusterIPs[${i}]`, goList(f.clusterIPs), `${fam} is not configured on this cluster`)]);
    f.ipFamilies.push(fam);
  }
  // Headless without a selector may list families the cluster does not have (its endpoints are external).
  if (f.headless && f.selectorless) {
    if (f.ipFamilies.length === 0) f.ipFamilies = [r.defaultFamily];
    if (f.ipFamilies.length < 2 && f.policy !== 'SingleStack') f.ipFamilies.push(other(f.ipFamilies[0] as IpFamily));
    return;
  }
  const causes: StatusCause[] = [];
  if (f.policy === 'RequireDualStack' && !r.dualStack) causes.push(policyCause(f, 'this cluster is not configured for dual-stack services'));
  f.ipFamilies.forEach((fam, i) => {
    if (!r.byFamily(fam as IpFamily)) causes.push(cause(`spec.ipFamilies[${i}]`, JSON.stringify(fam), 'not configured on this cluster'));
  });
  if (causes.length) fail(causes);
  if (f.ipFamilies.length === 0) f.ipFamilies = [r.defaultFamily];
  if (f.policy !== 'SingleStack' && f.ipFamilies.length === 1 && r.dualStack) f.ipFamilies.push(other(f.ipFamilies[0] as IpFamily));
}

/** The update checks of ValidateServiceUpdate for clusterIPs and ipFamilies (upgrade/downgrade rules). */
function updateCauses(f: Fields, prev: Fields): StatusCause[] {
  const causes: StatusCause[] = [];
  if (!(prev.headless && f.headless)) {
    const list = goList(f.clusterIPs);
    if (f.clusterIPs.length === prev.clusterIPs.length) {
      prev.clusterIPs.forEach((ip, i) => {
        if (ip !== f.clusterIPs[i]) causes.push(cause(`spec.clusterIPs[${i}]`, list, 'may not change once set'));
      });
    } else if (f.clusterIPs.length < prev.clusterIPs.length) {
      if (f.clusterIPs.length === 0) causes.push(cause('spec.clusterIPs[0]', list, 'primary clusterIP can not be unset'));
      else if (f.clusterIPs[0] !== prev.clusterIPs[0]) causes.push(cause('spec.clusterIPs[0]', list, 'may not change once set'));
    } else if (prev.clusterIPs.length > 0 && f.clusterIPs[0] !== prev.clusterIPs[0]) causes.push(cause('spec.clusterIPs[0]', list, 'may not change once set'));
  }
  if (f.headless === prev.headless && !f.headless) {
    const n = Math.min(f.ipFamilies.length, prev.ipFamilies.length);
    for (let i = 0; i < n; i++) if (f.ipFamilies[i] !== prev.ipFamilies[i]) causes.push(cause(`spec.ipFamilies[${i}]`, goList(f.ipFamilies), 'may not change once set'));
  }
  return causes;
}

function allocateFailed(name: string, f: Fields, ip: string, why: string): ApiError {
  return invalid('Service', '', name, [cause('spec.clusterIPs', goList(f.clusterIPs), `failed to allocate IP ${ip}: ${why}`)]);
}

/** Takes each family's IP: the requested one (checked) or the next free one. */
function allocate(r: ServiceIpRanges, name: string, f: Fields, keep: Set<string>, change: IpChange): void {
  const out: string[] = [];
  try {
    f.ipFamilies.forEach((fam, i) => {
      const range = r.byFamily(fam as IpFamily)!;
      const want = f.clusterIPs[i];
      if (want !== undefined && keep.has(want)) return void out.push(want);
      if (want !== undefined) {
        if (!range.contains(want)) throw allocateFailed(name, f, want, `the provided IP (${want}) is not in the valid range. The range of valid IPs is ${range.cidr}`);
        if (range.isUsed(want)) throw allocateFailed(name, f, want, 'provided IP is already allocated');
        range.reserve(want);
        change.allocated.push(want);
        return void out.push(canonicalIp(want));
      }
      const ip = range.allocate();
      if (!ip) throw new ApiError('InternalError', `failed to allocate a serviceIP: range is full (${range.cidr})`);
      change.allocated.push(ip);
      out.push(ip);
    });
  } catch (err) {
    for (const ip of change.allocated) r.forIp(ip)?.release(ip);
    throw err;
  }
  f.clusterIPs = out;
}

/**
 * Defaults, checks and allocates a non-ExternalName Service's IP fields in `spec` (mutated). `prevSpec`: the
 * stored Service on update. The IPs it gives back are released only once the write is stored (the caller).
 */
export function admitServiceIPs(r: ServiceIpRanges, name: string, spec: JsonObject, prevSpec: JsonObject | undefined): IpChange {
  const prev = prevSpec && prevSpec['type'] !== 'ExternalName' ? read(prevSpec) : undefined;
  const f = read(spec);
  normalize(f, prev);
  initFamilies(r, name, f, prev);
  if (prev) {
    const causes = updateCauses(f, prev);
    if (causes.length) throw invalid('Service', '', name, causes);
  }
  const change: IpChange = { allocated: [], released: [] };
  if (f.headless) f.clusterIPs = ['None'];
  else {
    const held = new Set((prev?.headless ? [] : prev?.clusterIPs) ?? []);
    allocate(r, name, f, held, change);
    change.released = [...held].filter((ip) => !f.clusterIPs.includes(ip));
  }
  spec['clusterIP'] = f.clusterIPs[0]!;
  spec['clusterIPs'] = f.clusterIPs;
  spec['ipFamilies'] = f.ipFamilies;
  spec['ipFamilyPolicy'] = f.policy ?? 'SingleStack';
  return change;
}
