// The messages between the gateway's primary (control plane: watches, credentials, admin port) and its
// workers (data plane: tunnel port, outbound listeners, pools), over node:cluster's IPC channel. Plain data:
// a worker needs the routes and its PEM credentials, never the Kubernetes client or the Identity client.
import type { GatewayConfig } from '../config.js';
import type { Credentials, RouteSnapshot } from '../types.js';

/** Primary → worker. */
export type ToWorker =
  | { type: 'mesh:init'; config: GatewayConfig; ticketKeys: string; heapGrowingPercent: number; logFields: Record<string, string> }
  | { type: 'mesh:routes'; snapshot: RouteSnapshot; synced: boolean }
  | { type: 'mesh:credentials'; credentials: Credentials }
  /** Stop accepting now (the primary waited out the grace) and let tunnels finish within the deadline. */
  | { type: 'mesh:drain'; deadlineMs: number };

/** Worker → primary. */
export type FromWorker =
  /** The worker listens for messages: before this, what the primary sends would be dropped. */
  | { type: 'mesh:hello' }
  | { type: 'mesh:listening'; tunnelPort: number }
  /** The worker applied routes from synced watches and its outbound listeners are bound (or retrying). */
  | { type: 'mesh:routes-applied' }
  /** The worker closed its listeners (a drain past its grace). */
  | { type: 'mesh:closed' }
  | { type: 'mesh:drained'; forced: number };

const TO_WORKER = new Set<string>(['mesh:init', 'mesh:routes', 'mesh:credentials', 'mesh:drain']);
const FROM_WORKER = new Set<string>(['mesh:hello', 'mesh:listening', 'mesh:routes-applied', 'mesh:closed', 'mesh:drained']);

function typeOf(m: unknown): string | undefined {
  return typeof m === 'object' && m !== null && 'type' in m && typeof m.type === 'string' ? m.type : undefined;
}

/** Our messages only (prom-client's aggregator shares the channel). The channel is between our own processes. */
export function isToWorker(m: unknown): m is ToWorker {
  return TO_WORKER.has(typeOf(m) ?? '');
}

export function isFromWorker(m: unknown): m is FromWorker {
  return FROM_WORKER.has(typeOf(m) ?? '');
}
