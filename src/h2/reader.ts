// Incremental frame reader over the socket's chunks. Control and header frames are handed over whole
// (buffered while incomplete, bounded by the max frame size); an unpadded DATA payload is streamed in the
// pieces the socket delivered, so bulk data is never copied or reassembled here.
import { FRAME_HEADER, FrameType, Flag, PREFACE, ErrorCode } from './constants.js';
import { ProtocolViolation } from './errors.js';

export interface FrameHandler {
  /** A whole frame other than unpadded DATA; `payload` is exactly its payload. */
  onFrame(type: number, flags: number, streamId: number, payload: Buffer): void;
  /** An unpadded DATA frame's header; its payload follows in onDataChunk calls, then onDataEnd. */
  onDataStart(flags: number, streamId: number, length: number): void;
  onDataChunk(chunk: Buffer): void;
  onDataEnd(): void;
}

export class FrameReader {
  private pending: Buffer[] = [];
  private pendingLen = 0;
  /** Bytes the pending data must reach before parsing can go on. */
  private need: number;
  /** Bytes left of the DATA payload being streamed (-1: none). */
  private dataLeft = -1;
  private prefaceLeft: boolean;

  constructor(
    private readonly h: FrameHandler,
    /** Our SETTINGS_MAX_FRAME_SIZE. */
    private readonly maxFrameSize: number,
    expectPreface: boolean,
  ) {
    this.prefaceLeft = expectPreface;
    this.need = expectPreface ? PREFACE.length : FRAME_HEADER;
  }

  push(chunk: Buffer): void {
    if (this.pendingLen > 0) {
      this.pending.push(chunk);
      this.pendingLen += chunk.length;
      if (this.pendingLen < this.need) return;
      chunk = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingLen);
      this.pending = [];
      this.pendingLen = 0;
    }
    let pos = 0;
    const len = chunk.length;
    if (this.prefaceLeft) {
      if (len < PREFACE.length) return this.keep(chunk, 0, PREFACE.length);
      if (!chunk.subarray(0, PREFACE.length).equals(PREFACE)) throw new ProtocolViolation(ErrorCode.PROTOCOL_ERROR, 'the client did not send the HTTP/2 connection preface');
      this.prefaceLeft = false;
      pos = PREFACE.length;
    }
    while (pos < len) {
      if (this.dataLeft >= 0) {
        const n = Math.min(this.dataLeft, len - pos);
        if (n > 0) this.h.onDataChunk(pos === 0 && n === len ? chunk : chunk.subarray(pos, pos + n));
        pos += n;
        this.dataLeft -= n;
        if (this.dataLeft > 0) return;
        this.dataLeft = -1;
        this.h.onDataEnd();
        continue;
      }
      if (len - pos < FRAME_HEADER) return this.keep(chunk, pos, FRAME_HEADER);
      const length = (chunk[pos]! << 16) | (chunk[pos + 1]! << 8) | chunk[pos + 2]!;
      const type = chunk[pos + 3]!;
      const flags = chunk[pos + 4]!;
      const streamId = chunk.readUInt32BE(pos + 5) & 0x7fffffff;
      if (length > this.maxFrameSize) throw new ProtocolViolation(ErrorCode.FRAME_SIZE_ERROR, `frame of ${length} bytes exceeds the maximum ${this.maxFrameSize}`);
      if (type === FrameType.DATA && (flags & Flag.PADDED) === 0) {
        pos += FRAME_HEADER;
        this.h.onDataStart(flags, streamId, length);
        if (length === 0) this.h.onDataEnd();
        else this.dataLeft = length;
        continue;
      }
      if (len - pos < FRAME_HEADER + length) return this.keep(chunk, pos, FRAME_HEADER + length);
      const start = pos + FRAME_HEADER;
      pos = start + length;
      this.h.onFrame(type, flags, streamId, chunk.subarray(start, pos));
    }
  }

  private keep(chunk: Buffer, pos: number, need: number): void {
    // Copied: a slice would pin the whole socket chunk while the rest of the frame is awaited.
    const rest = Buffer.from(chunk.subarray(pos));
    this.pending = [rest];
    this.pendingLen = rest.length;
    this.need = need;
  }
}
