// PROXY protocol version 2 (haproxy.org proxy-protocol.txt, §2.2), the part the mesh speaks: the remote
// gateway puts one header in front of a tunnel's bytes to a target that opted in
// (`mirror.mesh.io/proxy-protocol: v2`), and the demo echo app reads it. TCP over IPv4/IPv6 (PROXY
// command) or LOCAL; TLVs of the application range (0xE0-0xEF) carry the caller. Pure: Buffers in and out.
import { isIPv4, isIPv6 } from 'node:net';

export const PP2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
/** TLV types of the mesh, in the range the spec leaves to applications (PP2_TYPE_MIN_CUSTOM..MAX_CUSTOM). */
export const PP2_TYPE_MESH_CALLER_ID = 0xe0;
export const PP2_TYPE_MESH_CALLER_CLUSTER = 0xe1;
/** One byte; bit 0: the source gateway could not attest its client (the id is the gateway's own). */
export const PP2_TYPE_MESH_CALLER_FLAGS = 0xe2;
export const PP2_FLAG_UNKNOWN_CALLER = 0x01;
/** A reader gives up on a header longer than this (16 fixed bytes + addresses + TLVs). */
export const PP2_MAX_HEADER = 16 + 36 + 4096;

export interface ProxyV2Tlv {
  type: number;
  value: Buffer;
}

export interface ProxyV2Header {
  /** 'proxy': the addresses are the original connection's; 'local': a health check, no addresses. */
  command: 'proxy' | 'local';
  source?: { address: string; port: number };
  destination?: { address: string; port: number };
  tlvs: ProxyV2Tlv[];
}

export class ProxyProtocolError extends Error {
  readonly code = 'PROXY_PROTOCOL';
}

function ipBytes(address: string, family: 4 | 6): Buffer {
  if (family === 4) return Buffer.from(address.split('.').map(Number));
  // Expand '::' and an embedded IPv4 tail into 8 groups.
  let text = address;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const b = v4[1]!.split('.').map(Number);
    text = text.slice(0, -v4[1]!.length) + `${((b[0]! << 8) | b[1]!).toString(16)}:${((b[2]! << 8) | b[3]!).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

/** Encodes a PROXY command header for a TCP connection. An IPv4-mapped IPv6 address counts as IPv4. */
export function encodeProxyV2(source: { address: string; port: number }, destination: { address: string; port: number }, tlvs: readonly ProxyV2Tlv[] = []): Buffer {
  const src = source.address.replace(/^::ffff:(?=\d+\.)/, '');
  const dst = destination.address.replace(/^::ffff:(?=\d+\.)/, '');
  if (!(isIPv4(src) || isIPv6(src)) || !(isIPv4(dst) || isIPv6(dst))) throw new ProxyProtocolError(`addresses ${source.address} and ${destination.address} are not IP addresses`);
  // One family per header: with one of each, the IPv4 one is written IPv4-mapped (::ffff:a.b.c.d).
  const family: 4 | 6 = isIPv4(src) && isIPv4(dst) ? 4 : 6;
  const addrLen = family === 4 ? 12 : 36;
  let tlvLen = 0;
  for (const t of tlvs) {
    if (t.type < 0 || t.type > 0xff || t.value.length > 0xffff) throw new ProxyProtocolError(`TLV type ${t.type} or length ${t.value.length} out of range`);
    tlvLen += 3 + t.value.length;
  }
  if (addrLen + tlvLen > 0xffff) throw new ProxyProtocolError('header too long');
  const b = Buffer.allocUnsafe(16 + addrLen + tlvLen);
  PP2_SIGNATURE.copy(b, 0);
  b[12] = 0x21; // version 2, PROXY
  b[13] = family === 4 ? 0x11 : 0x21; // AF_INET / AF_INET6, STREAM
  b.writeUInt16BE(addrLen + tlvLen, 14);
  const v6 = (x: string) => (isIPv4(x) ? `::ffff:${x}` : x);
  const s = ipBytes(family === 4 ? src : v6(src), family);
  const d = ipBytes(family === 4 ? dst : v6(dst), family);
  s.copy(b, 16);
  d.copy(b, 16 + s.length);
  let o = 16 + 2 * s.length;
  b.writeUInt16BE(source.port, o);
  b.writeUInt16BE(destination.port, o + 2);
  o += 4;
  for (const t of tlvs) {
    b[o] = t.type;
    b.writeUInt16BE(t.value.length, o + 1);
    t.value.copy(b, o + 3);
    o += 3 + t.value.length;
  }
  return b;
}

function formatIp(b: Buffer): string {
  if (b.length === 4) return [...b].join('.');
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i).toString(16));
  // Shorten the longest run of zero groups, as Node prints addresses.
  const text = groups.join(':');
  const runs = text.match(/(^|:)0(:0)+(:|$)/g);
  if (!runs) return text;
  const longest = runs.reduce((a, r) => (r.length > a.length ? r : a));
  return text.replace(longest, '::');
}

export type ProxyV2Parse =
  /** The bytes so far are a prefix of a header: read more. */
  | { kind: 'incomplete' }
  /** No PROXY v2 signature: the connection speaks its protocol directly. */
  | { kind: 'absent' }
  | { kind: 'header'; header: ProxyV2Header; length: number };

/** Parses a header at the start of `b`; throws ProxyProtocolError for a malformed one. */
export function parseProxyV2(b: Buffer): ProxyV2Parse {
  const n = Math.min(b.length, PP2_SIGNATURE.length);
  if (!b.subarray(0, n).equals(PP2_SIGNATURE.subarray(0, n))) return { kind: 'absent' };
  if (b.length < 16) return { kind: 'incomplete' };
  const verCmd = b[12]!;
  if (verCmd >> 4 !== 2) throw new ProxyProtocolError(`version ${verCmd >> 4}, expected 2`);
  const cmd = verCmd & 0x0f;
  if (cmd > 1) throw new ProxyProtocolError(`unknown command ${cmd}`);
  const len = b.readUInt16BE(14);
  if (16 + len > PP2_MAX_HEADER) throw new ProxyProtocolError(`header length ${len} above ${PP2_MAX_HEADER - 16}`);
  if (b.length < 16 + len) return { kind: 'incomplete' };
  const body = b.subarray(16, 16 + len);
  const famProto = b[13]!;
  const header: ProxyV2Header = { command: cmd === 1 ? 'proxy' : 'local', tlvs: [] };
  let o = 0;
  const fam = famProto >> 4;
  if (fam === 1 || fam === 2) {
    const ipLen = fam === 1 ? 4 : 16;
    o = 2 * ipLen + 4;
    if (len < o) throw new ProxyProtocolError(`address block of ${len} bytes is too short`);
    if (cmd === 1) {
      header.source = { address: formatIp(body.subarray(0, ipLen)), port: body.readUInt16BE(2 * ipLen) };
      header.destination = { address: formatIp(body.subarray(ipLen, 2 * ipLen)), port: body.readUInt16BE(2 * ipLen + 2) };
    }
  } else if (fam === 3) o = 216; // AF_UNIX: two 108-byte paths, not used by the mesh
  else if (fam !== 0) throw new ProxyProtocolError(`unknown address family ${fam}`);
  if (o > len) throw new ProxyProtocolError('address block longer than the header');
  while (o < len) {
    if (o + 3 > len) throw new ProxyProtocolError('truncated TLV');
    const type = body[o]!;
    const vlen = body.readUInt16BE(o + 1);
    if (o + 3 + vlen > len) throw new ProxyProtocolError(`TLV 0x${type.toString(16)} runs past the header`);
    header.tlvs.push({ type, value: Buffer.from(body.subarray(o + 3, o + 3 + vlen)) });
    o += 3 + vlen;
  }
  return { kind: 'header', header, length: 16 + len };
}

/** The mesh's caller TLVs. */
export function callerTlvs(caller: { id: string; cluster: string; unknown: boolean }): ProxyV2Tlv[] {
  return [
    { type: PP2_TYPE_MESH_CALLER_ID, value: Buffer.from(caller.id, 'utf8') },
    { type: PP2_TYPE_MESH_CALLER_CLUSTER, value: Buffer.from(caller.cluster, 'utf8') },
    { type: PP2_TYPE_MESH_CALLER_FLAGS, value: Buffer.from([caller.unknown ? PP2_FLAG_UNKNOWN_CALLER : 0]) },
  ];
}

/** The caller a header carries, if it carries the mesh's TLVs. */
export function callerOfHeader(h: ProxyV2Header): { id: string; cluster: string; unknown: boolean } | undefined {
  const get = (t: number) => h.tlvs.find((x) => x.type === t)?.value;
  const id = get(PP2_TYPE_MESH_CALLER_ID);
  if (!id) return undefined;
  const flags = get(PP2_TYPE_MESH_CALLER_FLAGS)?.[0] ?? 0;
  return { id: id.toString('utf8'), cluster: get(PP2_TYPE_MESH_CALLER_CLUSTER)?.toString('utf8') ?? '', unknown: (flags & PP2_FLAG_UNKNOWN_CALLER) !== 0 };
}
