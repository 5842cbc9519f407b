// The connect transport: a tunnel request is an HTTP/2 CONNECT stream on a pooled mTLS session to the
// remote gateway (src/h2). A warm session opens the stream in the same turn as the client's accept (no
// promise hop).
import { CALLER_CLUSTER_HEADER, CALLER_ID_HEADER } from '../../api/index.js';
import { ErrorCode, type H2Session, type H2Stream, type Headers } from '../../h2/index.js';
import { GatewayError, type GatewayErrorCode } from '../errors.js';
import { h2End } from '../relay.js';
import type { H2Pool, Place } from '../pool/h2-pool.js';
import type { RemoteGateway } from '../types.js';
import type { AttestedClaim } from './attest.js';
import type { EarlyBytes } from './early.js';
import type { AttemptPlace, PendingRequest, RequestEvents, TunnelTransport } from './transport.js';

export class H2Transport implements TunnelTransport {
  readonly kind = 'connect' as const;

  constructor(
    private readonly pool: H2Pool,
    private readonly timeoutMs: number,
  ) {}

  request(authority: string, claim: AttestedClaim, early: EarlyBytes, events: RequestEvents, _replay: boolean, avoid?: AttemptPlace): PendingRequest {
    const req = new H2Request(this.pool, authority, claim, early, events, this.timeoutMs);
    const session = this.pool.pick(avoid);
    if (session) req.open(session);
    else this.pool.acquire().then((s) => req.open(s), (err: Error) => req.unavailable(err));
    return req;
  }

  update(remote: RemoteGateway): void {
    this.pool.update(remote);
  }

  ready(): number {
    return this.pool.readySessions();
  }

  close(hard = false): void {
    this.pool.close(hard);
  }
}

/** One CONNECT request: reports opened or failed once, then nothing. */
class H2Request implements PendingRequest {
  private done = false;
  private stream: H2Stream | undefined;
  private session: H2Session | undefined;
  private place: Place | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly pool: H2Pool,
    private readonly authority: string,
    private readonly claim: AttestedClaim,
    private readonly early: EarlyBytes,
    private readonly events: RequestEvents,
    private readonly timeoutMs: number,
  ) {}

  open(session: H2Session): void {
    if (this.done) return;
    let s: H2Stream;
    try {
      s = session.request({ ':method': 'CONNECT', ':authority': this.authority, [CALLER_ID_HEADER]: this.claim.id, [CALLER_CLUSTER_HEADER]: this.claim.cluster });
    } catch (err) {
      // The session went away between pick and request (GOAWAY, closed): nothing was sent.
      return this.fail('REMOTE_UNAVAILABLE', (err as Error).message, true);
    }
    s.on('error', noop);
    this.pool.track(session, s);
    this.stream = s;
    this.session = session;
    this.place = this.pool.placeOf(session);
    this.early.sendTo(s);
    this.timer = setTimeout(this.onTimeout, this.timeoutMs);
    s.once('close', this.onEarlyClose);
    s.once('response', this.onResponse);
  }

  /** The pool has no session for us. */
  unavailable(err: Error): void {
    this.fail(err instanceof GatewayError ? err.code : 'REMOTE_UNAVAILABLE', err.message, false);
  }

  cancel(): void {
    if (this.done) return;
    this.done = true;
    this.abort();
  }

  private readonly onResponse = (headers: Headers): void => {
    clearTimeout(this.timer);
    const s = this.stream!;
    if (this.done) return;
    const status = Number(headers[':status']);
    const reason = String(headers['mesh-refusal-reason'] ?? `HTTP ${status}`);
    // Any answer shows the remote gateway alive (a draining one is neither: it is leaving on purpose).
    if (reason !== 'DRAINING') this.pool.report(this.session!);
    if (status === 200) {
      s.off('close', this.onEarlyClose);
      this.done = true;
      this.events.opened(h2End(s));
      return;
    }
    s.reset(ErrorCode.CANCEL);
    // A draining replica refused before dialling the target: another one will take it.
    this.fail('REMOTE_REFUSED', `remote gateway refused the tunnel: ${status} ${reason}`, reason === 'DRAINING');
  };

  /** Closed before any answer: REFUSED_STREAM, a GOAWAY below our stream, or its session closed means the
   * remote never processed it (it answers 200 before relaying a byte, and a closing connection delivers
   * what was sent before). A reset connection may have lost a 200 already sent, and a reset stream may come
   * after the remote dialled the target: those are replayed only if no byte of the client went out. */
  private readonly onEarlyClose = (): void => {
    clearTimeout(this.timer);
    if (this.done) return;
    const s = this.stream!;
    const session = this.session!;
    const refused = s.rstCode === ErrorCode.REFUSED_STREAM;
    const message = `the remote gateway closed the tunnel request before answering (rst ${String(s.rstCode)})`;
    // A lost session is counted once by the pool, a refusal is the remote speaking: neither is this stream's.
    if (!refused && !session.closed) this.pool.report(session, { kind: 'reset', detail: message });
    const closedCleanly = session.closed && !this.pool.isBroken(session);
    this.fail('REMOTE_UNAVAILABLE', message, refused || closedCleanly || !this.early.sentAny);
  };

  /** No answer in time: the remote may have dialled the target, so replayed only if no client byte went out. */
  private readonly onTimeout = (): void => {
    if (this.done) return;
    this.abort();
    const message = `remote gateway did not answer the tunnel request within ${this.timeoutMs} ms`;
    if (this.session) this.pool.report(this.session, { kind: 'timeout', detail: message });
    this.fail('UPSTREAM_TIMEOUT', message, !this.early.sentAny);
  };

  private abort(): void {
    clearTimeout(this.timer);
    if (this.stream && !this.stream.destroyed) this.stream.reset(ErrorCode.CANCEL);
  }

  private fail(code: GatewayErrorCode, message: string, replayable: boolean): void {
    if (this.done) return;
    this.done = true;
    this.events.failed(code, message, replayable, this.place);
  }
}

function noop(): void {}
