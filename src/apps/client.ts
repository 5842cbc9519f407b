// The traffic client of the demo and the e2e scenarios: N requests (HTTP, gRPC or raw TCP), each on a
// new connection so that per-connection balancing shows, each reporting who answered and how fast.
// Names resolve through the cluster DNS when MESH_CLUSTER_DNS is set (a process outside a pod's netns
// cannot rely on /etc/resolv.conf), else through the system resolver.
import { request as httpRequest } from 'node:http';
import { connect as netConnect, isIP } from 'node:net';
import { lookup, Resolver } from 'node:dns/promises';
import { z } from 'zod';
import { hostPort } from '../api/index.js';
import { echoCall } from './grpc-call.js';

const hostPortString = z.string().regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9._-]+):\d{1,5}$/, 'must be host:port');

export const ClientOptionsSchema = z
  .object({
    url: z.url({ protocol: /^http$/ }).optional(),
    grpc: hostPortString.optional(),
    tcp: hostPortString.optional(),
    count: z.number().int().min(1).max(100_000).default(1),
    intervalMs: z.number().int().min(0).max(60_000).default(0),
    timeoutMs: z.number().int().min(1).max(120_000).default(5_000),
    /** `ip:port` of the cluster DNS; default: env MESH_CLUSTER_DNS, else the system resolver. */
    dnsServer: hostPortString.optional(),
    /** Suffixes tried for names with fewer than `ndots` dots (as resolv.conf search); default env MESH_DNS_SEARCH. */
    search: z.array(z.string().min(1)).default([]),
    ndots: z.number().int().min(0).max(15).default(5),
    /** Source address of HTTP, gRPC and TCP connections; default env POD_IP. In a pod that is the pod's own address
     * anyway; in the sandbox, whose pods share their cluster's network namespace, it is what makes a
     * connection come from this pod (the mesh gateway attests callers by source address). */
    localAddress: z.union([z.ipv4(), z.ipv6()]).optional(),
  })
  .refine((o) => [o.url, o.grpc, o.tcp].filter(Boolean).length === 1, { message: 'give exactly one of url, grpc, tcp' });

export type ClientOptions = z.input<typeof ClientOptionsSchema> & {
  /** Called after each request, e.g. to stream results. */
  onResult?: (r: RequestResult) => void;
  signal?: AbortSignal;
};

export interface RequestResult {
  seq: number;
  /** When the request started (ISO 8601): failures are lined up with other components' logs by it. */
  at: string;
  ok: boolean;
  latencyMs: number;
  /** The address actually connected to, after DNS. */
  address?: string;
  cluster?: string;
  namespace?: string;
  pod?: string;
  podIP?: string;
  /** The caller the target was told about by the mesh gateway (PROXY v2, issue 15): SPIFFE id and cluster. */
  callerIdentity?: string;
  callerCluster?: string;
  /** HTTP status or gRPC status name. */
  status?: string;
  error?: string;
}

export interface ClientSummary {
  target: string;
  total: number;
  ok: number;
  failed: number;
  byCluster: Record<string, number>;
  byPod: Record<string, number>;
  latencyMs: { min: number; p50: number; p90: number; p99: number; max: number; mean: number };
}

export interface ClientReport {
  results: RequestResult[];
  summary: ClientSummary;
}

export class ClientUsageError extends Error {
  readonly code = 'APP_CLIENT_USAGE';
  constructor(message: string) {
    super(message);
    this.name = 'ClientUsageError';
  }
}

interface Target {
  kind: 'http' | 'grpc' | 'tcp';
  host: string;
  port: number;
  path: string;
  display: string;
}

function splitHostPort(s: string): { host: string; port: number } {
  const i = s.lastIndexOf(':');
  return { host: s.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(s.slice(i + 1)) };
}

function targetOf(o: z.output<typeof ClientOptionsSchema>): Target {
  if (o.url) {
    const u = new URL(o.url);
    return { kind: 'http', host: u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port || 80), path: `${u.pathname}${u.search}`, display: o.url };
  }
  const kind = o.grpc ? 'grpc' : 'tcp';
  const hp = splitHostPort((o.grpc ?? o.tcp) as string);
  return { kind, ...hp, path: '', display: `${kind}://${hostPort(hp.host, hp.port)}` };
}

/** A resolver for `host`: cluster DNS (with search list) when configured, else the system's. */
export function makeResolver(dnsServer: string | undefined, search: string[], ndots: number, timeoutMs: number): (host: string) => Promise<string> {
  if (!dnsServer) {
    return async (host) => (isIP(host) ? host : (await lookup(host)).address);
  }
  const r = new Resolver({ timeout: Math.min(timeoutMs, 2_000), tries: 2 });
  r.setServers([dnsServer]);
  const one = async (name: string): Promise<string | undefined> => {
    const v4 = await r.resolve4(name).catch(() => [] as string[]);
    if (v4.length) return v4[Math.floor(Math.random() * v4.length)];
    const v6 = await r.resolve6(name).catch(() => [] as string[]);
    return v6.length ? v6[Math.floor(Math.random() * v6.length)] : undefined;
  };
  return async (host) => {
    if (isIP(host)) return host;
    // localhost never goes to the cluster DNS (which would refuse it), as resolv.conf-based resolvers
    // answer it from /etc/hosts.
    if (host === 'localhost' || host.endsWith('.localhost')) return (await lookup(host)).address;
    const absolute = host.endsWith('.');
    const dots = host.split('.').length - 1;
    const names = absolute ? [host] : dots >= ndots ? [host, ...search.map((s) => `${host}.${s}`)] : [...search.map((s) => `${host}.${s}`), host];
    for (const n of names) {
      const ip = await one(n);
      if (ip) return ip;
    }
    throw new Error(`cannot resolve ${host} via cluster DNS ${dnsServer} (tried ${names.join(', ')})`);
  };
}

const identityBody = z.object({ cluster: z.string(), namespace: z.string().optional(), pod: z.string(), podIP: z.string().optional(), callerIdentity: z.string().optional(), callerCluster: z.string().optional() });

export async function runClient(options: ClientOptions): Promise<ClientReport> {
  const envSearch = (process.env.MESH_DNS_SEARCH ?? '').split(/[\s,]+/).filter(Boolean);
  const parsed = ClientOptionsSchema.safeParse({
    ...options,
    dnsServer: options.dnsServer ?? (process.env.MESH_CLUSTER_DNS || undefined),
    search: options.search ?? envSearch,
    localAddress: options.localAddress ?? (isIP(process.env.POD_IP ?? '') ? process.env.POD_IP : undefined),
  });
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ClientUsageError(`${issue?.path.join('.') || 'options'}: ${issue?.message ?? 'invalid'}`);
  }
  const o = parsed.data;
  const target = targetOf(o);
  const resolve = makeResolver(o.dnsServer, o.search, o.ndots, o.timeoutMs);
  const results: RequestResult[] = [];
  for (let seq = 1; seq <= o.count; seq++) {
    if (options.signal?.aborted) break;
    const started = performance.now();
    const at = new Date().toISOString();
    let r: RequestResult;
    try {
      const ip = await resolve(target.host);
      const address = hostPort(ip, target.port);
      const local = o.localAddress !== undefined && isIP(o.localAddress) === isIP(ip) ? o.localAddress : undefined;
      const got = await withTimeout(one(target, ip, o.timeoutMs, local), o.timeoutMs, `no answer from ${address} within ${o.timeoutMs} ms`);
      r = { seq, at, latencyMs: performance.now() - started, address, ...got };
    } catch (err) {
      r = { seq, at, ok: false, latencyMs: performance.now() - started, error: err instanceof Error ? err.message : String(err) };
    }
    r.latencyMs = Math.round(r.latencyMs * 1000) / 1000;
    results.push(r);
    options.onResult?.(r);
    if (seq < o.count && o.intervalMs > 0) await sleep(o.intervalMs, options.signal);
  }
  return { results, summary: summarize(target.display, results) };
}

async function one(t: Target, ip: string, timeoutMs: number, localAddress: string | undefined): Promise<Omit<RequestResult, 'seq' | 'at' | 'latencyMs' | 'address'>> {
  switch (t.kind) {
    case 'http':
      return httpOnce(t, ip, localAddress);
    case 'grpc':
      return grpcOnce(t, ip, timeoutMs, localAddress);
    case 'tcp':
      return tcpOnce(t, ip, localAddress);
  }
}

function httpOnce(t: Target, ip: string, localAddress: string | undefined): Promise<Omit<RequestResult, 'seq' | 'at' | 'latencyMs' | 'address'>> {
  return new Promise((resolve, reject) => {
    // agent: false = a new connection per request, so the Service proxy's per-connection spread shows.
    const req = httpRequest({ host: ip, port: t.port, path: t.path || '/', method: 'GET', agent: false, ...(localAddress ? { localAddress } : {}), headers: { host: hostPort(t.host, t.port), 'user-agent': 'mesh-app-client' } }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (d: Buffer) => {
        size += d.length;
        if (size <= 1024 * 1024) chunks.push(d);
      });
      res.on('error', reject);
      res.on('end', () => {
        const status = String(res.statusCode ?? 0);
        const ok = (res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 300;
        let who: z.infer<typeof identityBody> | undefined;
        try {
          const p = identityBody.safeParse(JSON.parse(Buffer.concat(chunks).toString('utf8')));
          if (p.success) who = p.data;
        } catch {
          // Not an echo app: still a valid HTTP answer, just without identity.
        }
        const cluster = who?.cluster ?? header(res.headers['x-mesh-cluster']);
        const pod = who?.pod ?? header(res.headers['x-mesh-pod']);
        resolve({ ok, status, ...(cluster ? { cluster } : {}), ...(pod ? { pod } : {}), ...(who?.namespace ? { namespace: who.namespace } : {}), ...(who?.podIP ? { podIP: who.podIP } : {}), ...(who?.callerIdentity ? { callerIdentity: who.callerIdentity } : {}), ...(who?.callerCluster ? { callerCluster: who.callerCluster } : {}), ...(ok ? {} : { error: `HTTP ${status}` }) });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

function header(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

async function grpcOnce(t: Target, ip: string, timeoutMs: number, localAddress: string | undefined): Promise<Omit<RequestResult, 'seq' | 'at' | 'latencyMs' | 'address'>> {
  // A new connection per request (like HTTP and TCP) bound to the pod's address (grpc-call.ts says why).
  const r = await echoCall({ ip, port: t.port, authority: hostPort(t.host, t.port), ...(localAddress ? { localAddress } : {}), timeoutMs, message: 'hello' });
  if (!r.ok) return { ok: false, status: r.status, error: r.error };
  return { ok: true, status: 'OK', cluster: r.reply.cluster, namespace: r.reply.namespace, pod: r.reply.pod, podIP: r.reply.podIp };
}

function tcpOnce(t: Target, ip: string, localAddress: string | undefined): Promise<Omit<RequestResult, 'seq' | 'at' | 'latencyMs' | 'address'>> {
  return new Promise((resolve, reject) => {
    const s = netConnect({ host: ip, port: t.port, ...(localAddress ? { localAddress } : {}) });
    let buf = '';
    let done = false;
    const finish = (fn: () => void) => {
      if (done) return;
      done = true;
      s.destroy();
      fn();
    };
    s.setEncoding('utf8');
    s.on('connect', () => s.write('WHO\n'));
    s.on('data', (d: string) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl >= 0) {
        try {
          const p = identityBody.safeParse(JSON.parse(buf.slice(0, nl)));
          if (!p.success) return finish(() => resolve({ ok: false, error: 'reply is not a WHO answer' }));
          finish(() => resolve({ ok: true, status: 'OK', cluster: p.data.cluster, pod: p.data.pod, ...(p.data.namespace ? { namespace: p.data.namespace } : {}), ...(p.data.podIP ? { podIP: p.data.podIP } : {}) }));
        } catch {
          finish(() => resolve({ ok: false, error: 'reply is not JSON (not a tcp-echo?)' }));
        }
      } else if (buf.length > 4096) finish(() => resolve({ ok: false, error: 'no line in the first 4 KiB' }));
    });
    s.on('error', (e) => finish(() => reject(e)));
    s.on('end', () => finish(() => reject(new Error('connection closed before a reply'))));
  });
}

function withTimeout<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(message)), ms);
    p.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    }, { once: true });
  });
}

/** Counts and latency percentiles (nearest rank). Pure. */
export function summarize(target: string, results: RequestResult[]): ClientSummary {
  const byCluster: Record<string, number> = {};
  const byPod: Record<string, number> = {};
  const lat = results.filter((r) => r.ok).map((r) => r.latencyMs).sort((a, b) => a - b);
  for (const r of results) {
    if (!r.ok) continue;
    if (r.cluster) byCluster[r.cluster] = (byCluster[r.cluster] ?? 0) + 1;
    if (r.pod) byPod[r.pod] = (byPod[r.pod] ?? 0) + 1;
  }
  const pct = (p: number) => (lat.length ? (lat[Math.min(lat.length - 1, Math.ceil((p / 100) * lat.length) - 1)] as number) : 0);
  const ok = results.filter((r) => r.ok).length;
  return {
    target,
    total: results.length,
    ok,
    failed: results.length - ok,
    byCluster,
    byPod,
    latencyMs: { min: lat[0] ?? 0, p50: pct(50), p90: pct(90), p99: pct(99), max: lat[lat.length - 1] ?? 0, mean: lat.length ? Math.round((lat.reduce((a, b) => a + b, 0) / lat.length) * 1000) / 1000 : 0 },
  };
}
