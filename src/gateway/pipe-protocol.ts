// The tls-pipe transport's framing, sent once at the start of an ALPN `mesh-pipe/1` connection:
//   client → server: u16 length, then the target authority in UTF-8 (<= 300 bytes)
//   server → client: u16 status (200 = open, else the HTTP status of the refusal), u16 length, reason
// after which both directions are the raw byte stream. The client may send data right after the
// header (no round trip is spent waiting for the status); it is discarded if the server refuses.
import type { Duplex } from 'node:stream';
import { GatewayError } from './errors.js';

export const MAX_AUTHORITY = 300;
const MAX_REASON = 1024;

/** Encodes the client's header. */
export function pipeHeader(authority: string): Buffer {
  const body = Buffer.from(authority, 'utf8');
  if (body.length > MAX_AUTHORITY) throw new GatewayError('BAD_AUTHORITY', `target ${authority.slice(0, 60)}… is too long`);
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

export function readPipeHeader(s: Duplex, done: (err: Error | undefined, authority?: string) => void): void {
  readExactly(s, 2, (err, len) => {
    if (err || !len) return done(err);
    const n = len.readUInt16BE(0);
    if (n === 0 || n > MAX_AUTHORITY) return done(new GatewayError('BAD_AUTHORITY', `pipe header length ${n} is out of range 1-${MAX_AUTHORITY} (not a mesh-pipe/1 client?)`));
    readExactly(s, n, (e, body) => {
      if (e || !body) return done(e);
      const authority = body.toString('utf8');
      if (!/^[\x21-\x7e]+$/.test(authority)) return done(new GatewayError('BAD_AUTHORITY', 'pipe header is not printable ASCII'), authority.replace(/[^\x21-\x7e]/g, '?'));
      done(undefined, authority);
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
