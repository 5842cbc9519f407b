// Where the Identity service gets its issuer and trust bundle. In a cluster: the Secret `mesh-issuer`
// (kubernetes.io/tls: tls.crt, tls.key, ca.crt) and the ConfigMap `mesh-trust-roots` (ca-bundle.crt) in
// mesh-system, watched so a rotation takes effect without a restart. A bad Secret is logged and the
// last good material kept: a typo in a Secret must not take identity down.
import { EventEmitter } from 'node:events';
import { z } from 'zod';
import { Informer, KubeClient, type KubeObject } from '../kube/index.js';
import { silentLogger, type Logger } from '../log/index.js';
import type { KubeConfig } from '@kubernetes/client-node';
import { ISSUER_SECRET, MESH_NAMESPACE, TRUST_ROOTS_CONFIGMAP, TRUST_ROOTS_KEY } from '../api/index.js';
import { TrustBundle, loadAuthority, trustKey, TrustError, type CertificateAuthority } from '../trust/index.js';

export interface TrustMaterial {
  issuer: CertificateAuthority;
  bundle: TrustBundle;
}

export interface TrustSource {
  current(): TrustMaterial | undefined;
  /** Called with the new material each time it changes (not for no-op updates). */
  onChange(fn: (m: TrustMaterial) => void): void;
  stop(): void;
}

/** Checks that the issuer chains to a root in the bundle: leaves nobody trusts must not be handed out. */
export function checkMaterial(m: TrustMaterial): TrustMaterial {
  if (m.issuer.kind !== 'issuer') throw new TrustError('INVALID_CERT', 'the issuer certificate is a root; an issuer must be an intermediate');
  const x = m.issuer.cert.x509;
  if (!m.bundle.roots.some((r) => x.checkIssued(r.cert.x509) && x.verify(r.cert.x509.publicKey))) {
    throw new TrustError('INVALID_CERT', `the issuer (${x.subject?.replace(/\n/g, ', ')}) is not signed by any root in the trust bundle`);
  }
  return m;
}

/** The issuer and the bundle, both (see trustKey): a change to either is a change. */
export const materialKey = (m: TrustMaterial): string => trustKey(m.bundle, m.issuer.cert.x509.fingerprint256);

/** Material held in memory: tests, benchmarks, and `mesh controller --issuer-dir`. */
export class StaticTrustSource implements TrustSource {
  private material: TrustMaterial | undefined;
  private readonly events = new EventEmitter();

  constructor(m?: TrustMaterial) {
    if (m) this.material = checkMaterial(m);
  }

  current(): TrustMaterial | undefined {
    return this.material;
  }

  set(m: TrustMaterial): void {
    checkMaterial(m);
    const changed = !this.material || materialKey(this.material) !== materialKey(m);
    this.material = m;
    if (changed) this.events.emit('change', m);
  }

  onChange(fn: (m: TrustMaterial) => void): void {
    this.events.on('change', fn);
  }

  stop(): void {
    this.events.removeAllListeners();
  }
}

const b64 = z.string().transform((s, ctx) => {
  const out = Buffer.from(s, 'base64').toString('utf8');
  if (!out) ctx.addIssue({ code: 'custom', message: 'empty after base64 decoding' });
  return out;
});
const issuerSecretSchema = z.object({
  data: z.object({ 'tls.crt': b64, 'tls.key': b64, 'ca.crt': b64.optional() }),
});
const rootsConfigMapSchema = z.object({ data: z.object({ [TRUST_ROOTS_KEY]: z.string().min(1) }) });

/** Builds material from the Secret and (optional) ConfigMap objects; throws with what is wrong. */
export function materialFromObjects(secret: unknown, configMap: unknown | undefined): TrustMaterial {
  const s = issuerSecretSchema.safeParse(secret);
  if (!s.success) throw new TrustError('INVALID_CERT', `Secret ${ISSUER_SECRET} is malformed: ${s.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  const issuer = loadAuthority('issuer', s.data.data['tls.crt'], s.data.data['tls.key']);
  let bundlePem: string | undefined;
  if (configMap !== undefined) {
    const c = rootsConfigMapSchema.safeParse(configMap);
    if (!c.success) throw new TrustError('INVALID_CERT', `ConfigMap ${TRUST_ROOTS_CONFIGMAP} has no ${TRUST_ROOTS_KEY}`);
    bundlePem = c.data.data[TRUST_ROOTS_KEY];
  } else {
    bundlePem = s.data.data['ca.crt'];
  }
  if (!bundlePem) throw new TrustError('INVALID_CERT', `no trust bundle: ConfigMap ${TRUST_ROOTS_CONFIGMAP} is missing and Secret ${ISSUER_SECRET} has no ca.crt`);
  return checkMaterial({ issuer, bundle: TrustBundle.fromPem(bundlePem) });
}

export interface KubeTrustSourceOptions {
  kubeConfig: KubeConfig;
  namespace?: string;
  logger?: Logger;
}

/** Watches the Secret and ConfigMap; `ready()` resolves once valid material has been loaded. */
export class KubeTrustSource implements TrustSource {
  private material: TrustMaterial | undefined;
  private readonly events = new EventEmitter();
  private readonly log: Logger;
  private readonly ns: string;
  private client: KubeClient | undefined;
  private secrets: Informer | undefined;
  private configMaps: Informer | undefined;
  private lastError = '';

  private constructor(opts: KubeTrustSourceOptions) {
    this.log = opts.logger ?? silentLogger();
    this.ns = opts.namespace ?? MESH_NAMESPACE;
  }

  static async start(opts: KubeTrustSourceOptions): Promise<KubeTrustSource> {
    const src = new KubeTrustSource(opts);
    src.client = await KubeClient.create(opts.kubeConfig);
    const mk = (resource: string, name: string) =>
      new Informer(src.client!, {
        path: `/api/v1/namespaces/${src.ns}/${resource}`,
        fieldSelector: `metadata.name=${name}`,
        name: `trust:${resource}/${name}`,
        logger: src.log,
        onError: (err) => src.log.warn('watch of trust material failed; retrying', { resource, name, namespace: src.ns, error: (err as Error).message }),
      });
    src.secrets = mk('secrets', ISSUER_SECRET);
    src.configMaps = mk('configmaps', TRUST_ROOTS_CONFIGMAP);
    src.secrets.onKey(() => src.refresh());
    src.configMaps.onKey(() => src.refresh());
    src.secrets.start();
    src.configMaps.start();
    return src;
  }

  /** Waits until the caches have synced and material is valid, or throws after `timeoutMs` with why. */
  async ready(timeoutMs = 30_000): Promise<TrustMaterial> {
    const deadline = Date.now() + timeoutMs;
    await Promise.all([this.secrets!.waitForSync(timeoutMs), this.configMaps!.waitForSync(timeoutMs)]);
    this.refresh();
    while (!this.material) {
      if (Date.now() > deadline) throw new TrustError('INVALID_CERT', `no valid issuer in ${this.ns}: ${this.lastError || `Secret ${ISSUER_SECRET} not found`}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    return this.material;
  }

  current(): TrustMaterial | undefined {
    return this.material;
  }

  onChange(fn: (m: TrustMaterial) => void): void {
    this.events.on('change', fn);
  }

  private find(inf: Informer | undefined, name: string): KubeObject | undefined {
    return inf?.list().find((o) => o.metadata?.name === name && (o.metadata?.namespace ?? this.ns) === this.ns);
  }

  private refresh(): void {
    const secret = this.find(this.secrets, ISSUER_SECRET);
    if (!secret) {
      if (this.lastError !== 'missing') this.log.warn('issuer Secret not found; keeping the current issuer', { secret: `${this.ns}/${ISSUER_SECRET}` });
      this.lastError = 'missing';
      return;
    }
    try {
      const m = materialFromObjects(secret, this.find(this.configMaps, TRUST_ROOTS_CONFIGMAP));
      if (this.material && materialKey(this.material) === materialKey(m)) return;
      this.material = m;
      this.lastError = '';
      this.log.info('trust material loaded', {
        issuer: m.issuer.cert.x509.subject?.replace(/\n/g, ', '),
        issuerNotAfter: m.issuer.notAfter.toISOString(),
        roots: m.bundle.roots.length,
      });
      this.events.emit('change', m);
    } catch (err) {
      const msg = (err as Error).message;
      if (msg !== this.lastError) this.log.error('trust material is invalid; keeping the last good one', { secret: `${this.ns}/${ISSUER_SECRET}`, configMap: `${this.ns}/${TRUST_ROOTS_CONFIGMAP}`, error: msg });
      this.lastError = msg;
    }
  }

  stop(): void {
    this.secrets?.stop();
    this.configMaps?.stop();
    this.client?.close();
    this.events.removeAllListeners();
  }
}
