// `npm run bench -- outlier`: new-tunnel latency through two `mesh gateway` processes when one of the two
// addresses of cluster-b's gateway is black-holed (issue 14). cluster-b listens on 127.0.0.1 and is also
// reached through a fault proxy on 127.0.0.2 (this process), listed first in cluster-a's Link. Each tunnel
// is a new client connection: connect, 64 B echoed, close. Figures, in the same run: p50/p99 with both
// addresses healthy, after the black-holed address is ejected (interleaved in rounds with the same tunnels
// through a second Link to cluster-b that lists only the healthy address: the baseline), the tunnels that
// failed before the detection (the client writes at once, so an unanswered attempt is not retried) and the
// time from the black hole to the ejection beside connect timeout × failures. About 30 s.
import http from 'node:http';
import net from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startMesh, stopAll } from '../test/helpers/process.js';
import { freePort } from '../test/helpers/ports.js';
import { createPki, startEchoServer, writeCredentials } from '../test/gateway/fixtures.js';
import { startFaultProxy } from '../test/gateway/fault-proxy.js';
import type { RouteFile } from '../src/gateway/index.js';
import type { BenchResult } from './report.js';

const TUNNELS = Number(process.env.OUTLIER_BENCH_TUNNELS ?? 300);
const CONNECT_TIMEOUT_MS = 500;
const FAILURES = 3;

function tunnel(port: number): Promise<number> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true, noDelay: true });
    let got = 0;
    s.on('error', reject);
    s.on('data', (d: Buffer) => (got += d.length));
    s.on('end', () => {
      s.end();
      if (got === 64) resolve(performance.now() - started);
      else reject(new Error(`${got} bytes back of 64`));
    });
    s.on('connect', () => s.end(Buffer.alloc(64, 1)));
  });
}

function scrape(port: number, name: string): Promise<number> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: '/metrics' }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve(body.split('\n').filter((l) => l.startsWith(`${name}{`)).reduce((n, l) => n + Number(l.split(' ').at(-1)), 0)));
    }).on('error', reject);
  });
}

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))]!;

async function latencies(port: number, n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(await tunnel(port));
  return out;
}

export async function run(): Promise<BenchResult> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-outlier-'));
  const pki = createPki();
  const echo = await startEchoServer();
  const tunnelPort = await freePort();
  const proxy = await startFaultProxy('127.0.0.2', tunnelPort, { host: '127.0.0.1', port: tunnelPort });
  try {
    const creds = (c: string) => writeCredentials(pki.leaf(c), mkdtempSync(join(dir, `${c}-`)));
    const [a, b] = [creds('cluster-a'), creds('cluster-b')];
    writeFileSync(join(dir, 'b.json'), JSON.stringify({ exported: [{ namespace: 'demo', name: 'echo', ports: [{ port: 7, backends: [{ address: '127.0.0.1', port: echo.port }] }] }] } satisfies RouteFile));
    const [outPort, onlyPort] = [await freePort(), await freePort()];
    writeFileSync(join(dir, 'a.json'), JSON.stringify({
      outbound: [
        { outboundPort: outPort, remoteCluster: 'cluster-b', namespace: 'demo', service: 'echo', port: 7 },
        { outboundPort: onlyPort, remoteCluster: 'cluster-b-only', namespace: 'demo', service: 'echo', port: 7 },
      ],
      remotes: [
        { cluster: 'cluster-b', addresses: ['127.0.0.2', '127.0.0.1'], port: tunnelPort, transport: 'connect' },
        { cluster: 'cluster-b-only', addresses: ['127.0.0.1'], port: tunnelPort, transport: 'connect' },
      ],
    } satisfies RouteFile));
    const common = ['--host', '127.0.0.1', '--outbound-ports', '1024-65535', '--workers', '1', '--admin-port', '0'];
    const gb = startMesh(['gateway', '--cluster-name', 'cluster-b', '--tunnel-port', String(tunnelPort), '--cert', b.cert, '--key', b.key, '--bundle', b.bundle, '--routes', join(dir, 'b.json'), ...common]);
    await gb.waitFor(/gateway listening/);
    const ga = startMesh(['gateway', '--cluster-name', 'cluster-a', '--tunnel-port', '0', '--cert', a.cert, '--key', a.key, '--bundle', a.bundle, '--routes', join(dir, 'a.json'), ...common,
      '--connect-timeout-ms', String(CONNECT_TIMEOUT_MS), '--outlier-failures', String(FAILURES), '--outlier-ejection-ms', '600000', '--outlier-max-ejection-ms', '600000']);
    const admin = Number((await ga.waitFor(/gateway listening tunnel=\d+ admin=(\d+)/))[1]);
    for (const port of [outPort, onlyPort]) await ga.waitFor(new RegExp(`outbound listener open.*"outboundPort":${port}`));
    // Every pooled session up (one through the proxy) before measuring.
    for (let i = 0; i < 200 && (await scrape(admin, 'gateway_pool_connections')) < 4; i++) await new Promise((r) => setTimeout(r, 50));
    await latencies(outPort, 50); // warm-up
    const healthy = await latencies(outPort, TUNNELS);

    proxy.freeze();
    const frozeAt = performance.now();
    let failed = 0;
    let detectedMs = NaN;
    for (let i = 0; i < 100 && Number.isNaN(detectedMs); i++) {
      await tunnel(outPort).catch(() => failed++);
      if ((await scrape(admin, 'gateway_remote_ejections_total')) > 0) detectedMs = performance.now() - frozeAt;
    }
    const ejected: number[] = [];
    const only: number[] = [];
    for (let round = 0; round < 6; round++) {
      ejected.push(...(await latencies(outPort, TUNNELS / 6)));
      only.push(...(await latencies(onlyPort, TUNNELS / 6)));
    }
    const p = (xs: number[], q: number) => Number(pct(xs, q).toFixed(3));
    const base = (xs: number[], q: number) => ({ name: 'a Link with the healthy address only', value: p(xs, q) });
    return {
      name: 'Gateway outlier detection: new tunnels with one of two remote addresses black-holed (connect)',
      notes: [`${TUNNELS} sequential new connections per figure (connect, 64 B echoed, close) through two \`mesh gateway\` processes (one worker each); --connect-timeout-ms ${CONNECT_TIMEOUT_MS}, --outlier-failures ${FAILURES}.`],
      rows: [
        { metric: 'new tunnel p50', subject: 'both addresses healthy (before)', value: p(healthy, 0.5), unit: 'ms', baseline: base(only, 0.5) },
        { metric: 'new tunnel p99', subject: 'both addresses healthy (before)', value: p(healthy, 0.99), unit: 'ms', baseline: base(only, 0.99) },
        { metric: 'new tunnel p50', subject: 'one black-holed, after its ejection', value: p(ejected, 0.5), unit: 'ms', baseline: base(only, 0.5), target: '<= 1.1x', met: p(ejected, 0.5) <= 1.1 * p(only, 0.5) },
        { metric: 'new tunnel p99', subject: 'one black-holed, after its ejection', value: p(ejected, 0.99), unit: 'ms', baseline: base(only, 0.99), target: '<= 1.25x', met: p(ejected, 0.99) <= 1.25 * p(only, 0.99) },
        { metric: 'tunnels failed before the detection', subject: 'client writes at once', value: failed, unit: 'tunnels', target: `<= ${FAILURES}`, met: failed <= FAILURES },
        { metric: 'black hole to ejection', subject: 'sequential tunnels', value: Number(detectedMs.toFixed(0)), unit: 'ms', baseline: { name: 'connect timeout x failures', value: CONNECT_TIMEOUT_MS * FAILURES }, target: '<= 1.5x', met: detectedMs <= 1.5 * CONNECT_TIMEOUT_MS * FAILURES },
      ],
    };
  } finally {
    await stopAll();
    await proxy.close();
    await echo.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
