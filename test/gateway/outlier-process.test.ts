// Outlier detection in `mesh gateway` processes, configured by flags as in a cluster: cluster-a's gateway
// (one worker) with a Link to cluster-b listing a black-holed address first; the ejection shows in its
// /metrics and in a log line naming the cluster and the address, and new tunnels then succeed. Bad flag
// values are a usage error (exit 2) naming the flag.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { startMesh, stopAll } from '../helpers/process.js';
import { freePort } from '../helpers/ports.js';
import type { RouteFile } from '../../src/gateway/index.js';
import { createPki, roundTrip, startEchoServer, writeCredentials } from './fixtures.js';
import { startFaultProxy } from './fault-proxy.js';

after(() => stopAll());

function scrape(port: number, name: string): Promise<number> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: '/metrics' }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve(body.split('\n').filter((l) => l.startsWith(`${name}{`)).reduce((n, l) => n + Number(l.split(' ').at(-1)), 0)));
    }).on('error', reject);
  });
}

test('mesh gateway: an invalid --outlier-failures is a usage error naming the flag', async () => {
  const p = startMesh(['gateway', '--cluster-name', 'cluster-a', '--outlier-failures', '0', '--routes', '/nonexistent.json']);
  assert.equal(await p.exited, 2);
  assert.match(p.stderr(), /--outlier-failures/);
});

test('mesh gateway processes: a black-holed remote address is ejected (metrics, log line with cluster and address), new tunnels then succeed', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gw-outlier-'));
  const pki = createPki();
  const echo = await startEchoServer();
  const tunnelPort = await freePort();
  const proxy = await startFaultProxy('127.0.0.2', tunnelPort, { host: '127.0.0.1', port: tunnelPort });
  try {
    const creds = (c: string) => writeCredentials(pki.leaf(c), mkdtempSync(join(dir, `${c}-`)));
    const [a, b] = [creds('cluster-a'), creds('cluster-b')];
    writeFileSync(join(dir, 'b.json'), JSON.stringify({ exported: [{ namespace: 'demo', name: 'echo', ports: [{ port: 7, backends: [{ address: '127.0.0.1', port: echo.port }] }] }] } satisfies RouteFile));
    const outPort = await freePort();
    writeFileSync(join(dir, 'a.json'), JSON.stringify({
      outbound: [{ outboundPort: outPort, remoteCluster: 'cluster-b', namespace: 'demo', service: 'echo', port: 7 }],
      remotes: [{ cluster: 'cluster-b', addresses: ['127.0.0.2', '127.0.0.1'], port: tunnelPort, transport: 'connect' }],
    } satisfies RouteFile));
    const common = ['--host', '127.0.0.1', '--outbound-ports', '1024-65535', '--workers', '1', '--admin-port', '0'];
    const gb = startMesh(['gateway', '--cluster-name', 'cluster-b', '--tunnel-port', String(tunnelPort), '--cert', b.cert, '--key', b.key, '--bundle', b.bundle, '--routes', join(dir, 'b.json'), ...common]);
    await gb.waitFor(/gateway listening/, 30_000);
    const ga = startMesh(['gateway', '--cluster-name', 'cluster-a', '--tunnel-port', '0', '--cert', a.cert, '--key', a.key, '--bundle', a.bundle, '--routes', join(dir, 'a.json'), ...common,
      '--connect-timeout-ms', '400', '--outlier-failures', '2', '--outlier-ejection-ms', '600000']);
    const admin = Number((await ga.waitFor(/gateway listening tunnel=\d+ admin=(\d+)/, 30_000))[1]);
    await ga.waitFor(new RegExp(`outbound listener open.*"outboundPort":${outPort}`), 30_000);
    await waitFor(async () => (await scrape(admin, 'gateway_pool_connections')) >= 2, 'both pooled sessions');

    proxy.freeze();
    const before: string[] = [];
    const until = Date.now() + 20_000;
    for (let i = 0; i < 100 && Date.now() < until && (await scrape(admin, 'gateway_remote_ejections_total')) === 0; i++) {
      await roundTrip(outPort, Buffer.from('x')).catch((err: Error) => before.push(err.message));
    }
    assert.equal(await scrape(admin, 'gateway_remote_addresses_ejected'), 1, `ejected (failures before: ${before.length})`);
    assert.ok(before.length <= 2, `--outlier-failures 2: at most 2 tunnels lost, lost ${before.length}`);
    const line = await ga.waitFor(/\{[^\n]*remote gateway address ejected[^\n]*\}/);
    const logged = JSON.parse(line[0]) as Record<string, unknown>;
    assert.deepEqual([logged.remoteCluster, logged.address, logged.failure], ['cluster-b', '127.0.0.2', 'timeout']);
    for (let i = 0; i < 20; i++) {
      const data = randomBytes(1_000);
      assert.ok((await roundTrip(outPort, data)).equals(data), `tunnel ${i} after the ejection`);
    }
  } finally {
    await stopAll();
    await proxy.close();
    await echo.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

async function waitFor(cond: () => Promise<boolean>, what: string): Promise<void> {
  const until = Date.now() + 30_000;
  while (!(await cond())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
