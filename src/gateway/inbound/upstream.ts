// The inbound tunnel's dial to its target: one of an authorized tunnel's ready backends (round robin),
// the next ones while they refuse (backend-order.ts has the bounds), each within the connect timeout.
// Takes an AuthorizedTunnel: nothing else can make the gateway open a connection inside the cluster.
import net from 'node:net';
import { GatewayError } from '../errors.js';
import type { Backend } from '../types.js';
import type { AuthorizedTunnel } from './authorize.js';
import { tryAnother } from './backend-order.js';

export type Dialed = (err: GatewayError | undefined, upstream?: net.Socket, backend?: Backend) => void;

export function dialBackend(auth: AuthorizedTunnel, timeoutMs: number, first: number, done: Dialed): void {
  const candidates = auth.candidates;
  let attempt = 0;
  let timeouts = 0;
  const tryOne = () => {
    const b = candidates[(first + attempt) % candidates.length]!;
    const s = net.connect({ host: b.address, port: b.port, allowHalfOpen: true, noDelay: true });
    const timer = setTimeout(() => s.destroy(new GatewayError('UPSTREAM_TIMEOUT', `connect to ${b.address}:${b.port} timed out after ${timeoutMs} ms`)), timeoutMs);
    const fail = (err: Error) => {
      clearTimeout(timer);
      s.destroy();
      // Nothing was sent to it: the next endpoint, within bounds, before giving up.
      if (err instanceof GatewayError && err.code === 'UPSTREAM_TIMEOUT') timeouts++;
      if (tryAnother(++attempt, candidates.length, timeouts)) return tryOne();
      done(err instanceof GatewayError ? err : new GatewayError('UPSTREAM_CONNECT', `connect to ${b.address}:${b.port} failed: ${err.message}`));
    };
    s.once('error', fail);
    s.once('connect', () => {
      clearTimeout(timer);
      s.off('error', fail);
      done(undefined, s, b);
    });
  };
  tryOne();
}
