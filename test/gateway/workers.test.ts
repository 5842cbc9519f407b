// `mesh gateway --workers 2` as processes (client → A → B → echo): the CPU count a cgroup allows, both
// workers serving one tunnel port and the outbound ports, one /metrics for all of them, a crashed worker
// replaced while its sibling's tunnels carry on, a port already taken failing the start, and a drain of
// every worker on SIGTERM.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import os from 'node:os';
import { join } from 'node:path';
import { startMesh, stopAll } from '../helpers/process.js';
import { availableCpus, cgroupCpus, parseCpuMax } from '../../src/gateway/cpus.js';
import { startEchoServer, roundTrip, outcomeOf } from './fixtures.js';
import { startProcPair, type ProcPair } from './proc-pair.js';
import { waitUntil } from './pair.js';

describe('CPUs a gateway may use', () => {
  test('cgroup v2 cpu.max: a quota rounds up to whole CPUs, "max" means no limit', () => {
    assert.equal(parseCpuMax('200000 100000\n'), 2);
    assert.equal(parseCpuMax('150000 100000'), 2);
    assert.equal(parseCpuMax('50000 100000'), 1);
    assert.equal(parseCpuMax('max 100000'), undefined);
    assert.equal(parseCpuMax(''), undefined);
  });

  test('cgroup files: v2 first, then v1 quota/period (-1 = none), nothing = no limit', () => {
    const root = mkdtempSync(join(tmpdir(), 'cg-'));
    try {
      assert.equal(cgroupCpus(root), undefined);
      mkdirSync(join(root, 'cpu,cpuacct'));
      writeFileSync(join(root, 'cpu,cpuacct/cpu.cfs_quota_us'), '-1\n');
      writeFileSync(join(root, 'cpu,cpuacct/cpu.cfs_period_us'), '100000\n');
      assert.equal(cgroupCpus(root), undefined);
      writeFileSync(join(root, 'cpu,cpuacct/cpu.cfs_quota_us'), '300000\n');
      assert.equal(cgroupCpus(root), 3);
      writeFileSync(join(root, 'cpu.max'), '100000 100000\n');
      assert.equal(cgroupCpus(root), 1);
      // The default worker count never exceeds the CPUs the scheduler lets this process use.
      assert.equal(availableCpus(root), 1);
      assert.ok(availableCpus() >= 1 && availableCpus() <= os.availableParallelism());
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

/** The worker processes under a gateway primary. */
function workersOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** A tunnel through A left open after one echo. */
async function openTunnel(port: number): Promise<net.Socket> {
  const s = net.connect({ port, host: '127.0.0.1' });
  s.on('error', () => {});
  await new Promise<void>((resolve) => {
    s.once('data', () => resolve());
    s.write('open');
  });
  return s;
}

/** 'echo' if the tunnel still carries bytes, else how it ended. */
function probe(s: net.Socket): Promise<string> {
  return new Promise((resolve) => {
    if (s.destroyed) return resolve('closed');
    const timer = setTimeout(() => resolve('silent'), 5_000);
    s.once('data', () => {
      clearTimeout(timer);
      resolve('echo');
    });
    s.once('close', () => {
      clearTimeout(timer);
      resolve('closed');
    });
    s.write('ping');
  });
}

async function metricValue(adminPort: number, pattern: RegExp): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
  const m = pattern.exec(text);
  return m ? Number(m[1]) : 0;
}

describe('two workers per gateway', () => {
  let pair: ProcPair;
  let echo: Awaited<ReturnType<typeof startEchoServer>>;

  before(async () => {
    echo = await startEchoServer();
    const workers = ['--workers', '2'];
    // Round-robin hand-off (not the default, where workers accept themselves and one may take all of a
    // short burst): both workers surely hold some of the tunnels these tests count and kill.
    pair = await startProcPair([{ name: 'echo', port: echo.port, servicePort: 7 }], { a: [...workers, '--drain-grace-seconds', '1'], b: workers }, { NODE_CLUSTER_SCHED_POLICY: 'rr' });
  });

  after(async () => {
    await stopAll();
    await echo?.close();
    pair?.cleanup();
  });

  test('both gateways run two workers behind one tunnel port; /ready waits for both', async () => {
    assert.match(pair.a.stdout(), /gateway listening tunnel=\d+ admin=\d+ workers=2/);
    assert.equal(workersOf(pair.a.pid).length, 2);
    assert.equal(workersOf(pair.b.pid).length, 2);
    const ready = await fetch(`http://127.0.0.1:${pair.bAdminPort}/ready`);
    assert.equal(ready.status, 200, await ready.text());
  });

  test('one /metrics endpoint counts the tunnels of every worker', async () => {
    const n = 24;
    for (let i = 0; i < n; i++) {
      const msg = Buffer.from(`tunnel ${i}`);
      assert.deepEqual(await roundTrip(pair.port('echo', i % 2 ? 'tls-pipe' : 'connect'), msg), msg);
    }
    const opened = (port: number, dir: string) => metricValue(port, new RegExp(`gateway_streams_opened_total\\{direction="${dir}",remote_cluster="[^"]*",namespace="demo",service="echo"\\} (\\d+)`));
    // Aggregated by the primary: a single worker's registry would hold only its share of the connections.
    assert.equal(await opened(pair.aAdminPort, 'outbound'), n / 2);
    const inbound = await fetch(`http://127.0.0.1:${pair.bAdminPort}/metrics`).then((r) => r.text());
    const total = [...inbound.matchAll(/gateway_streams_opened_total\{direction="inbound"[^}]*service="echo"\} (\d+)/g)].reduce((a, m) => a + Number(m[1]), 0);
    assert.equal(total, n);
  });

  test('a crashed worker is replaced; the tunnels of the other worker carry on', async () => {
    const tunnels = await Promise.all(Array.from({ length: 12 }, () => openTunnel(pair.port('echo', 'connect'))));
    const [victim] = workersOf(pair.a.pid);
    assert.ok(victim);
    process.kill(victim, 'SIGKILL');
    const outcomes = await Promise.all(tunnels.map(probe));
    const survived = outcomes.filter((o) => o === 'echo').length;
    assert.equal(outcomes.filter((o) => o === 'silent').length, 0, outcomes.join(','));
    assert.ok(survived > 0 && survived < tunnels.length, `survivors: ${outcomes.join(',')}`);
    await pair.a.waitFor(/gateway worker exited; starting a replacement/);
    await waitUntil(() => workersOf(pair.a.pid).length === 2 && !workersOf(pair.a.pid).includes(victim), 10_000, 'a replacement worker');
    await waitUntil(async () => (await fetch(`http://127.0.0.1:${pair.aAdminPort}/ready`)).status === 200, 10_000, 'ready again');
    // The survivors still carry bytes, and new tunnels work through both workers.
    for (const [i, s] of tunnels.entries()) if (outcomes[i] === 'echo') assert.equal(await probe(s), 'echo');
    for (let i = 0; i < 8; i++) assert.deepEqual(await roundTrip(pair.port('echo', 'connect'), Buffer.from(`after ${i}`)), Buffer.from(`after ${i}`));
    for (const s of tunnels) s.destroy();
  });

  test('a tunnel port already taken fails the start: exit 1 with the reason', async () => {
    const p = startMesh(['gateway', '--cluster-name', 'cluster-x', '--host', '127.0.0.1', '--tunnel-port', String(pair.bTunnelPort), '--admin-port', '0', '--workers', '2', '--cert', pair.bCreds.cert, '--key', pair.bCreds.key, '--bundle', pair.bCreds.bundle, '--routes', join(pair.dir, 'b.yaml')]);
    assert.equal(await p.exited, 1);
    assert.match(p.stderr(), /EADDRINUSE/);
  });

  test('SIGTERM drains every worker: the open tunnel finishes, then all workers and the primary exit 0', async () => {
    const s = await openTunnel(pair.port('echo', 'connect'));
    const workers = workersOf(pair.a.pid);
    pair.a.child.kill('SIGTERM');
    await pair.a.waitFor(/drain grace over; no longer accepting/, 10_000);
    assert.match(await outcomeOf(net.connect({ port: pair.port('echo', 'connect'), host: '127.0.0.1' })), /ECONNREFUSED|ECONNRESET/);
    const rest: Buffer[] = [];
    s.on('data', (c: Buffer) => rest.push(c));
    const ended = outcomeOf(s);
    s.end('and closed');
    assert.equal(await ended, 'end');
    assert.equal(Buffer.concat(rest).toString(), 'and closed');
    assert.equal(await pair.a.exited, 0);
    for (const pid of workers) assert.throws(() => process.kill(pid, 0), /ESRCH/, `worker ${pid} gone`);
  });
});
