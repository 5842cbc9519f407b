// reconcile(link key): one Link's lifecycle. Finalizer on, validation (reported, never crashing), the
// remote watch from its credentials Secret, the gateway prober, the finalizer's cleanup when the Link is
// deleted, and the status, computed from what is observed (status.ts) and written when it changed.
import {
  CLUSTER_LABEL,
  LINK_API_VERSION,
  LINK_FINALIZER,
  LINK_GROUP,
  LINK_KIND,
  LINK_PLURAL,
  LINK_VERSION,
  MIRRORED_LABEL,
  type LinkCondition,
  type LinkSpec,
  type LinkStatus,
  type ParsedLink,
} from '../api/index.js';
import { deleteObject, isNotFound, keyOf, resourcePath, type ReconcileContext, type ReconcileResult } from '../kube/index.js';
import type { Logger } from '../log/index.js';
import { targetOf } from './caches.js';
import { readCredentials, type Credentials } from './credentials.js';
import { exportMode } from './desired.js';
import { reconcileLog, type MirrorEnv } from './env.js';
import { computeLinkStatus, mirroredServices, statusNeedsWrite, statusPatch, type ExportedService } from './status.js';
import type { EndpointSlice, Link, Service } from './types.js';
import { revokeLinkCredentials } from './unlink.js';

/** Status is refreshed this often even when nothing triggers it (probe time, remote health). */
const STATUS_PERIOD_MS = 30_000;

export class LinkReconciler {
  constructor(private readonly env: MirrorEnv) {}

  private linkPath(name?: string): string {
    return resourcePath({ group: LINK_GROUP, version: LINK_VERSION, plural: LINK_PLURAL, namespace: this.env.namespace, name });
  }

  async reconcile(name: string, ctx: ReconcileContext): Promise<ReconcileResult> {
    const { caches, remotes, probers } = this.env;
    const link = caches.link(name);
    if (!link) {
      // Gone for good (the finalizer was removed): stop watching; orphaned shadows are removed per key.
      this.forget(name);
      return;
    }
    const log = reconcileLog(ctx, { link: name, cluster: targetOf(link) ?? '' });
    if (link.metadata?.deletionTimestamp) return this.finalize(link, ctx, log);
    const finalizers = link.metadata?.finalizers ?? [];
    if (!finalizers.includes(LINK_FINALIZER)) {
      const metadata = { finalizers: [...finalizers, LINK_FINALIZER], resourceVersion: link.metadata?.resourceVersion };
      await this.env.client.patch(this.linkPath(name), { metadata }, 'merge', { signal: ctx.signal });
      return; // the update comes back through the informer
    }
    const parsed = caches.parse(link);
    let owner: string | undefined;
    let credentials: Credentials | undefined;
    if (!parsed.ok) {
      // Invalid spec: reported where the user looks; the shadows stay as they are, nothing remote is watched.
      remotes.drop(name);
      probers.dropAll(name);
      if (!reported(link, 'Ready', 'InvalidSpec', parsed.message)) {
        log().warn('invalid Link spec', { path: parsed.path, error: parsed.message });
        await this.event(link, 'InvalidSpec', parsed.message, ctx, log);
      }
    } else {
      owner = caches.linkFor(parsed.spec.targetClusterName)?.metadata?.name;
      if (owner === name) owner = undefined;
      if (owner) {
        remotes.drop(name);
        probers.dropAll(name);
      } else {
        credentials = await this.watchRemote(link, parsed.spec, ctx, log);
        probers.ensure(name, parsed.spec);
      }
    }
    await this.writeStatus(link, parsed, owner, credentials, ctx);
    return parsed.ok && !owner ? { requeueAfter: STATUS_PERIOD_MS } : undefined;
  }

  /** Keeps the remote watch on the credentials in the Secret; reports credentials that cannot be used. */
  private async watchRemote(link: Link, spec: LinkSpec, ctx: ReconcileContext, log: () => Logger): Promise<Credentials> {
    const name = link.metadata?.name ?? '';
    const secretName = spec.clusterCredentialsSecret;
    const creds = readCredentials(this.env.caches.secret(secretName), this.env.namespace, secretName);
    if (!creds.ok) {
      // Missing or unusable credentials: stop watching; the caches go, the shadows stay as they are.
      this.env.remotes.drop(name);
      if (!reported(link, 'CredentialsValid', creds.reason, creds.message)) {
        await this.event(link, creds.reason === 'InvalidKubeconfig' ? 'InvalidCredentials' : 'CredentialsMissing', creds.message, ctx, log);
      }
      return creds;
    }
    await this.env.remotes.ensure(name, spec, creds.kubeconfig, creds.version, log());
    const failure = this.env.remotes.failure(name);
    const message = `Secret ${secretName}: ${failure}`;
    if (failure && !reported(link, 'CredentialsValid', 'InvalidKubeconfig', message)) await this.event(link, 'InvalidCredentials', message, ctx, log);
    return creds;
  }

  private async event(link: Link, reason: string, message: string, ctx: ReconcileContext, log: () => Logger): Promise<void> {
    // Items of a list carry no apiVersion/kind; an Event's involvedObject needs them.
    await this.env.events.record({ ...link, apiVersion: LINK_API_VERSION, kind: LINK_KIND }, 'Warning', reason, message, { signal: ctx.signal, log: log() });
  }

  /**
   * Removes every shadow of the Link's cluster (unless another Link mirrors it) and revokes the credentials
   * it leaves (unlink.ts), then the finalizer.
   */
  private async finalize(link: Link, ctx: ReconcileContext, log: () => Logger): Promise<void> {
    const name = link.metadata?.name ?? '';
    const finalizers = link.metadata?.finalizers ?? [];
    if (!finalizers.includes(LINK_FINALIZER)) return;
    this.env.remotes.drop(name);
    this.env.probers.dropAll(name);
    const cluster = targetOf(link);
    const others = cluster ? this.env.caches.links.byIndex('target', cluster).filter((l) => l.metadata?.name !== name && !l.metadata?.deletionTimestamp) : [];
    if (cluster && others.length === 0) await this.removeShadowsOf(cluster, ctx, log);
    await revokeLinkCredentials(this.env, link, ctx, log);
    const metadata = { finalizers: finalizers.filter((f) => f !== LINK_FINALIZER), resourceVersion: link.metadata?.resourceVersion };
    await this.env.client.patch(this.linkPath(name), { metadata }, 'merge', { signal: ctx.signal });
  }

  private async removeShadowsOf(cluster: string, ctx: ReconcileContext, log: () => Logger): Promise<void> {
    const { client, metrics, ports } = this.env;
    const call = { signal: ctx.signal };
    // Read the server, not the cache: nothing may be left behind.
    const labelSelector = `${MIRRORED_LABEL}=true,${CLUSTER_LABEL}=${cluster}`;
    const svcs = await client.list<Service>('/api/v1/services', { labelSelector }, 500, call);
    const slices = await client.list<EndpointSlice>('/apis/discovery.k8s.io/v1/endpointslices', { labelSelector }, 500, call);
    for (const s of slices.items) {
      const path = resourcePath({ group: 'discovery.k8s.io', version: 'v1', plural: 'endpointslices', namespace: s.metadata?.namespace, name: s.metadata?.name });
      if (await deleteObject(client, path, call)) metrics.writes.inc({ kind: 'endpointslice', result: 'deleted' });
    }
    for (const s of svcs.items) {
      const path = resourcePath({ version: 'v1', plural: 'services', namespace: s.metadata?.namespace, name: s.metadata?.name });
      if (await deleteObject(client, path, call)) metrics.writes.inc({ kind: 'service', result: 'deleted' });
      ports.releaseShadow(keyOf(s));
    }
    log().info('link deleted: removed its shadows', { services: svcs.items.length, slices: slices.items.length });
  }

  /** The Link is gone: nothing of it stays in memory. */
  private forget(name: string): void {
    this.env.remotes.drop(name);
    this.env.probers.dropAll(name);
    const m = this.env.metrics;
    for (const g of [m.shadows, m.problems, m.conflicts, m.remoteReachable, m.credentialsValid, m.probeUp]) g.remove({ link: name });
  }

  /** What the status reads: the exported remote Services (if the remote cache has synced). */
  private exported(name: string, spec: LinkSpec): ExportedService[] | undefined {
    const rc = this.env.remotes.current(name);
    if (!rc?.hasSynced()) return undefined;
    const out: ExportedService[] = [];
    for (const s of rc.services.list()) {
      const mode = exportMode(s, spec);
      if (mode) out.push({ namespace: s.metadata?.namespace ?? '', name: s.metadata?.name ?? '', mode });
    }
    return out;
  }

  private async writeStatus(link: Link, parsed: ParsedLink, owner: string | undefined, credentials: Credentials | undefined, ctx: ReconcileContext): Promise<void> {
    const { caches, remotes, probers, clock } = this.env;
    const name = link.metadata?.name ?? '';
    const cluster = parsed.ok ? parsed.spec.targetClusterName : (targetOf(link) ?? '');
    const active = parsed.ok && !owner ? remotes.active(name) : undefined;
    const mirrored = mirroredServices({
      cluster,
      spec: parsed.ok ? parsed.spec : undefined,
      exported: parsed.ok && !owner ? this.exported(name, parsed.spec) : undefined,
      // A Link that duplicates another's target owns none of that cluster's shadows.
      shadows: cluster && !owner ? caches.shadowsOf(cluster) : [],
      local: (ns, n) => caches.service(ns, n),
      problems: this.env.problems.of(cluster),
    });
    const nowMs = clock.now();
    const status = computeLinkStatus({
      link,
      now: new Date(nowMs).toISOString().replace(/\.\d{3}Z$/, 'Z'),
      parsed,
      ownedBy: owner,
      credentials,
      clientError: remotes.failure(name),
      health: active?.health,
      server: active?.client.server.origin,
      probe: probers.view(name),
      mirrored,
      listMax: this.env.statusListMax,
    });
    this.setMetrics(name, status, mirrored.conflicts.length + mirrored.impostors.length);
    if (!statusNeedsWrite(link.status, status, nowMs)) return;
    try {
      await this.env.client.patch(`${this.linkPath(name)}/status`, statusPatch(link.status, status), 'merge', { signal: ctx.signal });
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }

  private setMetrics(link: string, status: LinkStatus, conflicts: number): void {
    const m = this.env.metrics;
    const services = status.mirroredServices?.services ?? [];
    const is = (type: LinkCondition['type'], v: string) => status.conditions?.some((c) => c.type === type && c.status === v) ?? false;
    m.shadows.set({ link }, status.mirroredServices?.count ?? 0);
    m.problems.set({ link }, services.filter((s) => s.problem).length);
    m.conflicts.set({ link }, conflicts);
    m.remoteReachable.set({ link }, is('RemoteAPIReachable', 'True') ? 1 : 0);
    m.credentialsValid.set({ link }, is('CredentialsValid', 'False') ? 0 : 1);
    const probe = this.env.probers.view(link);
    if (probe) m.probeUp.set({ link }, probe.healthy ? 1 : 0);
  }
}

/** The Link's status (as last written) already shows this condition with this reason and message. */
function reported(link: Link, type: LinkCondition['type'], reason: string, message: string): boolean {
  return link.status?.conditions?.some((c) => c.type === type && c.reason === reason && c.message === message) ?? false;
}
