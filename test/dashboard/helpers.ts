// What the dashboard's tests share: `mesh dashboard` as its own process, raw HTTP requests to it (with any
// Host or Origin header), and the scan of every page and JSON answer for key and token material.
import http from 'node:http';
import assert from 'node:assert/strict';
import { startMesh, type Proc } from '../helpers/process.js';
import type { KubeClient } from '../../src/kube/index.js';

export interface DashboardProc {
  proc: Proc;
  url: string;
  port: number;
}

/** Starts `mesh dashboard ARGS --port 0` and waits for the line with its URL. */
export async function startDashboardProc(args: string[], kubeconfig: string, timeoutMs = 60_000): Promise<DashboardProc> {
  const proc = startMesh(['dashboard', ...args, '--port', '0'], { KUBECONFIG: kubeconfig });
  const m = await proc.waitFor(/mesh dashboard: (http:\/\/127\.0\.0\.1:(\d+)\/)/, timeoutMs);
  return { proc, url: m[1], port: Number(m[2]) };
}

export interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** One request with exactly these headers (Host defaults to the server's own address). */
export function request(port: number, path: string, o: { method?: string; headers?: Record<string, string> } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method: o.method ?? 'GET', headers: { host: `127.0.0.1:${port}`, ...o.headers }, timeout: 15_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path}: no answer in 15 s`)));
    req.on('error', reject);
    req.end();
  });
}

export async function getJson<T>(port: number, path: string): Promise<T> {
  const r = await request(port, path);
  assert.equal(r.status, 200, `${path}: ${r.status} ${r.body.slice(0, 300)}`);
  assert.match(String(r.headers['content-type']), /^application\/json/);
  return JSON.parse(r.body) as T;
}

export const ENDPOINTS = ['/api/overview', '/api/topology', '/api/services', '/api/traffic', '/api/identity', '/api/check'];
export const PAGE_PATHS = ['/', '/topology', '/services', '/traffic', '/identity', '/check'];

/** Everything the server hands out: every page, every asset the page loads, every JSON endpoint. */
export async function everything(port: number): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const p of [...PAGE_PATHS, ...ENDPOINTS, '/assets/style.css']) out.set(p, (await request(port, p)).body);
  // Every module the page can load, followed from app.js through their imports.
  const todo = ['app.js'];
  while (todo.length) {
    const f = todo.pop() as string;
    if (out.has(`/assets/${f}`)) continue;
    const r = await request(port, `/assets/${f}`);
    assert.equal(r.status, 200, `/assets/${f}`);
    out.set(`/assets/${f}`, r.body);
    for (const m of r.body.matchAll(/from ['"]\.\/([a-z0-9-]+\.js)['"]/g)) todo.push(m[1]);
  }
  return out;
}

function secretText(secret: { data?: Record<string, string> }, key: string): string | undefined {
  const v = secret.data?.[key];
  return v === undefined ? undefined : Buffer.from(v, 'base64').toString('utf8');
}

/**
 * The key and token material that must never leave the dashboard: each cluster's issuer key, the tokens in
 * its link credentials, and the admin tokens of the kubeconfig (given). Strings long enough to be unique.
 */
export async function secretMaterial(clients: KubeClient[], adminTokens: string[]): Promise<string[]> {
  const out = [...adminTokens];
  for (const c of clients) {
    const secrets = await c.list<{ metadata?: { name?: string }; data?: Record<string, string> }>('/api/v1/namespaces/mesh-system/secrets');
    for (const s of secrets.items) {
      for (const [k, v] of Object.entries(s.data ?? {})) {
        const text = secretText(s, k) ?? '';
        if (k.endsWith('.key') || k === 'token') out.push(v, ...text.split('\n').filter((l) => l.length >= 40 && !l.startsWith('-----')));
        if (k === 'kubeconfig') for (const m of text.matchAll(/token: (\S{20,})/g)) out.push(m[1]);
      }
    }
  }
  return out.filter((x) => x.length >= 20);
}

const PATTERNS: Array<[string, RegExp]> = [
  ['a PEM private key', /PRIVATE KEY/],
  ['a JWT', /eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/],
  ['a bearer token header', /Bearer\s+\S{10,}/i],
  ['a client key field', /"(client-key-data|tls\.key|token)"\s*:/],
];

export function assertNoSecrets(bodies: Map<string, string>, secrets: string[]): void {
  assert.ok(secrets.length > 0, 'the scan needs secret material to look for');
  for (const [path, body] of bodies) {
    assert.ok(body.length > 0, `${path} answered nothing`);
    for (const [what, re] of PATTERNS) assert.doesNotMatch(body, re, `${path} contains ${what}`);
    for (const s of secrets) assert.equal(body.includes(s), false, `${path} contains secret material (${s.slice(0, 6)}…)`);
  }
}
