// Regression (issue 17 item 3): one client sending 100,000 CONNECTs that name distinct targets grew a
// gateway's RSS by ~90 MB, its /metrics from 6.8 KB to 12.3 MB and wrote 44 MB of logs. The gateway runs as
// its own process (static routes, credential files), started with the environment the manifest gives it
// (its NODE_OPTIONS), and a client of this test floods its tunnel port over real mTLS with a bounded loop;
// RSS (from /proc), /metrics size and log volume must stay flat.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot, startMesh, stopAll, type Proc } from '../helpers/process.js';
import { freePort } from '../helpers/ports.js';
import type { RouteFile } from '../../src/gateway/index.js';
import { createPki, startEchoServer, writeCredentials } from './fixtures.js';

/** Requests in the flood, in flight at once, and the bounds the test holds the gateway to. */
const TOTAL = 100_000;
const WARMUP = 10_000;
/** V8 sizes its heap during the first requests; from here on RSS must stay flat. */
const SETTLED = 60_000;
const IN_FLIGHT = 64;
/** The whole flood must end within this (it takes ~20 s on a loaded 2-core machine): a bound, not a target. */
const FLOOD_DEADLINE_MS = 180_000;
const SESSIONS = 4;
/** RSS may grow this much over the last 40,000 requests (before the fix it grew ~3 MB per 10,000 requests
 * until ~190 MB). */
const RSS_GROWTH_MB = 6;
/** ... and never exceed this (the manifest's memory limit is 512 Mi). */
const RSS_MAX_MB = 160;
/** /metrics may grow this much (counter values get longer digits; no new series). */
const METRICS_GROWTH_BYTES = 512;
/** Everything the gateway writes to stderr during the flood (before: 44 MB). */
const LOG_BYTES = 256 * 1024;

const pki = createPki();
const dir = mkdtempSync(join(tmpdir(), 'gw-flood-'));
let gw: Proc;
let echo: Awaited<ReturnType<typeof startEchoServer>>;
let tunnelPort = 0;
let adminPort = 0;
let logBytes = 0;

before(async () => {
  echo = await startEchoServer();
  const b = writeCredentials(pki.leaf('cluster-b'), mkdtempSync(join(dir, 'b-')));
  const routes: RouteFile = {
    exported: [{ namespace: 'demo', name: 'echo', ports: [{ port: 7, backends: [{ address: '127.0.0.1', port: echo.port }] }] }],
  };
  writeFileSync(join(dir, 'routes.yaml'), JSON.stringify(routes));
  tunnelPort = await freePort();
  gw = startMesh(['gateway', '--cluster-name', 'cluster-b', '--workers', '1', '--host', '127.0.0.1', '--tunnel-port', String(tunnelPort), '--admin-port', '0', '--cert', b.cert, '--key', b.key, '--bundle', b.bundle, '--routes', join(dir, 'routes.yaml')], manifestEnv());
  adminPort = Number((await gw.waitFor(/gateway listening tunnel=\d+ admin=(\d+)/))[1]);
  gw.child.stderr?.on('data', (d: Buffer) => (logBytes += d.length));
});

after(async () => {
  await stopAll();
  await echo?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** The gateway container's literal env values from manifests/gateway.yaml (NODE_OPTIONS: the heap cap). */
function manifestEnv(): Record<string, string> {
  const docs = parseAllDocuments(readFileSync(join(repoRoot, 'manifests/gateway.yaml'), 'utf8')).map((d) => d.toJS() as { kind?: string; spec?: { template?: { spec?: { containers?: Array<{ name: string; env?: Array<{ name: string; value?: string }> }> } } } });
  const container = docs.find((d) => d.kind === 'Deployment')?.spec?.template?.spec?.containers?.find((c) => c.name === 'gateway');
  const env = Object.fromEntries((container?.env ?? []).filter((e) => e.value !== undefined).map((e) => [e.name, e.value!]));
  assert.match(env.NODE_OPTIONS ?? '', /--max-old-space-size=\d+/, 'the manifest caps the gateway heap');
  return env;
}

function rssMb(pid: number): number {
  const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(/^VmRSS:\s+(\d+) kB/m);
  assert.ok(m, 'VmRSS in /proc/<pid>/status');
  return Number(m[1]) / 1024;
}

async function metricsText(): Promise<string> {
  const r = await fetch(`http://127.0.0.1:${adminPort}/metrics`);
  assert.equal(r.status, 200);
  return r.text();
}

function session(): Promise<http2.ClientHttp2Session> {
  const c = pki.leaf('cluster-a');
  return new Promise((resolve, reject) => {
    const s = http2.connect(`https://127.0.0.1:${tunnelPort}`, { ca: c.bundle, cert: c.certChain, key: c.key, checkServerIdentity: () => undefined });
    s.once('remoteSettings', () => resolve(s));
    s.once('error', reject);
  });
}

/** A distinct target per i, in the shapes an attacker would vary: unknown Services, pod hostnames of an
 * exported Service, IP addresses, other domains. */
function authority(i: number): string {
  switch (i % 4) {
    case 0:
      return `svc${i}.ns${i}.svc.cluster.local:${1 + (i % 65535)}`;
    case 1:
      return `pod-${i}.echo.demo.svc.cluster.local:7`;
    case 2:
      return `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}:${1 + (i % 65535)}`;
    default:
      return `host${i}.example.com:443`;
  }
}

function refused(s: http2.ClientHttp2Session, target: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const st = s.request({ ':method': 'CONNECT', ':authority': target });
    let status = 0;
    // Read the refusal to its end: resetting every stream would look like a rapid-reset attack.
    st.once('response', (h) => (status = Number(h[':status'])));
    st.on('data', () => {});
    st.once('close', () => resolve(status));
    st.once('error', reject);
  });
}

/** Sends requests [from, to) over the sessions with IN_FLIGHT outstanding; every one must be refused. */
async function flood(sessions: http2.ClientHttp2Session[], from: number, to: number, deadline: number): Promise<void> {
  let next = from;
  const worker = async (w: number) => {
    while (next < to) {
      if (Date.now() > deadline) throw new Error(`flood still at request ${next} after ${FLOOD_DEADLINE_MS} ms: the gateway stopped answering`);
      const i = next++;
      const status = await refused(sessions[w % sessions.length]!, authority(i));
      assert.notEqual(status, 200, `${authority(i)} must be refused`);
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, (_, w) => worker(w)));
}

test(`regression: ${TOTAL.toLocaleString('en')} CONNECTs naming distinct targets keep RSS, /metrics and logs flat`, async () => {
  const sessions = await Promise.all(Array.from({ length: SESSIONS }, () => session()));
  try {
    // RSS at the start and after every WARMUP requests.
    const rss = [rssMb(gw.pid)];
    let metricsWarm = 0;
    const deadline = Date.now() + FLOOD_DEADLINE_MS;
    for (let from = 0; from < TOTAL; from += WARMUP) {
      await flood(sessions, from, from + WARMUP, deadline);
      rss.push(rssMb(gw.pid));
      if (from === 0) metricsWarm = (await metricsText()).length;
    }
    const metricsEnd = await metricsText();
    const rssSettled = rss[SETTLED / WARMUP]!;
    const rssEnd = rss.at(-1)!;
    console.log(`# RSS at the start and every ${WARMUP} requests: ${rss.map((x) => x.toFixed(0)).join(' ')} MB; /metrics ${metricsWarm} → ${metricsEnd.length} bytes; stderr ${logBytes} bytes`);
    assert.ok(rssEnd - rssSettled <= RSS_GROWTH_MB, `RSS grew ${(rssEnd - rssSettled).toFixed(1)} MB from request ${SETTLED} to ${TOTAL} (bound ${RSS_GROWTH_MB} MB)`);
    assert.ok(Math.max(...rss) <= RSS_MAX_MB, `RSS reached ${Math.max(...rss).toFixed(1)} MB (bound ${RSS_MAX_MB} MB)`);
    assert.ok(metricsEnd.length - metricsWarm <= METRICS_GROWTH_BYTES, `/metrics grew ${metricsWarm} → ${metricsEnd.length} bytes`);
    assert.ok(logBytes <= LOG_BYTES, `the gateway wrote ${logBytes} bytes of logs (bound ${LOG_BYTES})`);
    // Every refusal is still counted, under bounded labels.
    const counted = metricsEnd.split('\n').filter((l) => l.startsWith('gateway_refused_total{')).reduce((a, l) => a + Number(l.split(' ').pop()), 0);
    assert.equal(counted, TOTAL);
  } finally {
    for (const s of sessions) s.destroy();
  }
});
