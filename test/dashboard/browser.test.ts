// The dashboard in a real headless Chromium (Debian's, driven by playwright-core; nothing downloaded)
// against three sandbox clusters running the demo's apps, plus a kubeconfig context whose API server is
// gone. Every page is checked and its screenshot written to docs/dashboard/ (the README links them); a new
// export appears without a reload; a killed gateway turns its Links red within the probe interval.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { parse as parseYaml } from 'yaml';
import { eventually, mustMesh } from '../../src/demo/index.js';
import { listNetns } from '../../src/sandbox/netns.js';
import { markedProcesses } from '../sandbox/sandbox-helpers.js';
import { repoRoot, stopAll } from '../helpers/process.js';
import { freePort } from '../helpers/ports.js';
import { A, B, C, startClusterset, type Clusterset } from './clusterset.js';
import { getJson, startDashboardProc, type DashboardProc } from './helpers.js';
import type { TopologyResponse, TrafficResponse } from '../../src/dashboard/index.js';

const CHROMIUM = process.env.MESH_CHROMIUM ?? '/usr/bin/chromium';
/** Flags that keep Chromium off the network and out of any profile but the test's own. */
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
/** Screenshots go to a temporary folder, so a test run leaves the checkout clean; MESH_DASHBOARD_SHOTS=docs/dashboard
 * refreshes the ones the README links to. */
const SHOTS = process.env.MESH_DASHBOARD_SHOTS ? join(repoRoot, process.env.MESH_DASHBOARD_SHOTS) : mkdtempSync(join(tmpdir(), 'mesh-dashboard-shots-'));
const GONE = 'cluster-gone';
const RED = '#d64545';
const GREEN = '#2e9d57';

const noBrowser = existsSync(CHROMIUM) ? undefined : `Chromium is not installed at ${CHROMIUM} (apt-get install chromium; .ci/run installs it)`;
/** Set by .ci/run: a machine without Chromium fails these tests instead of passing them vacuously. */
const requireBrowser = process.env.MESH_REQUIRE_BROWSER === '1';
let cs: Clusterset | undefined;
let dash: DashboardProc | undefined;
let browser: BrowserContext | undefined;
let page: Page;
let profile = '';
let setupError: unknown;
const log = (l: string) => console.log(`# ${l}`);

before(async () => {
  if (noBrowser) {
    console.log(`# ${noBrowser}`);
    return;
  }
  try {
    cs = await startClusterset(log);
    // The clusters' kubeconfig plus a context whose API server is gone.
    const kc = parseYaml(readFileSync(cs.env.kubeconfig, 'utf8')) as { clusters: Array<{ name: string; cluster: Record<string, unknown> }>; contexts: Array<{ name: string; context: Record<string, string> }> };
    kc.clusters.push({ name: GONE, cluster: { ...kc.clusters[0].cluster, server: `https://127.0.0.1:${await freePort()}` } });
    kc.contexts.push({ name: GONE, context: { ...kc.contexts[0].context, cluster: GONE } });
    const kubeconfig = join(cs.dir, 'kubeconfig-dashboard');
    writeFileSync(kubeconfig, JSON.stringify(kc));
    dash = await startDashboardProc(['--interval', '1s', '--check-interval', '15s'], kubeconfig);
    profile = mkdtempSync(join(tmpdir(), 'mesh-dashboard-chromium-'));
    browser = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, viewport: { width: 1360, height: 860 } });
    page = await browser.newPage();
    page.on('pageerror', (err) => log(`page error: ${err.message}`));
    mkdirSync(SHOTS, { recursive: true });
  } catch (err) {
    setupError = err;
  }
});

after(async () => {
  await browser?.close();
  await stopAll();
  const id = cs?.sandboxId;
  await cs?.stop();
  if (profile) rmSync(profile, { recursive: true, force: true });
  if (id) {
    assert.deepEqual(markedProcesses(id), [], 'no sandbox process is left');
    assert.deepEqual(listNetns().filter((n) => n.startsWith(`msb${id}-`)), [], 'no network namespace is left');
  }
});

function ready(t: { skip(reason: string): void }): boolean {
  if (noBrowser && requireBrowser) throw new Error(`${noBrowser}, and MESH_REQUIRE_BROWSER=1 says the browser tests must run here`);
  if (noBrowser) {
    t.skip(`${noBrowser}: the browser tests are skipped`);
    return false;
  }
  if (setupError) throw setupError;
  return true;
}

async function open(path: string): Promise<void> {
  await page.goto(`${dash!.url.replace(/\/$/, '')}${path}`);
  await page.waitForSelector('body[data-rendered]', { timeout: 15_000 });
}

const shot = (name: string) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
const attr = (sel: string, name: string) => page.locator(sel).first().getAttribute(name);

test('overview: every cluster with its Links and exports at a glance; the cluster whose API server is gone says so', async (t) => {
  if (!ready(t)) return;
  await open('/');
  await page.waitForSelector(`[data-cluster-card="${GONE}"] .error`, { timeout: 30_000 });
  assert.match(await page.locator(`[data-cluster-card="${GONE}"]`).innerText(), /Unreachable: .*ECONNREFUSED[\s\S]*the other clusters keep working/);
  for (const c of [A, B, C]) await page.waitForSelector(`[data-cluster-card="${c}"][data-health="ok"]`, { timeout: 30_000 });
  await page.waitForSelector(`[data-link="${A}->${B}"][data-health="ok"]`, { timeout: 30_000 });
  assert.equal(await page.locator('[data-link]').count(), 3);
  const web = page.locator(`[data-export="${B}/demo/web"]`);
  await web.waitFor({ timeout: 30_000 });
  assert.match(await web.innerText(), /cluster-a: web-cluster-b[\s\S]*cluster-c: web-cluster-b/);
  await shot('overview');
});

test('topology: three clusters and their three Links, green; clicking a Link and a cluster shows their details', async (t) => {
  if (!ready(t)) return;
  await open('/topology');
  for (const c of [A, B, C]) await page.waitForSelector(`[data-node="${c}"][data-health="ok"]`, { timeout: 30_000 });
  assert.equal(await attr(`[data-node="${GONE}"]`, 'data-health'), 'failed');
  for (const e of [`${A}->${B}`, `${A}->${C}`, `${C}->${B}`]) {
    await page.waitForSelector(`[data-edge="${e}"][data-health="ok"]`, { timeout: 30_000 });
    assert.equal(await attr(`[data-edge="${e}"] path.edge`, 'stroke'), GREEN);
  }
  assert.equal(await page.locator('[data-edge]').count(), 3);
  await page.locator(`[data-node="${B}"]`).click();
  await page.waitForSelector(`[data-detail="node:${B}"] [data-gateway-pod]`);
  assert.match(await page.locator(`[data-detail="node:${B}"]`).innerText(), /Gateway pods \(1\/1 ready\)[\s\S]*answers/);
  await page.locator(`[data-edge="${A}->${B}"] path.edge-hit`).click({ force: true });
  await page.waitForSelector(`[data-detail="edge:${A}->${B}"]`);
  assert.match(await page.locator(`[data-detail="edge:${A}->${B}"]`).innerText(), /GatewayReachable=True[\s\S]*ProbeSucceeded/);
  await shot('topology');
});

test('services: a new export appears without a reload, then where it is imported', async (t) => {
  if (!ready(t)) return;
  await open('/services');
  await page.waitForSelector(`[data-export="${B}/demo/web"]`, { timeout: 30_000 });
  await page.evaluate(() => { (globalThis as unknown as { stillHere: boolean }).stillHere = true; });
  const rendered = Number(await page.getAttribute('body', 'data-rendered'));
  assert.equal(await page.locator(`[data-export="${C}/demo/web"]`).count(), 0, 'cluster-c\'s web is not exported yet');
  await mustMesh(['export', 'web', '-n', 'demo', '--context', C, '--label'], cs!.env.kubeconfig);
  await page.waitForSelector(`[data-export="${C}/demo/web"]`, { timeout: 15_000 });
  await page.waitForSelector(`[data-export="${C}/demo/web"] [data-import="${A}/web-${C}"]`, { timeout: 90_000 });
  assert.equal(await page.evaluate(() => (globalThis as unknown as { stillHere?: boolean }).stillHere), true, 'the page was not reloaded');
  assert.ok(Number(await page.getAttribute('body', 'data-rendered')) > rendered, 'the page was redrawn from the event stream');
  assert.match(await page.locator(`[data-export="${C}/demo/web"]`).innerText(), /gateway[\s\S]*cluster-a: web-cluster-c/);
  await shot('services');
});

test('traffic: per Link and per exported Service rates, open tunnels and a chart, from traffic sent across', async (t) => {
  if (!ready(t)) return;
  await open('/traffic');
  const sending = cs!.env.traffic(A, { url: `http://web-${B}.demo.svc.cluster.local:8080/`, count: 120, intervalMs: 100, timeoutMs: 5_000 });
  const rate = async (id: string) => Number((await attr(`[data-traffic="${id}"] [data-rate]`, 'data-rate')) || 0);
  await eventually('a tunnel rate on the Link and on the Service', async () => (await rate(`link:${A}>${B}`)) > 0 && (await rate(`svc:${B}/demo/web`)) > 0, 60_000, 250);
  const report = await sending;
  assert.equal(report.summary.ok, report.summary.total, 'the traffic itself went through');
  const points = Number(await attr(`[data-traffic="link:${A}>${B}"] svg.spark`, 'data-points'));
  assert.ok(points >= 5, `the chart has the samples so far (${points})`);
  assert.match(await page.locator(`[data-traffic="link:${A}>${B}"]`).innerText(), /cluster-a → cluster-b[\s\S]*KiB\/s[\s\S]*probe /);
  // Tunnel-open latency of each row from its own gateway's histogram (not one figure for the cluster).
  for (const id of [`link:${A}>${B}`, `svc:${B}/demo/web`]) assert.ok(Number(await attr(`[data-traffic="${id}"] [data-latency-p50]`, 'data-latency-p50')) > 0, `${id} has a tunnel latency`);
  await shot('traffic');
});

test('identity: each cluster\'s root and issuer with expiry, a steady rotation, one shared root', async (t) => {
  if (!ready(t)) return;
  await open('/identity');
  for (const c of [A, B, C]) await page.waitForSelector(`[data-trust="${c}"][data-rotation="steady"][data-health="ok"]`, { timeout: 30_000 });
  await page.waitForSelector('[data-shared-root="true"]');
  assert.match(await page.locator(`[data-trust="${A}"]`).innerText(), /OU=cluster-a[\s\S]*signed by/);
  await shot('identity');
});

test('check: mesh check\'s lines per cluster with hints; the gone cluster fails with one', async (t) => {
  if (!ready(t)) return;
  await open('/check');
  await page.waitForSelector(`[data-check="${GONE}: kubeconfig context"], [data-check="${GONE}: API reachable"]`, { timeout: 60_000 });
  await page.waitForSelector(`[data-check="${A}: link ${B}: gateway probe alive"][data-ok="true"]`, { timeout: 60_000 });
  assert.equal(await page.locator(`[data-check-cluster="${A}"] [data-ok="false"]`).count(), 0);
  assert.match(await page.locator(`[data-check-cluster="${GONE}"]`).innerText(), /✘[\s\S]*hint: is the cluster up\?/);
  await shot('check');
});

test('a killed gateway turns its Links red within the probe interval, and green again when it is back', async (t) => {
  if (!ready(t)) return;
  await open('/topology');
  await page.waitForSelector(`[data-edge="${A}->${B}"][data-health="ok"]`, { timeout: 30_000 });
  // The bound, from the dashboard itself: the Links' probe period plus its own sampling interval.
  const { probePeriodMs } = await getJson<TopologyResponse>(dash!.port, '/api/topology');
  const { intervalMs } = await getJson<TrafficResponse>(dash!.port, '/api/traffic');
  const b = await cs!.env.client(B);
  const a = await cs!.env.client(A);
  const deployment = '/apis/apps/v1/namespaces/mesh-system/deployments/mesh-gateway';
  const killedAt = Date.now();
  await b.patch(deployment, { spec: { replicas: 0 } });
  try {
    await page.waitForSelector(`[data-edge="${A}->${B}"][data-health="failed"]`, { timeout: 60_000 });
    const lag = Date.now() - killedAt;
    log(`edge red ${lag} ms after cluster-b's gateway was scaled to 0 (probe period ${probePeriodMs} ms, sampling every ${intervalMs} ms)`);
    assert.ok(lag <= probePeriodMs + intervalMs, `the edge turned red ${lag} ms after the kill, more than the probe period ${probePeriodMs} ms + the sampling interval ${intervalMs} ms`);
    assert.equal(await attr(`[data-edge="${A}->${B}"] path.edge`, 'stroke'), RED);
    // Sooner than the controller's threshold (failed probes in a row, one per period) allows: the dashboard's own.
    assert.match(await page.locator(`[data-edge="${A}->${B}"] > title`).textContent() ?? '', /the dashboard sees cluster-b's gateway down: no mesh-gateway pod/);
    await page.waitForSelector(`[data-edge="${C}->${B}"][data-health="failed"]`, { timeout: 30_000 });
    // Then the controller's own verdict (3 failed probes) follows, and names the cause from then on.
    await eventually('GatewayReachable=False on the Link', async () => {
      const link = await a.get<{ status?: { conditions?: Array<{ type: string; status: string }> } }>('/apis/multicluster.mesh.io/v1alpha1/namespaces/mesh-system/links/cluster-b');
      return link.status?.conditions?.some((c) => c.type === 'GatewayReachable' && c.status === 'False') ?? false;
    }, 60_000, 500);
    assert.equal(await attr(`[data-edge="${A}->${B}"]`, 'data-health'), 'failed', 'still red');
    await page.locator(`[data-edge="${A}->${B}"] path.edge-hit`).click({ force: true });
    await page.waitForSelector(`[data-detail="edge:${A}->${B}"]`);
    await shot('topology-gateway-down');
  } finally {
    await b.patch(deployment, { spec: { replicas: 1 } });
  }
  await page.waitForSelector(`[data-edge="${A}->${B}"][data-health="ok"]`, { timeout: 90_000 });
  await page.waitForSelector(`[data-edge="${C}->${B}"][data-health="ok"]`, { timeout: 90_000 });
});
