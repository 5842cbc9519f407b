// How an outbound tunnel reaches the remote gateway, as the tunnel state machine sees it: one request per
// attempt, answered exactly once. HTTP/2 CONNECT over the pooled sessions (h2.ts) and tls-pipe (pipe.ts)
// implement it; another framing (our own HTTP/2, say) would be a third implementation, with no change to
// the tunnel.
import type { GatewayErrorCode } from '../errors.js';
import type { RelayEnd } from '../relay.js';
import type { RemoteGateway, Transport } from '../types.js';
import type { AttestedClaim } from './attest.js';
import type { EarlyBytes } from './early.js';

/** Where an attempt went, as its transport knows it (a remote address and the connection): a replay is
 * sent elsewhere when it can be. */
export interface AttemptPlace {
  readonly address: string;
  readonly connection?: object;
}

/** What one tunnel request came to; a transport calls exactly one of these, once, and none after cancel(). */
export interface RequestEvents {
  /** The remote answered 200: `remote` is the tunnel's far end (the early bytes already went out on it). */
  opened(remote: RelayEnd): void;
  /** No tunnel. `replayable`: the request did not reach the target (refused before it, or its connection
   * went away unanswered, or failed before any byte of the client was sent), so the same bytes may be sent
   * again on another connection. `place`: where it went, when it got that far. */
  failed(code: GatewayErrorCode, message: string, replayable: boolean, place?: AttemptPlace): void;
}

/** A request in flight. */
export interface PendingRequest {
  /** The client left: give up the request (its stream or connection is closed); no event follows. */
  cancel(): void;
}

/** One remote gateway reached over one transport (it owns the pool of connections to it). */
export interface TunnelTransport {
  readonly kind: Transport;
  /** Sends a tunnel request for `authority` followed by the early bytes. `replay`: this repeats a request
   * refused before it reached the target, so avoid connections likely to fail the same way: `avoid` is
   * where the failed attempt went (another address if one is usable, else another connection). `claim`:
   * who the client is (mesh-caller-id / mesh-caller-cluster). */
  request(authority: string, claim: AttestedClaim, early: EarlyBytes, events: RequestEvents, replay: boolean, avoid?: AttemptPlace): PendingRequest;
  /** New addresses or identity for the same remote. */
  update(remote: RemoteGateway): void;
  /** Connections ready now (for tests and the pool gauge). */
  ready(): number;
  /** Graceful: live tunnels finish. `hard` closes everything now. */
  close(hard?: boolean): void;
}
