// Query bytes → response bytes, with no I/O: decoding, validation, the answer itself, EDNS and UDP
// truncation. The server only moves bytes; everything a test wants to pin down is decided here.
import * as packet from 'dns-packet';
import type { Answer, DecodedPacket, OptAnswer, Packet, Question } from 'dns-packet';
import type { DnsRecordSource } from './records.js';

export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;
export type RcodeName = keyof typeof RCODE;

/** Classic DNS UDP limit without EDNS (RFC 1035). */
export const UDP_MIN_PAYLOAD = 512;
/** What we advertise and the most we send over UDP even if a client offers more (DNS flag day 2020). */
export const UDP_MAX_PAYLOAD = 1232;
export const DEFAULT_TTL = 5;

export interface AnswerOptions {
  /** One zone, or several (cluster DNS + `clusterset.local`): a question goes to the first that answers for it. */
  source: DnsRecordSource | readonly DnsRecordSource[];
  ttl?: number;
  /** Whether names outside the domain are forwarded (an upstream is configured) rather than REFUSED. */
  forwarding?: boolean;
  /** SOA serial; any number that changes when records change is fine for clients that care. */
  serial?: number;
}

export type Outcome =
  | { kind: 'reply'; bytes: Buffer; rcode: RcodeName; truncated: boolean; question?: Question }
  | { kind: 'forward'; question: Question }
  | { kind: 'drop'; reason: string };

const QR = 0x8000;

/** A header-only FORMERR for bytes we could not decode (RFC 1035 §4.1.1), echoing id and opcode. */
function formErrFor(buf: Buffer): Buffer {
  const out = Buffer.alloc(12);
  out.writeUInt16BE(buf.readUInt16BE(0), 0);
  const opcodeAndRd = buf.readUInt16BE(2) & 0x7900;
  out.writeUInt16BE(QR | opcodeAndRd | RCODE.FORMERR, 2);
  return out;
}

function decodeSafe(buf: Buffer): DecodedPacket | undefined {
  try {
    const p = packet.decode(buf);
    // dns-packet tolerates trailing garbage and leaves unknown section entries undefined; be strict.
    if (packet.decode.bytes !== buf.length) return undefined;
    for (const q of p.questions ?? []) if (!q || typeof q.name !== 'string' || typeof q.type !== 'string') return undefined;
    return p;
  } catch {
    return undefined;
  }
}

export function handleQuery(buf: Buffer, transport: 'udp' | 'tcp', opts: AnswerOptions): Outcome {
  if (buf.length < 12) return { kind: 'drop', reason: `packet of ${buf.length} bytes is shorter than a DNS header` };
  if (buf.readUInt16BE(2) & QR) return { kind: 'drop', reason: 'packet is a response, not a query' };
  const query = decodeSafe(buf);
  if (!query) return { kind: 'reply', bytes: formErrFor(buf), rcode: 'FORMERR', truncated: false };

  const opt = (query.additionals ?? []).find((a): a is OptAnswer => a.type === 'OPT');
  const base = (rcode: RcodeName, authoritative: boolean): Packet & { flags: number } => ({
    type: 'response',
    id: query.id ?? 0,
    flags: (authoritative ? packet.AUTHORITATIVE_ANSWER : 0) | (query.flag_rd ? packet.RECURSION_DESIRED : 0) | (opts.forwarding ? packet.RECURSION_AVAILABLE : 0) | RCODE[rcode],
    questions: query.questions ?? [],
    answers: [],
    authorities: [],
    additionals: opt ? [{ type: 'OPT', name: '.', udpPayloadSize: UDP_MAX_PAYLOAD, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] }] : [],
  });
  const finish = (p: Packet & { flags: number }, rcode: RcodeName, question?: Question): Outcome => {
    let bytes = packet.encode(p);
    let truncated = false;
    if (transport === 'udp') {
      const limit = opt ? Math.min(Math.max(opt.udpPayloadSize, UDP_MIN_PAYLOAD), UDP_MAX_PAYLOAD) : UDP_MIN_PAYLOAD;
      if (bytes.length > limit) {
        // Too big for this UDP exchange: question only, TC set; the client retries over TCP (RFC 7766).
        bytes = packet.encode({ ...p, flags: p.flags | packet.TRUNCATED_RESPONSE, answers: [], authorities: [], additionals: (p.additionals ?? []).filter((a) => a.type === 'OPT') });
        truncated = true;
      }
    }
    return { kind: 'reply', bytes, rcode, truncated, ...(question ? { question } : {}) };
  };

  // The opcode is not in dns-packet's typings; read it from the header (bits 11-14).
  if (((buf.readUInt16BE(2) >> 11) & 0xf) !== 0) return finish(base('NOTIMP', false), 'NOTIMP');
  if (opt && opt.ednsVersion !== 0) {
    // BADVERS is an extended rcode; FORMERR is the conservative answer for a version we do not speak.
    return finish(base('FORMERR', false), 'FORMERR');
  }
  const questions = query.questions ?? [];
  if (questions.length !== 1) return finish(base('FORMERR', false), 'FORMERR');
  const q = questions[0] as Question;
  const qclass = q.class ?? 'IN';
  if (qclass !== 'IN' && qclass !== 'ANY') return finish(base('REFUSED', false), 'REFUSED', q);

  const sources: readonly DnsRecordSource[] = Array.isArray(opts.source) ? opts.source : [opts.source as DnsRecordSource];
  const source = sources.find((z) => z.answersFor(q.name));
  if (!source) {
    if (opts.forwarding) return { kind: 'forward', question: q };
    return finish(base('REFUSED', false), 'REFUSED', q);
  }

  const ttl = opts.ttl ?? DEFAULT_TTL;
  const soa: Answer = {
    type: 'SOA',
    name: source.domain,
    ttl,
    class: 'IN',
    data: { mname: `ns.dns.${source.domain}`, rname: `hostmaster.${source.domain}`, serial: opts.serial ?? source.generation, refresh: 7200, retry: 1800, expire: 86400, minimum: ttl },
  };
  const found = source.lookup(q.name);
  if (!found.exists) {
    const p = base('NXDOMAIN', true);
    p.authorities = [soa];
    return finish(p, 'NXDOMAIN', q);
  }

  const p = base('NOERROR', true);
  const answers: Answer[] = [];
  const additionals: Answer[] = [];
  const r = found.records;
  const want = (t: string) => q.type === t || (q.type as string) === 'ANY';
  if (r.cname) {
    answers.push({ type: 'CNAME', name: q.name, ttl, class: 'IN', data: r.cname });
    // A target inside our zone is answered in the same response (one hop; ExternalName → ExternalName
    // chains are not followed), as CoreDNS does; an outside target is left to the client.
    if (q.type !== 'CNAME' && source.inDomain(r.cname)) {
      const t = source.lookup(r.cname).records;
      if (want('A')) for (const ip of t.a) answers.push({ type: 'A', name: r.cname, ttl, class: 'IN', data: ip });
      if (want('AAAA')) for (const ip of t.aaaa) answers.push({ type: 'AAAA', name: r.cname, ttl, class: 'IN', data: ip });
    }
  } else {
    if (want('A')) for (const ip of r.a) answers.push({ type: 'A', name: q.name, ttl, class: 'IN', data: ip });
    if (want('AAAA')) for (const ip of r.aaaa) answers.push({ type: 'AAAA', name: q.name, ttl, class: 'IN', data: ip });
    if (want('SRV')) {
      const targets = new Set<string>();
      for (const s of r.srv) {
        answers.push({ type: 'SRV', name: q.name, ttl, class: 'IN', data: { priority: s.priority, weight: s.weight, port: s.port, target: s.target } });
        targets.add(s.target);
      }
      // Addresses of SRV targets ride along so clients need no second round trip.
      for (const t of targets) {
        const tr = source.lookup(t).records;
        for (const ip of tr.a) additionals.push({ type: 'A', name: t, ttl, class: 'IN', data: ip });
        for (const ip of tr.aaaa) additionals.push({ type: 'AAAA', name: t, ttl, class: 'IN', data: ip });
      }
    }
    if (want('TXT')) for (const t of r.txt ?? []) answers.push({ type: 'TXT', name: q.name, ttl, class: 'IN', data: t });
    if (want('PTR')) for (const t of r.ptr) answers.push({ type: 'PTR', name: q.name, ttl, class: 'IN', data: t });
    if (want('SOA') && normalize(q.name) === source.domain) answers.push({ ...soa, name: q.name });
  }
  p.answers = answers;
  if (answers.length === 0) p.authorities = [soa]; // NODATA (RFC 2308): the name exists, this type does not.
  p.additionals = [...additionals, ...(p.additionals ?? [])];
  return finish(p, 'NOERROR', q);
}

function normalize(name: string): string {
  return name.toLowerCase().replace(/\.+$/, '');
}

/** Encodes a SERVFAIL for a decoded question (used when forwarding fails). */
export function servfailFor(queryBytes: Buffer): Buffer | undefined {
  try {
    const query = packet.decode(queryBytes);
    return packet.encode({
      type: 'response',
      id: query.id ?? 0,
      flags: (query.flag_rd ? packet.RECURSION_DESIRED : 0) | packet.RECURSION_AVAILABLE | RCODE.SERVFAIL,
      questions: query.questions ?? [],
    });
  } catch {
    return undefined;
  }
}
