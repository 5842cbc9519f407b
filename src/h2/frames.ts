// Frame encoding (RFC 9113 §4.1, §6): small control frames as one Buffer each.
import { FRAME_HEADER, FrameType, Flag } from './constants.js';

export function writeHeader(buf: Buffer, at: number, length: number, type: number, flags: number, streamId: number): void {
  buf[at] = length >>> 16;
  buf[at + 1] = (length >>> 8) & 0xff;
  buf[at + 2] = length & 0xff;
  buf[at + 3] = type;
  buf[at + 4] = flags;
  buf.writeUInt32BE(streamId, at + 5);
}

export function frame(type: number, flags: number, streamId: number, payload?: Buffer): Buffer {
  const len = payload?.length ?? 0;
  const buf = Buffer.allocUnsafe(FRAME_HEADER + len);
  writeHeader(buf, 0, len, type, flags, streamId);
  if (payload) payload.copy(buf, FRAME_HEADER);
  return buf;
}

export function settingsFrame(settings: ReadonlyArray<readonly [number, number]>): Buffer {
  const buf = Buffer.allocUnsafe(FRAME_HEADER + settings.length * 6);
  writeHeader(buf, 0, settings.length * 6, FrameType.SETTINGS, 0, 0);
  let at = FRAME_HEADER;
  for (const [id, value] of settings) {
    buf.writeUInt16BE(id, at);
    buf.writeUInt32BE(value, at + 2);
    at += 6;
  }
  return buf;
}

export const SETTINGS_ACK = frame(FrameType.SETTINGS, Flag.ACK, 0);

export function windowUpdateFrame(streamId: number, increment: number): Buffer {
  const buf = Buffer.allocUnsafe(FRAME_HEADER + 4);
  writeHeader(buf, 0, 4, FrameType.WINDOW_UPDATE, 0, streamId);
  buf.writeUInt32BE(increment, FRAME_HEADER);
  return buf;
}

export function rstFrame(streamId: number, code: number): Buffer {
  const buf = Buffer.allocUnsafe(FRAME_HEADER + 4);
  writeHeader(buf, 0, 4, FrameType.RST_STREAM, 0, streamId);
  buf.writeUInt32BE(code, FRAME_HEADER);
  return buf;
}

export function pingFrame(ack: boolean, data: Buffer): Buffer {
  return frame(FrameType.PING, ack ? Flag.ACK : 0, 0, data);
}

export function goawayFrame(lastStreamId: number, code: number, debug = ''): Buffer {
  const d = Buffer.from(debug.slice(0, 256), 'utf8');
  const buf = Buffer.allocUnsafe(FRAME_HEADER + 8 + d.length);
  writeHeader(buf, 0, 8 + d.length, FrameType.GOAWAY, 0, 0);
  buf.writeUInt32BE(lastStreamId, FRAME_HEADER);
  buf.writeUInt32BE(code, FRAME_HEADER + 4);
  d.copy(buf, FRAME_HEADER + 8);
  return buf;
}

/** HEADERS (+ CONTINUATION when the block exceeds the peer's frame size). `block` has FRAME_HEADER bytes
 * reserved in front (the encoder leaves them), so the common case is one Buffer, no copy. */
export function headersFrames(block: Buffer, streamId: number, endStream: boolean, maxFrame: number): Buffer[] {
  const len = block.length - FRAME_HEADER;
  const es = endStream ? Flag.END_STREAM : 0;
  if (len <= maxFrame) {
    writeHeader(block, 0, len, FrameType.HEADERS, es | Flag.END_HEADERS, streamId);
    return [block];
  }
  const out: Buffer[] = [];
  for (let off = 0; off < len; off += maxFrame) {
    const n = Math.min(maxFrame, len - off);
    const last = off + n >= len;
    const type = off === 0 ? FrameType.HEADERS : FrameType.CONTINUATION;
    const flags = (off === 0 ? es : 0) | (last ? Flag.END_HEADERS : 0);
    out.push(frame(type, flags, streamId, block.subarray(FRAME_HEADER + off, FRAME_HEADER + off + n)));
  }
  return out;
}
