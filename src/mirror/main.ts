// `mesh controller`: wires the local client, the mirror, leader election, the probe identity and the
// admin port together, and runs until SIGTERM.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { hostname } from 'node:os';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { z } from 'zod';
import type { KubeConfig } from '@kubernetes/client-node';
import { KubeClient, LeaderElector, errorMessage, loadKubeConfig, realClock, type Clock } from '../kube/index.js';
import { createLogger, type Logger } from '../log/index.js';
import { TrustBundle, generateKeyPair, issueLeaf, loadAuthority, spiffeId } from '../trust/index.js';
import { KubeTrustSource, materialKey, startIdentityService, type IdentityService, type TrustMaterial, type TrustSource } from '../identity/index.js';
import { startAdminServer } from './admin.js';
import { MirrorController } from './controller.js';
import { PortAllocator, parsePortRange } from './ports.js';
import type { ProbeCredentials } from './probe.js';
import {
  CONTROLLER_ADMIN_PORT,
  CONTROLLER_NAME,
  DEFAULT_CLUSTER_DOMAIN,
  DEFAULT_OUTBOUND_PORTS,
  DEFAULT_TRUST_DOMAIN,
  IDENTITY_PORT,
  MESH_NAMESPACE,
  dnsLabelSchema,
} from '../api/index.js';

export const controllerOptionsSchema = z.object({
  clusterName: dnsLabelSchema,
  clusterDomain: z.string().min(1).default(DEFAULT_CLUSTER_DOMAIN),
  trustDomain: z.string().min(1).default(DEFAULT_TRUST_DOMAIN),
  namespace: z.string().min(1).default(MESH_NAMESPACE),
  outboundPorts: z.string().default(DEFAULT_OUTBOUND_PORTS),
  adminPort: z.number().int().min(0).max(65535).default(CONTROLLER_ADMIN_PORT),
  identityPort: z.number().int().min(0).max(65535).default(IDENTITY_PORT),
  ha: z.boolean().default(false),
  leaseDurationSeconds: z.number().int().min(2).max(300).default(15),
  kubeconfig: z.string().optional(),
  context: z.string().optional(),
  cert: z.string().optional(),
  key: z.string().optional(),
  bundle: z.string().optional(),
  issuerDir: z.string().optional(),
  trustBundle: z.string().optional(),
  workers: z.number().int().min(1).max(64).default(4),
  // Remote retries are capped short: a cut remote converges within seconds once it is back.
  remoteBackoffMaxMs: z.number().int().min(100).default(4_000),
});
export type ControllerOptions = z.infer<typeof controllerOptionsSchema>;

/**
 * The probe's client identity: files given on the command line, or a leaf the controller issues itself from
 * the issuer (the mesh-issuer Secret the trust source watches, else --issuer-dir).
 */
function probeCredentials(o: ControllerOptions, log: Logger, source: TrustSource | undefined, clock: Clock = realClock): () => ProbeCredentials | undefined {
  // Warn once per distinct problem, not on every probe round.
  let lastWarning = '';
  const warn = (message: string, fields: Record<string, string>) => {
    const key = `${message}|${JSON.stringify(fields)}`;
    if (key !== lastWarning) log.warn(message, fields);
    lastWarning = key;
  };
  if (o.cert && o.key && o.bundle) {
    const { cert, key, bundle } = o;
    return () => {
      try {
        return { chainPem: readFileSync(cert, 'utf8'), keyPem: readFileSync(key, 'utf8'), bundle: readFileSync(bundle, 'utf8') };
      } catch (err) {
        warn('cannot read probe credentials', { error: errorMessage(err) });
        return undefined;
      }
    };
  }
  // Keyed on the issuer AND the bundle (trustKey): a root rotation adds the new root to the bundle before
  // any issuer changes, and a probe still verifying with the old bundle would fail new gateways.
  const fromIssuer = (issuerOf: () => TrustMaterial | undefined) => {
    let cached: { creds: ProbeCredentials; renewAt: number; key: string } | undefined;
    return (): ProbeCredentials | undefined => {
      const m = issuerOf();
      if (!m) return undefined;
      const key = materialKey(m);
      if (cached && cached.key === key && clock.now() < cached.renewAt) return cached.creds;
      const kp = generateKeyPair();
      const leaf = issueLeaf({ issuer: m.issuer, identity: spiffeId(m.issuer.trustDomain, o.namespace, CONTROLLER_NAME), publicKey: kp.publicKey });
      const creds: ProbeCredentials = { keyPem: kp.keyPem, chainPem: leaf.chainPem, bundle: m.bundle };
      const now = clock.now();
      if (cached && cached.key !== key) log.info('probe identity re-issued: trust material changed', { issuer: m.issuer.cert.x509.fingerprint256, roots: m.bundle.roots.length });
      cached = { creds, key, renewAt: now + (leaf.notAfter.getTime() - now) / 2 };
      return creds;
    };
  };
  const dir = o.issuerDir;
  const fromDir = dir
    ? fromIssuer(() => {
        const pick = (a: string, b: string) => (existsSync(join(dir, a)) ? join(dir, a) : join(dir, b));
        const certPath = pick('issuer.crt', 'tls.crt');
        if (!existsSync(certPath)) return undefined;
        const issuer = loadAuthority('issuer', readFileSync(certPath, 'utf8'), readFileSync(pick('issuer.key', 'tls.key'), 'utf8'));
        const bundlePath = o.trustBundle && existsSync(o.trustBundle) ? o.trustBundle : pick('ca.crt', 'root.crt');
        return { issuer, bundle: TrustBundle.fromPem(readFileSync(bundlePath, 'utf8')) };
      })
    : undefined;
  const fromSource = source ? fromIssuer(() => source.current()) : undefined;
  // The watched mesh-issuer Secret and mesh-trust-roots ConfigMap first, --issuer-dir (mounted files) when
  // there is none: a kubelet refreshes mounted files a minute or more after a change, and meanwhile the
  // Identity service (same watched material) hands gateways leaves from a new issuer that a probe verifying
  // with the mounted bundle refused (measured in the root rotation e2e: 3 misses, shadows marked not ready).
  return () => {
    for (const [what, get] of [['mesh-issuer Secret', fromSource], ['issuer-dir', fromDir]] as const) {
      if (!get) continue;
      try {
        const c = get();
        if (c) return c;
      } catch (err) {
        warn('cannot issue the controller probe identity', { from: what, error: errorMessage(err) });
      }
    }
    warn('no probe identity yet: no issuer in --issuer-dir or in the mesh-issuer Secret', { issuerDir: dir ?? '' });
    return undefined;
  };
}

/**
 * Tuning that only tests change (documented in src/mirror/README.md): MESH_RECONCILE_TIMEOUT_MS (a reconcile
 * running longer is abandoned and retried) and MESH_TOKEN_RENEW_AFTER_MS (renew a link token at most this long
 * after it was issued).
 */
function tuningFromEnv(env: NodeJS.ProcessEnv = process.env): { reconcileTimeoutMs?: number; tokenRenewCapMs?: number } {
  const ms = (v: string | undefined) => (v && Number(v) > 0 ? Number(v) : undefined);
  return { reconcileTimeoutMs: ms(env.MESH_RECONCILE_TIMEOUT_MS), tokenRenewCapMs: ms(env.MESH_TOKEN_RENEW_AFTER_MS) };
}

/** The Identity service starts once issuer material exists (it may be installed after the controller). */
function startIdentityWhenReady(o: ControllerOptions, kc: KubeConfig, trustSource: KubeTrustSource, log: Logger): { stop: () => Promise<void> } {
  let identity: IdentityService | undefined;
  let stopping = false;
  void (async () => {
    while (!stopping) {
      try {
        await trustSource.ready(30_000);
        identity = await startIdentityService({ source: trustSource, kubeConfig: kc, namespace: o.namespace, port: o.identityPort, logger: createLogger('identity', { fields: { cluster: o.clusterName } }) });
        return;
      } catch (err) {
        log.warn('identity service not started yet; retrying', { error: errorMessage(err), port: o.identityPort });
        await new Promise((r) => setTimeout(r, 5_000).unref());
      }
    }
  })();
  return {
    stop: async () => {
      stopping = true;
      await identity?.stop();
    },
  };
}

/** With --ha, only the Lease holder writes: it runs the mirror once it leads, and exits when it loses the Lease. */
function leadThenRun(o: ControllerOptions, client: KubeClient, mirror: MirrorController, log: Logger, onLeading: (v: boolean) => void): LeaderElector {
  const identity = process.env.POD_NAME || `${hostname()}-${process.pid}`;
  const elector = new LeaderElector(client, {
    namespace: o.namespace,
    name: CONTROLLER_NAME,
    identity,
    leaseDurationMs: o.leaseDurationSeconds * 1000,
    renewDeadlineMs: (o.leaseDurationSeconds * 1000 * 2) / 3,
    retryPeriodMs: Math.max(200, (o.leaseDurationSeconds * 1000) / 7),
    logger: log,
    onStartedLeading: () => {
      onLeading(true);
      log.info('leading: reconciling', { identity });
      mirror.run();
    },
    onStoppedLeading: () => {
      // Only the holder writes. Stepping down mid-reconcile is safest as a fresh start: exit, and let
      // the Deployment (or the sandbox) restart this replica as a standby.
      onLeading(false);
      log.warn('lost the lease: exiting so that only the new leader writes', { identity });
      process.exit(0);
    },
  });
  elector.start();
  return elector;
}

export async function runController(o: ControllerOptions): Promise<{ stop: () => Promise<void> }> {
  const log = createLogger('mirror', { fields: { cluster: o.clusterName } });
  const range = parsePortRange(o.outboundPorts);
  const kc = loadKubeConfig({ kubeconfig: o.kubeconfig, context: o.context });
  const client = await KubeClient.create(kc);
  // The issuer and trust roots (Secret mesh-issuer, ConfigMap mesh-trust-roots): the Identity service's
  // material and the source of the controller's own probe identity.
  const trustSource = await KubeTrustSource.start({ kubeConfig: kc, namespace: o.namespace, logger: createLogger('trust', { fields: { cluster: o.clusterName } }) });
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const mirror = new MirrorController({
    clusterName: o.clusterName,
    clusterSet: o.trustDomain,
    client,
    namespace: o.namespace,
    ports: new PortAllocator(range.min, range.max),
    logger: log,
    registry,
    workers: o.workers,
    probeCredentials: probeCredentials(o, log, trustSource),
    remoteBackoffMaxMs: o.remoteBackoffMaxMs,
    ...tuningFromEnv(),
  });
  let leading = !o.ha;
  const host = process.env.POD_IP || '0.0.0.0';
  const admin = await startAdminServer({
    host,
    port: o.adminPort,
    registry,
    ready: () => {
      const synced = mirror.cachesSynced();
      return { ok: synced, detail: { cachesSynced: synced, leader: leading, links: mirror.linkStates() } };
    },
  });
  log.info('admin server listening', { address: host, port: admin.port });
  await mirror.startCaches();
  log.info('local caches synced', { links: mirror.caches.links.size(), services: mirror.caches.services.size() });
  const identity = startIdentityWhenReady(o, kc, trustSource, log);
  const elector = o.ha ? leadThenRun(o, client, mirror, log, (v) => (leading = v)) : undefined;
  if (!o.ha) mirror.run();
  log.info('controller started', { ha: o.ha, outboundPorts: o.outboundPorts });
  return {
    stop: async () => {
      await identity.stop();
      trustSource.stop();
      await elector?.stop();
      await mirror.stop();
      await admin.close();
      client.close();
    },
  };
}
