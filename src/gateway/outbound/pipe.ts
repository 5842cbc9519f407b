// The tls-pipe transport: a tunnel request takes a pre-handshaked mTLS connection from the pool, writes the
// pipe header and the early bytes at once, and waits for the status frame.
import type net from 'node:net';
import { GatewayError, type GatewayErrorCode } from '../errors.js';
import { pipeHeader, readPipeStatus } from '../pipe-protocol.js';
import type { Dialed } from '../pool/connect.js';
import type { PipePool } from '../pool/pipe-pool.js';
import { socketEnd } from '../relay.js';
import type { RemoteGateway } from '../types.js';
import type { AttestedClaim } from './attest.js';
import type { EarlyBytes } from './early.js';
import type { AttemptPlace, PendingRequest, RequestEvents, TunnelTransport } from './transport.js';

export class PipeTransport implements TunnelTransport {
  readonly kind = 'tls-pipe' as const;

  constructor(
    private readonly pool: PipePool,
    private readonly timeoutMs: number,
  ) {}

  request(authority: string, claim: AttestedClaim, early: EarlyBytes, events: RequestEvents, replay: boolean, avoid?: AttemptPlace): PendingRequest {
    const req = new PipeRequest(this.pool, early, events, this.timeoutMs);
    let header: Buffer;
    try {
      header = pipeHeader(authority, claim);
    } catch (err) {
      req.fail('BAD_AUTHORITY', (err as Error).message, false);
      return req;
    }
    // A replay dials a new pipe: warm siblings of one that closed unanswered (its replica draining) are
    // likely closing too.
    this.pool.take(replay, avoid).then((d) => req.open(d, header), (err: Error) => req.fail(err instanceof GatewayError ? err.code : 'REMOTE_UNAVAILABLE', err.message, false));
    return req;
  }

  update(remote: RemoteGateway): void {
    this.pool.update(remote);
  }

  ready(): number {
    return this.pool.size();
  }

  close(): void {
    this.pool.close();
  }
}

class PipeRequest implements PendingRequest {
  private done = false;
  private raw: net.Socket | undefined;
  private address: string | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly pool: PipePool,
    private readonly early: EarlyBytes,
    private readonly events: RequestEvents,
    private readonly timeoutMs: number,
  ) {}

  open({ address, sock, raw }: Dialed, header: Buffer): void {
    if (this.done) {
      sock.destroy();
      return;
    }
    sock.on('error', noop);
    this.raw = raw;
    this.address = address;
    sock.write(header);
    this.early.sendTo(sock);
    this.timer = setTimeout(this.onTimeout, this.timeoutMs);
    readPipeStatus(sock, (err, status, reason) => {
      clearTimeout(this.timer);
      if (this.done) return;
      // Any answer but DRAINING shows the remote alive; closed unanswered counts against the address.
      if (err) this.pool.report(address, { kind: 'closed', detail: err.message });
      else if (!(reason ?? '').startsWith('DRAINING')) this.pool.report(address);
      if (!err && status === 200) {
        this.done = true;
        this.events.opened(socketEnd(sock, raw));
        return;
      }
      raw.destroy();
      // Closed before any answer: mostly a warm pipe the remote dropped (its drain closes idle pipes), so
      // nothing reached the target (the remote answers before relaying a byte). Unlike HTTP/2, a reset is
      // replayed too: a draining remote's close of an idle pipe meets our header as a reset (nothing read),
      // which cannot be told from a crash after its 200 until the drain closes pipes without one.
      const replayable = err !== undefined || (reason ?? '').startsWith('DRAINING');
      this.fail('REMOTE_REFUSED', `remote gateway refused the tunnel: ${status ?? '-'} ${reason ?? err?.message ?? ''}`, replayable);
    });
  }

  cancel(): void {
    if (this.done) return;
    this.done = true;
    clearTimeout(this.timer);
    this.raw?.destroy();
  }

  fail(code: GatewayErrorCode, message: string, replayable: boolean): void {
    if (this.done) return;
    this.done = true;
    this.events.failed(code, message, replayable, this.address === undefined ? undefined : { address: this.address });
  }

  /** No answer in time: the remote may have dialled the target, so replayed only if no client byte went out. */
  private readonly onTimeout = (): void => {
    if (this.done) return;
    this.raw?.destroy();
    const message = `remote gateway did not answer the tunnel request within ${this.timeoutMs} ms`;
    if (this.address !== undefined) this.pool.report(this.address, { kind: 'timeout', detail: message });
    this.fail('UPSTREAM_TIMEOUT', message, !this.early.sentAny);
  };
}

function noop(): void {}
