// `npm run bench -- apiserver`: creates, updates and watch-delivers 10,000 Services and 10,000
// EndpointSlices against `mesh apiserver` (its own process) over a keep-alive HTTPS pool. Baseline in the
// same run: GET /healthz over the same pool (the cost of a bare HTTPS round trip on this machine).
import https from 'node:https';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startMesh, stopAll } from '../test/helpers/process.js';
import type { BenchResult, BenchRow } from './report.js';
import { rssMb } from './proc.js';

const N = Number(process.env.BENCH_APISERVER_N ?? 10_000);
const CONCURRENCY = 64;

interface Target {
  url: URL;
  ca: string;
  token: string;
  agent: https.Agent;
}

function request(t: Target, method: string, path: string, body?: string, contentType = 'application/json'): Promise<{ code: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      { host: t.url.hostname, port: t.url.port, path, method, agent: t.agent, ca: t.ca, headers: { Authorization: `Bearer ${t.token}`, ...(body ? { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(body) } : {}) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (d: Buffer) => chunks.push(d));
        res.on('end', () => resolve({ code: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** Runs `n` jobs with at most CONCURRENCY in flight; returns elapsed ms. */
async function pool(n: number, job: (i: number) => Promise<void>): Promise<number> {
  const start = performance.now();
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      await job(i);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return performance.now() - start;
}

interface WatchHandle {
  /** name → arrival time of its event of `type`. */
  arrivals: Map<string, number>;
  count(): number;
  close(): void;
}

function watch(t: Target, path: string, type: string): Promise<WatchHandle> {
  return new Promise((resolve, reject) => {
    const arrivals = new Map<string, number>();
    const agent = new https.Agent({ keepAlive: false });
    const req = https.request({ host: t.url.hostname, port: t.url.port, path, method: 'GET', agent, ca: t.ca, headers: { Authorization: `Bearer ${t.token}` } }, (res) => {
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        const now = performance.now();
        buf += d;
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          // Cheap parse: the type and name are near the front of each event line.
          if (!line.startsWith(`{"type":"${type}"`)) continue;
          const m = /"name":"([^"]+)"/.exec(line);
          if (m) arrivals.set(m[1], now);
        }
      });
      resolve({ arrivals, count: () => arrivals.size, close: () => req.destroy() });
    });
    req.on('error', (e) => {
      if (!arrivals.size) reject(e);
    });
    req.end();
  });
}

async function waitFor(cond: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!cond() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  return cond();
}

function p99(xs: number[]): number {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * 0.99))];
}


const service = (i: number) => JSON.stringify({ apiVersion: 'v1', kind: 'Service', metadata: { name: `svc-${i}`, namespace: 'bench', labels: { app: `app-${i % 100}`, 'mirror.mesh.io/exported': 'true' } }, spec: { selector: { app: `app-${i % 100}` }, ports: [{ name: 'http', port: 80, targetPort: 8080 }, { name: 'grpc', port: 9090 }] } });
const slice = (i: number) =>
  JSON.stringify({
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: `svc-${i}-abcde`, namespace: 'bench', labels: { 'kubernetes.io/service-name': `svc-${i}`, 'endpointslice.kubernetes.io/managed-by': 'bench' } },
    addressType: 'IPv4',
    endpoints: [0, 1, 2].map((k) => ({ addresses: [`10.${(i >> 8) & 255}.${i & 255}.${k + 1}`], conditions: { ready: true }, targetRef: { kind: 'Pod', namespace: 'bench', name: `pod-${i}-${k}` } })),
    ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
  });

export async function run(): Promise<BenchResult> {
  const dir = mkdtempSync(join(tmpdir(), 'mesh-bench-apiserver-'));
  const proc = startMesh(['apiserver', '--port', '0', '--data-dir', dir, '--no-persist'], { MESH_LOG_LEVEL: 'warn' });
  try {
    const m = await proc.waitFor(/^(\{"ready":true.*\})$/m, 30_000);
    const ready = JSON.parse(m[1]) as { url: string };
    const t: Target = { url: new URL(ready.url), ca: readFileSync(join(dir, 'ca.crt'), 'utf8'), token: readFileSync(join(dir, 'admin-token'), 'utf8').trim(), agent: new https.Agent({ keepAlive: true, maxSockets: CONCURRENCY }) };
    await request(t, 'POST', '/api/v1/namespaces', JSON.stringify({ metadata: { name: 'bench' } }));
    // Warm up the pool and the server's code paths (JIT) before anything is measured.
    await pool(500, async () => void (await request(t, 'GET', '/healthz')));
    await pool(1000, async (i) => void (await request(t, 'POST', '/api/v1/namespaces/bench/configmaps', JSON.stringify({ metadata: { name: `warm-${i}` }, data: { a: 'b' } }))));
    // The floor, measured right before each phase because this machine's load changes under us.
    const floor = async () => (2000 / (await pool(2000, async () => void (await request(t, 'GET', '/healthz'))))) * 1000;

    const rows: BenchRow[] = [];
    const notes: string[] = [];
    for (const kind of [
      { name: 'Service', path: '/api/v1/namespaces/bench/services', watchPath: '/api/v1/services?watch=true&resourceVersion=', body: service, objName: (i: number) => `svc-${i}` },
      { name: 'EndpointSlice', path: '/apis/discovery.k8s.io/v1/namespaces/bench/endpointslices', watchPath: '/apis/discovery.k8s.io/v1/endpointslices?watch=true&resourceVersion=', body: slice, objName: (i: number) => `svc-${i}-abcde` },
    ]) {
      const baseline = await floor();
      const list = await request(t, 'GET', kind.path);
      const rv = (JSON.parse(list.text) as { metadata: { resourceVersion: string } }).metadata.resourceVersion;
      const added = await watch(t, kind.watchPath + rv, 'ADDED');
      const sent = new Map<string, number>();
      let failures = 0;
      // Creates in ten slices, each beside a slice of the floor, so both see the same machine load.
      let createMs = 0;
      let floorMs = 0;
      const slice = Math.ceil(N / 10);
      for (let from = 0; from < N; from += slice) {
        floorMs += await pool(300, async () => void (await request(t, 'GET', '/healthz')));
        const n = Math.min(slice, N - from);
        createMs += await pool(n, async (j) => {
          const i = from + j;
          sent.set(kind.objName(i), performance.now());
          const r = await request(t, 'POST', kind.path, kind.body(i));
          if (r.code !== 201) failures++;
        });
      }
      const pairedFloor = ((300 * Math.ceil(N / slice)) / floorMs) * 1000;
      const allSeen = await waitFor(() => added.count() >= N, 30_000);
      const lat = [...added.arrivals].map(([name, at]) => at - (sent.get(name) ?? at));
      added.close();
      // Delivery throughput: a new watcher resuming from before the creates gets all N events at once.
      const replayStart = performance.now();
      const replay = await watch(t, kind.watchPath + rv, 'ADDED');
      await waitFor(() => replay.count() >= N, 30_000);
      const replayMs = Math.max(...replay.arrivals.values()) - replayStart;
      const replayed = replay.count();
      replay.close();
      const creates = (N / createMs) * 1000;
      rows.push({ metric: 'create', subject: `${kind.name} ×${N}`, value: creates, unit: 'objects/s', baseline: { name: 'GET /healthz, interleaved', value: pairedFloor }, target: '>= 5000 objects/s', met: creates >= 5000 });
      rows.push({ metric: 'watch delivery', subject: `${kind.name} ADDED (one watcher, resumed)`, value: (replayed / replayMs) * 1000, unit: 'events/s', baseline: { name: 'creates', value: creates } });
      rows.push({ metric: 'watch latency p99', subject: `${kind.name} (request sent → event received)`, value: p99(lat), unit: 'ms' });
      if (replayed < N) notes.push(`${kind.name}: the resumed watcher got ${replayed}/${N} events (watch window)`);
      if (failures || !allSeen) notes.push(`${kind.name}: ${failures} creates failed, ${added.count()}/${N} watch events arrived`);

      // Updates: a merge patch that changes a label (new resourceVersion, one MODIFIED event each).
      const modified = await watch(t, kind.watchPath + String(Number(rv) + 0), 'MODIFIED');
      const usent = new Map<string, number>();
      const updateMs = await pool(N, async (i) => {
        usent.set(kind.objName(i), performance.now());
        const r = await request(t, 'PATCH', `${kind.path}/${kind.objName(i)}`, JSON.stringify({ metadata: { labels: { rev: '2' } } }), 'application/merge-patch+json');
        if (r.code !== 200) failures++;
      });
      await waitFor(() => modified.count() >= N, 30_000);
      const ulat = [...modified.arrivals].map(([name, at]) => at - (usent.get(name) ?? at));
      modified.close();
      rows.push({ metric: 'update (merge patch)', subject: `${kind.name} ×${N}`, value: (N / updateMs) * 1000, unit: 'objects/s', baseline: { name: 'GET /healthz', value: baseline } });
      rows.push({ metric: 'watch latency p99', subject: `${kind.name} MODIFIED`, value: p99(ulat), unit: 'ms' });
    }
    await new Promise((r) => setTimeout(r, 500));
    const rss = rssMb(proc.pid);
    rows.push({ metric: 'server RSS', subject: `${2 * N} objects stored`, value: rss, unit: 'MB', target: '< 300 MB', met: rss < 300 });
    notes.push(`Node ${process.version}; client and server share this machine's cores; concurrency ${CONCURRENCY} keep-alive HTTPS connections; snapshots off (--no-persist).`);
    t.agent.destroy();
    return { name: 'apiserver', rows, notes };
  } finally {
    await stopAll();
    rmSync(dir, { recursive: true, force: true });
  }
}
