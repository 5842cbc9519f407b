// `npm run bench -- sandbox`: how long `mesh sandbox up` takes (loopback network) for 2 and 4 clusters
// until every API server, cluster DNS and service proxy answers, beside the floor of starting one bare
// `mesh apiserver` process in the same run; and the resident memory of the whole idle sandbox.
import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import dnsPacket from 'dns-packet';
import { KubeClient, kubeConfigFromString } from '../src/kube/index.js';
import type { BenchResult, BenchRow } from './report.js';

const repoRoot = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const meshBin = resolve(repoRoot, 'bin/mesh.js');

interface Ready {
  kubeconfig: string;
  clusters: Array<{ name: string; api: string; dns: string }>;
}

function waitLine(child: ChildProcess, re: RegExp, timeoutMs: number): Promise<string> {
  return new Promise((res, rej) => {
    let buf = '';
    const t = setTimeout(() => rej(new Error(`timed out waiting for ${re}`)), timeoutMs);
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      const m = re.exec(buf);
      if (m) { clearTimeout(t); res(m[0]); }
    });
    child.on('exit', (c) => { clearTimeout(t); rej(new Error(`exited ${c} before ready`)); });
  });
}

function dnsAnswers(addr: string, name: string): Promise<boolean> {
  const [host, port] = [addr.slice(0, addr.lastIndexOf(':')), Number(addr.slice(addr.lastIndexOf(':') + 1))];
  return new Promise((res) => {
    const s = dgram.createSocket('udp4');
    const t = setTimeout(() => { s.close(); res(false); }, 2000);
    s.on('message', (m) => {
      clearTimeout(t);
      s.close();
      const p = dnsPacket.decode(m);
      res((p.answers ?? []).some((a) => a.type === 'A'));
    });
    s.send(dnsPacket.encode({ type: 'query', id: 7, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: 'A', name }] }), port, host);
  });
}

function tcpAnswers(host: string, port: number): Promise<boolean> {
  return new Promise((res) => {
    const s = net.connect({ host, port, timeout: 2000 });
    s.on('connect', () => { s.destroy(); res(true); });
    s.on('error', () => res(false));
    s.on('timeout', () => { s.destroy(); res(false); });
  });
}

async function poll(fn: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await fn().catch(() => false))) {
    if (Date.now() > until) throw new Error('component did not answer in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

function rssOf(pids: number[]): number {
  let kb = 0;
  for (const pid of pids) {
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (m) kb += Number(m[1]);
    } catch { /* gone */ }
  }
  return kb / 1024;
}

function stop(child: ChildProcess): Promise<void> {
  return new Promise((res) => {
    if (child.exitCode !== null) return res();
    const t = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.once('exit', () => { clearTimeout(t); res(); });
    child.kill('SIGTERM');
  });
}

/** One `up` of n clusters: seconds until all answer, and idle RSS (MB) of up + cluster processes. */
async function upOnce(n: number): Promise<{ seconds: number; rssMb: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'mesh-bench-sb-'));
  const names = Array.from({ length: n }, (_, i) => `c${i + 1}`);
  const t0 = process.hrtime.bigint();
  const child = spawn(process.execPath, [meshBin, 'sandbox', 'up', '--clusters', names.join(','), '--network', 'loopback', '--dir', dir], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'ignore'] });
  try {
    const ready = JSON.parse(await waitLine(child, /\{"ready":true.*\}\n/, 120_000)) as Ready;
    const kcText = readFileSync(ready.kubeconfig, 'utf8');
    await Promise.all(ready.clusters.map(async (c) => {
      const kc = await KubeClient.create(kubeConfigFromString(kcText, c.name), { timeoutMs: 5000 });
      try {
        await poll(async () => (await kc.get<string>('/readyz')) !== undefined, 30_000);
        const svc = await kc.get<{ spec: { clusterIP: string } }>('/api/v1/namespaces/default/services/kubernetes');
        await poll(() => dnsAnswers(c.dns, 'kubernetes.default.svc.cluster.local'), 30_000);
        await poll(() => tcpAnswers(svc.spec.clusterIP, 443), 30_000);
      } finally {
        kc.close();
      }
    }));
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    await new Promise((r) => setTimeout(r, 2000));
    const state = JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as { clusters: Array<{ pid?: number }> };
    const rssMb = rssOf([child.pid!, ...state.clusters.flatMap((c) => (c.pid ? [c.pid] : []))]);
    return { seconds, rssMb };
  } finally {
    await stop(child);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The floor: one bare `mesh apiserver` process until its /readyz answers. */
async function apiserverOnce(): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'mesh-bench-as-'));
  const t0 = process.hrtime.bigint();
  const child = spawn(process.execPath, [meshBin, 'apiserver', '--port', '0', '--data-dir', dir], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'ignore'] });
  try {
    await waitLine(child, /"ready":true[^\n]*\n/, 60_000);
    const kc = await KubeClient.create(kubeConfigFromString(readFileSync(join(dir, 'kubeconfig'), 'utf8')), { timeoutMs: 5000 });
    await poll(async () => (await kc.get<string>('/readyz')) !== undefined, 30_000);
    kc.close();
    return Number(process.hrtime.bigint() - t0) / 1e9;
  } finally {
    await stop(child);
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function run(): Promise<BenchResult> {
  const floor = await apiserverOnce();
  const two = [await upOnce(2), await upOnce(2)].sort((x, y) => x.seconds - y.seconds)[0]!;
  const four = await upOnce(4);
  const rows: BenchRow[] = [
    { metric: 'up until API servers, DNS and proxies answer', subject: '2 clusters (best of 2)', value: two.seconds, unit: 's', baseline: { name: 'one bare mesh apiserver', value: floor }, target: '< 5 s', met: two.seconds < 5 },
    { metric: 'up until API servers, DNS and proxies answer', subject: '4 clusters', value: four.seconds, unit: 's', baseline: { name: 'one bare mesh apiserver', value: floor } },
    { metric: 'idle RSS, whole sandbox (up + cluster processes)', subject: '2 clusters', value: two.rssMb, unit: 'MB' },
    { metric: 'idle RSS, whole sandbox (up + cluster processes)', subject: '4 clusters', value: four.rssMb, unit: 'MB', baseline: { name: '2 clusters', value: two.rssMb } },
  ];
  return {
    name: 'sandbox',
    notes: [`Loopback network, Node ${process.version}, on a shared machine: compare the ratio to the bare API server start measured in the same run.`],
    rows,
  };
}
