// Who answered: every demo app reports the cluster and pod it runs as, from the env the kubelet (or a
// real cluster's Downward API) sets. Tests and the demo assert on these fields.
import { hostname } from 'node:os';

export interface AppIdentity {
  cluster: string;
  namespace: string;
  pod: string;
  podIP: string;
}

export function identityFromEnv(env: NodeJS.ProcessEnv = process.env): AppIdentity {
  return {
    cluster: env.CLUSTER_NAME || 'unknown',
    namespace: env.POD_NAMESPACE || 'default',
    pod: env.POD_NAME || hostname(),
    podIP: env.POD_IP || '',
  };
}

/** Where a server binds: `--host`, else POD_IP (pods share the host's ports in loopback mode), else all. */
export function bindHost(explicit: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return explicit || env.POD_IP || '0.0.0.0';
}

export interface RunningApp {
  /** The bound address and port (port resolved when 0 was asked). */
  host: string;
  port: number;
  close(): Promise<void>;
}
