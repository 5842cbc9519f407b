// One remote cluster as seen through one Link: a client built from the credentials Secret, informers on the
// exported Services and on EndpointSlices, health (reachable / credentials valid) and renewal of a
// time-bound token. Remote trouble never touches local state: the caches keep their last content.
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import {
  Informer,
  KubeClient,
  errorMessage,
  isAuthError,
  kubeConfigFromString,
  resourcePath,
  type KubeMetrics,
} from '../kube/index.js';
import type { Logger } from '../log/index.js';
import { SLICE_SERVICE_LABEL, type EndpointSlice, type Service } from './types.js';

export interface RemoteHealth {
  reachable: boolean | undefined;
  credentialsValid: boolean | undefined;
  message: string;
  since: number;
}

export interface RemoteClusterOptions {
  linkName: string;
  cluster: string;
  kubeconfig: string;
  /** Server-side label selector for exported Services, if the Link's selectors can be expressed as one. */
  serviceSelector?: string;
  logger: Logger;
  metrics?: KubeMetrics;
  onService(namespace: string, name: string): void;
  onSynced(): void;
  onHealth(h: RemoteHealth): void;
  backoffMaxMs?: number;
}

export class RemoteCluster {
  readonly client: KubeClient;
  readonly services: Informer<Service>;
  readonly slices: Informer<EndpointSlice>;
  health: RemoteHealth = { reachable: undefined, credentialsValid: undefined, message: 'connecting', since: Date.now() };
  private stopped = false;
  private syncedOnce = false;

  private constructor(
    readonly opts: RemoteClusterOptions,
    client: KubeClient,
  ) {
    this.client = client;
    const base = `remote:${opts.linkName}`;
    const common = {
      logger: opts.logger,
      backoffMaxMs: opts.backoffMaxMs ?? 30_000,
      onError: (err: unknown) => this.setHealth(err),
      onListed: () => this.listed(),
    };
    this.services = new Informer<Service>(client, {
      ...common,
      name: `${base}:services`,
      path: '/api/v1/services',
      labelSelector: opts.serviceSelector,
      onRestart: (reason) => opts.metrics?.watchRestarts.inc({ informer: `${base}:services`, reason }),
    });
    this.slices = new Informer<EndpointSlice>(client, {
      ...common,
      name: `${base}:endpointslices`,
      path: '/apis/discovery.k8s.io/v1/endpointslices',
      onRestart: (reason) => opts.metrics?.watchRestarts.inc({ informer: `${base}:endpointslices`, reason }),
    });
    this.slices.addIndex('service', (s) => {
      const svc = s.metadata?.labels?.[SLICE_SERVICE_LABEL];
      return svc ? [`${s.metadata?.namespace}/${svc}`] : [];
    });
    // Until both caches have synced, onSynced() enqueues everything at once; per-object keys before that
    // would only make each shadow reconcile twice.
    this.services.onKey((key) => {
      if (!this.hasSynced()) return;
      const i = key.indexOf('/');
      opts.onService(key.slice(0, i), key.slice(i + 1));
    });
    const sliceChanged = (s: EndpointSlice) => {
      if (!this.hasSynced()) return;
      const svc = s.metadata?.labels?.[SLICE_SERVICE_LABEL];
      if (svc) opts.onService(s.metadata?.namespace ?? '', svc);
    };
    this.slices.onObject({ onAdd: sliceChanged, onUpdate: (_o, n) => sliceChanged(n), onDelete: sliceChanged });
  }

  /** Builds the client; throws KubeConfigError for an unusable kubeconfig. */
  static async create(opts: RemoteClusterOptions): Promise<RemoteCluster> {
    const kc = kubeConfigFromString(opts.kubeconfig);
    const client = await KubeClient.create(kc, { timeoutMs: 15_000 });
    return new RemoteCluster(opts, client);
  }

  start(): void {
    this.services.start();
    this.slices.start();
  }

  stop(): void {
    this.stopped = true;
    this.services.stop();
    this.slices.stop();
    this.client.close();
  }

  hasSynced(): boolean {
    return this.services.hasSynced() && this.slices.hasSynced();
  }

  slicesOf(namespace: string, name: string): EndpointSlice[] {
    return this.slices.byIndex('service', `${namespace}/${name}`);
  }

  private listed(): void {
    if (this.stopped) return;
    if (!this.services.isHealthy() || !this.slices.isHealthy()) return;
    const was = this.health;
    this.health = { reachable: true, credentialsValid: true, message: 'watching', since: Date.now() };
    if (was.reachable !== true || was.credentialsValid !== true) this.opts.onHealth(this.health);
    if (this.hasSynced()) {
      // Every successful (re)list after a failure is a full resync: enqueue everything.
      if (!this.syncedOnce || was.reachable !== true || was.credentialsValid !== true) this.opts.onSynced();
      this.syncedOnce = true;
    }
  }

  private setHealth(err: unknown): void {
    if (this.stopped) return;
    const auth = isAuthError(err);
    const next: RemoteHealth = auth
      ? { reachable: true, credentialsValid: false, message: errorMessage(err), since: Date.now() }
      : { reachable: false, credentialsValid: this.health.credentialsValid, message: errorMessage(err), since: Date.now() };
    const changed = next.reachable !== this.health.reachable || next.credentialsValid !== this.health.credentialsValid || next.message !== this.health.message;
    this.health = next;
    if (changed) this.opts.onHealth(next);
  }
}

// --- token renewal ----------------------------------------------------------------------------------------

interface JwtClaims {
  exp?: number;
  iat?: number;
  sub?: string;
}

export function decodeJwt(token: string): JwtClaims | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  try {
    return JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8')) as JwtClaims;
  } catch {
    return undefined;
  }
}

/** The bearer token of the kubeconfig's current user, if it uses one. */
export function kubeconfigToken(kubeconfig: string): string | undefined {
  try {
    return kubeConfigFromString(kubeconfig).getCurrentUser()?.token;
  } catch {
    return undefined;
  }
}

/** When to renew a token: at 2/3 of its lifetime, and never later than 60 s before it expires. */
export function renewAtMs(claims: JwtClaims): number | undefined {
  if (!claims.exp) return undefined;
  const exp = claims.exp * 1000;
  const iat = (claims.iat ?? claims.exp - 3600) * 1000;
  return Math.min(iat + ((exp - iat) * 2) / 3, exp - 60_000);
}

/** Replaces the current user's token in a kubeconfig text. */
export function withToken(kubeconfig: string, token: string): string {
  const doc = parseYaml(kubeconfig) as {
    'current-context'?: string;
    contexts?: Array<{ name: string; context: { user: string } }>;
    users?: Array<{ name: string; user: { token?: string } }>;
  };
  const ctx = doc.contexts?.find((c) => c.name === doc['current-context']) ?? doc.contexts?.[0];
  const user = doc.users?.find((u) => u.name === ctx?.context.user) ?? doc.users?.[0];
  if (!user) throw new Error('kubeconfig has no user to put the token in');
  user.user.token = token;
  return stringifyYaml(doc);
}

/**
 * Requests a fresh token for the link's own ServiceAccount (the `sub` of the current token) from the
 * target, with the same lifetime as the current one.
 */
export async function requestToken(client: KubeClient, current: string): Promise<string> {
  const claims = decodeJwt(current);
  const m = /^system:serviceaccount:([^:]+):([^:]+)$/.exec(claims?.sub ?? '');
  if (!m) throw new Error('the link token is not a ServiceAccount token; cannot renew it');
  const lifetime = claims?.exp && claims.iat ? claims.exp - claims.iat : 3600;
  const res = await client.create<{ status?: { token?: string } }>(
    `${resourcePath({ version: 'v1', plural: 'serviceaccounts', namespace: m[1], name: m[2] })}/token`,
    { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: lifetime } },
  );
  const token = res.status?.token;
  if (!token) throw new Error('TokenRequest returned no token');
  return token;
}
