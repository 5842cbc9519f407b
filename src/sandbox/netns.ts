// Isolated mode's network: one netns per cluster plus an "underlay" netns holding a bridge; each cluster
// joins the underlay through one veth (its node address). Pod and Service ranges are local routes on the
// cluster's `lo`, so any address in them can be bound and none is reachable from outside unless a flat
// route is added. Nothing is created in the host's own namespace: the veth pairs are created inside the
// underlay and moved straight into the cluster namespaces.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { SandboxError } from './errors.js';
import { UNDERLAY_CIDR_PREFIX, UNDERLAY_PREFIX_LEN, type ClusterPlan } from './plan.js';

export function ip(args: string[]): string {
  try {
    return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new SandboxError('Command', `ip ${args.join(' ')}: ${(e.stderr ?? e.message).trim()}`);
  }
}

/** Why isolated mode cannot run here, or undefined when it can. */
export function isolatedUnsupported(): string | undefined {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return 'isolated mode needs root (network namespaces and veth pairs)';
  try {
    execFileSync('ip', ['-V'], { stdio: 'ignore' });
  } catch {
    return 'isolated mode needs the `ip` tool (iproute2)';
  }
  return undefined;
}

export function listNetns(): string[] {
  let out = '';
  try {
    out = ip(['netns', 'list']);
  } catch {
    return [];
  }
  return out.split('\n').map((l) => l.split(' ')[0]!.trim()).filter(Boolean);
}

export function underlayName(prefix: string): string {
  return `${prefix}-ul`;
}

export function createUnderlay(name: string): void {
  ip(['netns', 'add', name]);
  ip(['-n', name, 'link', 'set', 'lo', 'up']);
  ip(['-n', name, 'link', 'add', 'br0', 'type', 'bridge']);
  ip(['-n', name, 'link', 'set', 'br0', 'up']);
}

export function resolvConfDir(netns: string): string {
  return `/etc/netns/${netns}`;
}

export function createClusterNetns(plan: ClusterPlan, underlay: string): void {
  const ns = plan.netns;
  if (!ns) throw new SandboxError('Internal', `cluster ${plan.name} has no netns in its plan`);
  ip(['netns', 'add', ns]);
  ip(['-n', ns, 'link', 'set', 'lo', 'up']);
  const ul = `ul${plan.index}`;
  ip(['-n', underlay, 'link', 'add', ul, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
  ip(['-n', underlay, 'link', 'set', ul, 'master', 'br0']);
  ip(['-n', underlay, 'link', 'set', ul, 'up']);
  ip(['-n', ns, 'addr', 'add', `${plan.nodeAddress}/${UNDERLAY_PREFIX_LEN}`, 'dev', 'eth0']);
  ip(['-n', ns, 'link', 'set', 'eth0', 'up']);
  ip(['-n', ns, 'route', 'add', 'local', plan.podCIDR, 'dev', 'lo']);
  ip(['-n', ns, 'route', 'add', 'local', plan.serviceCIDR, 'dev', 'lo']);
  if (plan.podCIDR6 && plan.serviceCIDR6) {
    ip(['-n', ns, '-6', 'route', 'add', 'local', plan.podCIDR6, 'dev', 'lo']);
    ip(['-n', ns, '-6', 'route', 'add', 'local', plan.serviceCIDR6, 'dev', 'lo']);
    // IPv6, unlike IPv4, does not let a socket bind an address of a local route without this (per netns).
    try {
      execFileSync('ip', ['netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv6.ip_nonlocal_bind=1'], { stdio: ['ignore', 'ignore', 'pipe'] });
    } catch (err) {
      throw new SandboxError('Command', `sysctl net.ipv6.ip_nonlocal_bind=1 in ${ns}: ${(err as { stderr?: string }).stderr ?? String(err)}`);
    }
  }
  // `ip netns exec` bind-mounts this over /etc/resolv.conf for everything started in the namespace.
  const dir = resolvConfDir(ns);
  mkdirSync(dir, { recursive: true });
  writeFileSync(`${dir}/resolv.conf`, `nameserver ${plan.dnsAddress}\nsearch default.svc.${plan.domain} svc.${plan.domain} ${plan.domain}\noptions ndots:5\n`);
  writeFileSync(`${dir}/hosts`, `127.0.0.1 localhost\n${plan.nodeAddress} ${plan.name}-node\n`);
}

export function deleteNetns(ns: string): void {
  // Deleting the namespace removes its interfaces, addresses and routes; the veth peer goes with it.
  if (listNetns().includes(ns)) {
    try { ip(['netns', 'del', ns]); } catch { /* raced with another cleanup */ }
  }
  const dir = resolvConfDir(ns);
  if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
}

export function netnsPids(ns: string): number[] {
  try {
    return ip(['netns', 'pids', ns]).split('\n').map((s) => Number(s.trim())).filter((n) => Number.isInteger(n) && n > 0);
  } catch {
    return [];
  }
}

/** Routes between two clusters' pod CIDRs via their node addresses, as between kind nodes. */
export function flatRoute(a: ClusterPlan, b: ClusterPlan, remove: boolean): void {
  const verb = remove ? 'del' : 'replace';
  ip(['-n', a.netns!, 'route', verb, b.podCIDR, 'via', b.nodeAddress, 'dev', 'eth0']);
  ip(['-n', b.netns!, 'route', verb, a.podCIDR, 'via', a.nodeAddress, 'dev', 'eth0']);
}

export const UNDERLAY_NETWORK = `${UNDERLAY_CIDR_PREFIX}.0/${UNDERLAY_PREFIX_LEN}`;

/** Pods can get their own mount namespace (for a per-pod resolv.conf) when unshare(1) is there and we are root. */
export function hasUnshare(): boolean {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return false;
  try {
    execFileSync('unshare', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
