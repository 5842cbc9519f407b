// The tls-pipe transport's framing, sent once at the start of an ALPN `mesh-pipe/1` connection:
//   client → server: u16 length, then the target authority in UTF-8 (<= 300 bytes), optionally followed by
//                    "\n<mesh-caller-id>\n<mesh-caller-cluster>" (the caller claim, as the CONNECT headers)
//   server → client: u16 status (200 = open, else the HTTP status of the refusal), u16 length, reason
// after which both directions are the raw byte stream. The client may send data right after the
// header (no round trip is spent waiting for the status); it is discarded if the server refuses.
import type { Duplex } from 'node:stream';
import { MAX_CLAIM_LENGTH, type CallerClaim } from '../api/index.js';
import { GatewayError } from './errors.js';

export const MAX_AUTHORITY = 300;
/** The whole header body: the authority and the two claim fields with their separators. */
const MAX_HEADER = MAX_AUTHORITY + 2 * (1 + MAX_CLAIM_LENGTH);

export interface PipeHeader {
  authority: string;
  claim: CallerClaim;
}
const MAX_REASON = 1024;

/** Encodes the client's header (with the caller claim when given). */
export function pipeHeader(authority: string, claim?: { id: string; cluster: string }): Buffer {
  if (Buffer.byteLength(authority) > MAX_AUTHORITY) throw new GatewayError('BAD_AUTHORITY', `target ${authority.slice(0, 60)}… is too long`);
  const body = Buffer.from(claim ? `${authority}\n${claim.id}\n${claim.cluster}` : authority, 'utf8');
  if (body.length > MAX_HEADER) throw new GatewayError('BAD_AUTHORITY', 'caller claim is too long');
  const b = Buffer.allocUnsafe(2 + body.length);
  b.writeUInt16BE(body.length, 0);
  body.copy(b, 2);
  return b;
}

/** Reads exactly `n` bytes from a paused stream (via 'readable'); the rest stays buffered for the relay. */
function readExactly(s: Duplex, n: number, done: (err: Error | undefined, b?: Buffer) => void): void {
  const onReadable = () => {
    const b = s.read(n) as Buffer | null;
    if (b === null) return;
    cleanup();
    done(undefined, b);
  };
  const onEnd = () => {
    cleanup();
    done(new GatewayError('BAD_AUTHORITY', 'connection closed before the pipe header was complete'));
  };
  const cleanup = () => {
    s.off('readable', onReadable);
    s.off('end', onEnd);
    s.off('close', onEnd);
  };
  s.on('readable', onReadable);
  s.once('end', onEnd);
  s.once('close', onEnd);
  onReadable();
}

export function readPipeHeader(s: Duplex, done: (err: Error | undefined, header?: PipeHeader) => void): void {
  readExactly(s, 2, (err, len) => {
    if (err || !len) return done(err);
    const n = len.readUInt16BE(0);
    if (n === 0 || n > MAX_HEADER) return done(new GatewayError('BAD_AUTHORITY', `pipe header length ${n} is out of range 1-${MAX_HEADER} (not a mesh-pipe/1 client?)`));
    readExactly(s, n, (e, body) => {
      if (e || !body) return done(e);
      const fields = body.toString('utf8').split('\n');
      const authority = fields[0]!;
      const shown = { authority: authority.replace(/[^\x21-\x7e]/g, '?'), claim: { id: undefined, cluster: undefined } };
      if (fields.length !== 1 && fields.length !== 3) return done(new GatewayError('BAD_AUTHORITY', `pipe header has ${fields.length} fields (1 or 3)`), shown);
      if (!fields.every((f) => /^[\x21-\x7e]+$/.test(f))) return done(new GatewayError('BAD_AUTHORITY', 'pipe header is not printable ASCII'), shown);
      if (Buffer.byteLength(authority) > MAX_AUTHORITY) return done(new GatewayError('BAD_AUTHORITY', `pipe header target is longer than ${MAX_AUTHORITY}`), shown);
      done(undefined, { authority, claim: { id: fields[1], cluster: fields[2] } });
    });
  });
}

export function writePipeStatus(s: Duplex, status: number, reason: string): void {
  const r = Buffer.from(reason.slice(0, MAX_REASON), 'utf8');
  const b = Buffer.allocUnsafe(4 + r.length);
  b.writeUInt16BE(status, 0);
  b.writeUInt16BE(r.length, 2);
  r.copy(b, 4);
  s.write(b);
}

export function readPipeStatus(s: Duplex, done: (err: Error | undefined, status?: number, reason?: string) => void): void {
  readExactly(s, 4, (err, h) => {
    if (err || !h) return done(new GatewayError('REMOTE_UNAVAILABLE', 'remote gateway closed the pipe before answering'));
    const status = h.readUInt16BE(0);
    const n = h.readUInt16BE(2);
    if (n === 0) return done(undefined, status, '');
    readExactly(s, n, (e, r) => {
      if (e || !r) return done(new GatewayError('REMOTE_UNAVAILABLE', 'remote gateway closed the pipe mid-answer'));
      done(undefined, status, r.toString('utf8'));
    });
  });
}
