// What a pod's containers find on disk: the service-account token (TokenRequest, renewed), projected
// tokens with their own audience, Secret and ConfigMap volumes, all under `<pod root>/fs<mountPath>`.
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { KubeClient } from '../kube/index.js';
import { isNotFound, errorMessage } from '../kube/index.js';
import type { Logger } from '../log/index.js';
import { SA_DIR, writeAtomic, type PodRt } from './kubelet-runtime.js';

const TOKEN_SECONDS = 3600;

export interface PodVolumesOptions {
  client: KubeClient;
  caPem: string;
  log: Logger;
  /** Whether the pod runtime is still the one the kubelet runs (a renewal of a stopped pod is dropped). */
  isCurrent(rt: PodRt): boolean;
}

export class PodVolumes {
  constructor(private readonly o: PodVolumesOptions) {}

  /** The pod's default service-account token, ca.crt and namespace; renewed at 80% of the token's life. */
  async refreshToken(rt: PodRt): Promise<boolean> {
    const pod = rt.pod;
    const ns = pod.metadata.namespace ?? 'default';
    const sa = pod.spec.serviceAccountName ?? 'default';
    const dir = join(rt.root, 'fs', SA_DIR);
    mkdirSync(dir, { recursive: true });
    writeAtomic(join(dir, 'ca.crt'), this.o.caPem);
    writeAtomic(join(dir, 'namespace'), ns);
    try {
      const tr = await this.o.client.create<{ status?: { token?: string; expirationTimestamp?: string } }>(
        `/api/v1/namespaces/${ns}/serviceaccounts/${sa}/token`,
        { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: TOKEN_SECONDS, boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: pod.metadata.name, uid: pod.metadata.uid } } },
      );
      const token = tr.status?.token;
      if (!token) throw new Error('TokenRequest returned no token');
      writeAtomic(join(dir, 'token'), token);
      rt.tokenReady = true;
      const exp = tr.status?.expirationTimestamp ? Date.parse(tr.status.expirationTimestamp) : Date.now() + TOKEN_SECONDS * 1000;
      // Renew at 80% of the lifetime, as the kubelet does.
      const inMs = Math.max(5_000, (exp - Date.now()) * 0.8);
      if (rt.tokenTimer) clearTimeout(rt.tokenTimer);
      rt.tokenTimer = setTimeout(() => { if (this.o.isCurrent(rt)) void this.refreshToken(rt); }, inMs);
      rt.tokenTimer.unref();
      return true;
    } catch (err) {
      this.o.log.warn('service account token request failed; will retry', { pod: rt.key, serviceAccount: sa, err: errorMessage(err) });
      // Start the containers anyway: a process that needs the token crash-loops until it appears.
      return false;
    }
  }

  private readonly objCache = new Map<string, Record<string, string> | null>();
  /** Projected serviceAccountToken volume sources, per pod key + volume/path: renewed at 80% of their life. */
  private readonly projected = new Map<string, { token: string; renewAt: number }>();

  private async projectedToken(rt: PodRt, id: string, audience: string | undefined, seconds: number | undefined): Promise<string> {
    const k = `${rt.uid}/${id}`;
    const have = this.projected.get(k);
    if (have && Date.now() < have.renewAt) return have.token;
    const ns = rt.pod.metadata.namespace ?? 'default';
    const sa = rt.pod.spec.serviceAccountName ?? 'default';
    const life = Math.max(600, seconds ?? TOKEN_SECONDS);
    const tr = await this.o.client.create<{ status?: { token?: string; expirationTimestamp?: string } }>(
      `/api/v1/namespaces/${ns}/serviceaccounts/${sa}/token`,
      { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { ...(audience ? { audiences: [audience] } : {}), expirationSeconds: life, boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: rt.pod.metadata.name, uid: rt.pod.metadata.uid } } },
    );
    const token = tr.status?.token;
    if (!token) throw new Error(`TokenRequest for ${ns}/${sa} (audience ${audience ?? 'default'}) returned no token`);
    const exp = tr.status?.expirationTimestamp ? Date.parse(tr.status.expirationTimestamp) : Date.now() + life * 1000;
    this.projected.set(k, { token, renewAt: Date.now() + (exp - Date.now()) * 0.8 });
    return token;
  }

  /** A Secret or ConfigMap key fetched by materialize (for env valueFrom). */
  lookupCached(rt: PodRt, kind: 'secret' | 'configmap', name: string, key: string): string | undefined {
    return this.objCache.get(`${rt.pod.metadata.namespace}/${kind}/${name}`)?.[key];
  }

  private async fetchData(ns: string, kind: 'secret' | 'configmap', name: string): Promise<Record<string, string> | null> {
    try {
      const o = await this.o.client.get<{ data?: Record<string, string>; binaryData?: Record<string, string> }>(`/api/v1/namespaces/${ns}/${kind === 'secret' ? 'secrets' : 'configmaps'}/${name}`);
      const out: Record<string, string> = {};
      if (kind === 'secret') for (const [k, v] of Object.entries(o.data ?? {})) out[k] = Buffer.from(v, 'base64').toString('utf8');
      else {
        Object.assign(out, o.data ?? {});
        for (const [k, v] of Object.entries(o.binaryData ?? {})) out[k] = Buffer.from(v, 'base64').toString('latin1');
      }
      this.objCache.set(`${ns}/${kind}/${name}`, out);
      return out;
    } catch (err) {
      if (isNotFound(err)) { this.objCache.set(`${ns}/${kind}/${name}`, null); return null; }
      throw err;
    }
  }

  /** Secrets/ConfigMaps referenced by env or volumes, written under `<pod root>/fs<mountPath>`. */
  async materialize(rt: PodRt): Promise<void> {
    const pod = rt.pod;
    const ns = pod.metadata.namespace ?? 'default';
    for (const c of pod.spec.containers) {
      for (const e of c.env ?? []) {
        const r = e.valueFrom?.secretKeyRef ?? e.valueFrom?.configMapKeyRef;
        if (r) await this.fetchData(ns, e.valueFrom?.secretKeyRef ? 'secret' : 'configmap', r.name);
      }
    }
    const vols = new Map((pod.spec.volumes ?? []).map((v) => [v.name, v]));
    for (const c of pod.spec.containers) {
      for (const m of c.volumeMounts ?? []) {
        const v = vols.get(m.name);
        if (!v) throw new Error(`volume "${m.name}" mounted by container ${c.name} is not in spec.volumes`);
        const files = new Map<string, string>();
        const take = async (kind: 'secret' | 'configmap', name: string, items: Array<{ key: string; path: string }> | undefined, optional: boolean | undefined) => {
          const data = await this.fetchData(ns, kind, name);
          if (!data) {
            if (optional) return;
            throw new Error(`${kind} "${name}" not found (volume ${v.name})`);
          }
          if (items) for (const it of items) { if (data[it.key] !== undefined) files.set(it.path, data[it.key]!); }
          else for (const [k, val] of Object.entries(data)) files.set(k, val);
        };
        if (v.secret) await take('secret', v.secret.secretName, v.secret.items, v.secret.optional);
        else if (v.configMap) await take('configmap', v.configMap.name, v.configMap.items, v.configMap.optional);
        else if (v.projected) {
          for (const s of v.projected.sources ?? []) {
            if (s.secret) await take('secret', s.secret.name, s.secret.items, s.secret.optional);
            if (s.configMap) await take('configmap', s.configMap.name, s.configMap.items, s.configMap.optional);
            if (s.serviceAccountToken) files.set(s.serviceAccountToken.path, await this.projectedToken(rt, `${v.name}/${s.serviceAccountToken.path}`, s.serviceAccountToken.audience, s.serviceAccountToken.expirationSeconds));
          }
        }
        const target = join(rt.root, 'fs', m.mountPath);
        if (m.subPath) {
          const content = files.get(m.subPath);
          if (content !== undefined) { mkdirSync(dirname(target), { recursive: true }); writeAtomic(target, content); }
          continue;
        }
        mkdirSync(target, { recursive: true });
        for (const [p, content] of files) {
          const f = join(target, p);
          mkdirSync(dirname(f), { recursive: true });
          writeAtomic(f, content);
        }
      }
    }
  }

  /** Drops the projected tokens of a stopped pod. */
  forget(uid: string): void {
    for (const k of [...this.projected.keys()]) if (k.startsWith(`${uid}/`)) this.projected.delete(k);
  }
}
