// The addresses the gateway binds (`--host`, else $POD_IPS, else $POD_IP, else 0.0.0.0): every listener
// (outbound ports, tunnel port, admin port) listens on each, so a dual-stack pod serves both families.
// Addresses are kept in the text Node prints for a socket's address (inet_ntop: lowercase, RFC 5952's
// `::`), the form caller attestation compares against a client's source address.
import { SocketAddress, isIP } from 'node:net';

/** The address as Node prints a socket's address (`FD00:10:1:0:0:0:A:5` → `fd00:10:1::a:5`); undefined
 * when it is not an IP address. */
export function canonicalIp(address: string): string | undefined {
  const family = isIP(address);
  if (family === 0 || address.includes('%')) return undefined;
  try {
    return new SocketAddress({ address, family: family === 6 ? 'ipv6' : 'ipv4' }).address;
  } catch {
    return undefined;
  }
}

const WILDCARDS = new Set(['0.0.0.0', '::']);

export type HostList = { ok: true; hosts: string[] } | { ok: false; message: string };

/** A comma-separated list (or its entries): IP addresses, each once, canonical; a wildcard only alone (it
 * already covers the others, whose binds would then fail as taken). */
export function parseHosts(input: string | readonly string[]): HostList {
  const entries = (typeof input === 'string' ? input.split(',') : input).map((x) => x.trim()).filter(Boolean);
  if (entries.length === 0) return { ok: false, message: 'no address given' };
  const hosts: string[] = [];
  const seen = new Map<string, string>();
  for (const entry of entries) {
    const ip = canonicalIp(entry);
    if (ip === undefined) return { ok: false, message: `invalid entry "${entry}": not an IP address` };
    if (ip.startsWith('::ffff:') && isIP(ip.slice(7)) === 4) return { ok: false, message: `invalid entry "${entry}": an IPv4-mapped address; give the IPv4 address ${ip.slice(7)}` };
    const prev = seen.get(ip);
    if (prev !== undefined) return { ok: false, message: `invalid entry "${entry}": the same address as "${prev}"` };
    seen.set(ip, entry);
    hosts.push(ip);
  }
  const wildcard = hosts.find((h) => WILDCARDS.has(h));
  if (wildcard !== undefined && hosts.length > 1) return { ok: false, message: `invalid entry "${wildcard}": a wildcard address binds every address, so it must be the only entry` };
  return { ok: true, hosts };
}
