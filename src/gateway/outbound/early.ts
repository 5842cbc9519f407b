// The client's bytes (and FIN) sent before the remote gateway answered the tunnel request. They are sent
// at once (no round trip is spent waiting for the answer) and also kept, bounded by RELAY_BUFFER (the
// client is paused beyond it), so that a request refused before it reached the target can be replayed on
// another connection with the same bytes.
import type net from 'node:net';
import type { Duplex } from 'node:stream';
import { RELAY_BUFFER } from '../relay.js';

export class EarlyBytes {
  private chunks: Buffer[] = [];
  private bytes = 0;
  private ended = false;
  private target: Duplex | undefined;
  private gone: (() => void) | undefined;

  constructor(
    private readonly local: net.Socket,
    private readonly tally: { up: number },
  ) {
    local.on('data', this.onData);
    local.once('end', this.onEnd);
    local.once('close', this.onClose);
  }

  /** A new attempt: everything so far is written to it, and what follows too. */
  sendTo(t: Duplex): void {
    this.target = t;
    for (const c of this.chunks) t.write(c);
    if (this.ended) t.end();
  }

  /** Whether any byte (or the FIN) of the client has gone to an attempt: after that, an attempt the remote
   * may have processed must not be replayed (the bytes may have reached the target). */
  get sentAny(): boolean {
    return this.bytes > 0 || this.ended;
  }

  /** Called once if the client's socket closes before detach(). */
  onLocalGone(f: () => void): void {
    this.gone = f;
  }

  /** The tunnel is answered (or over): the relay takes the client's socket from here. */
  detach(): void {
    this.local.off('data', this.onData);
    this.local.off('end', this.onEnd);
    this.local.off('close', this.onClose);
    this.chunks = [];
    this.target = undefined;
    this.gone = undefined;
  }

  private readonly onData = (chunk: Buffer): void => {
    this.chunks.push(chunk);
    this.bytes += chunk.length;
    this.tally.up += chunk.length;
    this.target?.write(chunk);
    if (this.bytes >= RELAY_BUFFER) this.local.pause();
  };

  private readonly onEnd = (): void => {
    this.ended = true;
    this.target?.end();
  };

  private readonly onClose = (): void => {
    this.gone?.();
  };
}
