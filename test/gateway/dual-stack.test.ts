// A dual-stack gateway pod, as processes on loopback: `mesh gateway` with the pod's addresses 127.0.0.1 and
// ::1 (from $POD_IPS as the downward API gives them, or --host) binds every outbound port, the tunnel port
// and the admin port on both. A client on ::1 and one on 127.0.0.1 reach the remote echo server through the
// same outbound port with real bytes; gateway A dials B's tunnel port over IPv6; each client is attested by
// its own address (a routes-file caller spelled 0:0:0:0:0:0:0:1 is the client at ::1); a port taken on one
// address is retried there alone; SIGTERM closes every address's listeners while an open tunnel finishes.
// Once with one process, once with --workers 2 (node:cluster shares each (port, address) handle).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hostPort } from '../../src/api/index.js';
import { dial } from '../../src/gateway/pool/connect.js';
import { GatewayMetrics, MemoryCredentials, MemoryRouteSource, startGateway, type RouteFile } from '../../src/gateway/index.js';
import { hostsFrom } from '../../src/gateway/main.js';
import { startMesh, stopAll, type Proc } from '../helpers/process.js';
import { freePort, ipv6Unavailable } from '../helpers/ports.js';
import { createPki, outcomeOf, roundTrip, sha256, startCallerEchoServer, startEchoServer, writeCredentials } from './fixtures.js';
import { waitReady } from './proc-pair.js';

const HOSTS = ['127.0.0.1', '::1'] as const;
const FRONTEND = 'spiffe://mesh.local/ns/demo/sa/frontend';
const FRONTEND6 = 'spiffe://mesh.local/ns/demo/sa/frontend6';
const GW = 'spiffe://mesh.local/ns/mesh-system/sa/mesh-gateway';

const skipReason = await ipv6Unavailable();
if (skipReason) process.stdout.write(`# dual-stack gateway tests skipped: ${skipReason}\n`);


/** Connects from `localAddress` to `host`:`port`, sends a byte, parses the answer line. */
function ask(host: string, port: number, localAddress: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host, port, localAddress }, () => s.write('hi'));
    let out = '';
    s.setEncoding('utf8');
    s.on('data', (d: string) => (out += d));
    s.on('end', () => resolve(JSON.parse(out)));
    s.on('error', reject);
  });
}

/** Polls until a connection to host:port is refused (bounded: 15 s); returns how the last attempt ended. */
async function refusedWithin(host: string, port: number): Promise<string> {
  const until = Date.now() + 15_000;
  for (;;) {
    const outcome = await outcomeOf(net.connect({ host, port }));
    if (/ECONNREFUSED/.test(outcome) || Date.now() > until) return outcome;
    await new Promise((r) => setTimeout(r, 50));
  }
}

for (const workers of [1, 2]) {
  describe(`a gateway on 127.0.0.1 and ::1 (--workers ${workers})`, { skip: skipReason }, () => {
    const dir = mkdtempSync(join(tmpdir(), 'gw-dual-'));
    let echo: Awaited<ReturnType<typeof startEchoServer>>;
    let who: Awaited<ReturnType<typeof startCallerEchoServer>>;
    let a: Proc;
    let b: Proc;
    let bTunnel = 0;
    let aTunnel = 0;
    let aAdmin = 0;
    let echoPort = 0;
    let whoPort = 0;
    /** An outbound port another process holds on ::1 when A starts (released by a test). */
    let busyPort = 0;
    let blocker: net.Server | undefined;

    before(async () => {
      echo = await startEchoServer();
      who = await startCallerEchoServer();
      const pki = createPki();
      const aCreds = writeCredentials(pki.leaf('cluster-a'), mkdtempSync(join(dir, 'a-')));
      const bCreds = writeCredentials(pki.leaf('cluster-b'), mkdtempSync(join(dir, 'b-')));
      const bRoutes: RouteFile = {
        exported: [
          { namespace: 'demo', name: 'echo', ports: [{ port: 80, backends: [{ address: '127.0.0.1', port: echo.port }] }] },
          { namespace: 'demo', name: 'who', proxyProtocol: 'v2', ports: [{ port: 80, backends: [{ address: '127.0.0.1', port: who.port }] }] },
        ],
      };
      writeFileSync(join(dir, 'b.json'), JSON.stringify(bRoutes));
      bTunnel = await freePort(HOSTS);
      const common = ['--outbound-ports', '1024-65535', '--admin-port', '0', '--workers', String(workers), '--drain-grace-seconds', '0'];
      // B: a dual-stack pod by flag; A dials its tunnel port over IPv6.
      b = startMesh(['gateway', '--cluster-name', 'cluster-b', '--host', '127.0.0.1,::1', '--tunnel-port', String(bTunnel), '--cert', bCreds.cert, '--key', bCreds.key, '--bundle', bCreds.bundle, '--routes', join(dir, 'b.json'), ...common]);
      await waitReady(Number((await b.waitFor(/gateway listening tunnel=\d+ admin=(\d+)/, 30_000))[1]));
      echoPort = await freePort(HOSTS);
      whoPort = await freePort(HOSTS);
      busyPort = await freePort(HOSTS);
      const b6 = net.createServer((c) => c.destroy());
      await new Promise<void>((r) => b6.listen(busyPort, '::1', r));
      blocker = b6;
      const aRoutes: RouteFile = {
        outbound: [
          { outboundPort: echoPort, remoteCluster: 'cluster-b', namespace: 'demo', service: 'echo', port: 80 },
          { outboundPort: whoPort, remoteCluster: 'cluster-b', namespace: 'demo', service: 'who', port: 80 },
          { outboundPort: busyPort, remoteCluster: 'cluster-b', namespace: 'demo', service: 'echo', port: 80 },
        ],
        remotes: [{ cluster: 'cluster-b', addresses: ['::1'], port: bTunnel }],
        // The pods by address; the IPv6 one in a long form (the API server may hold any valid spelling).
        callers: [
          { address: '127.0.0.1', namespace: 'demo', serviceAccount: 'frontend' },
          { address: '0:0:0:0:0:0:0:1', namespace: 'demo', serviceAccount: 'frontend6' },
        ],
      };
      writeFileSync(join(dir, 'a.json'), JSON.stringify(aRoutes));
      // A: a dual-stack pod by the downward API's status.podIPs, no --host.
      a = startMesh(['gateway', '--cluster-name', 'cluster-a', '--tunnel-port', '0', '--cert', aCreds.cert, '--key', aCreds.key, '--bundle', aCreds.bundle, '--routes', join(dir, 'a.json'), ...common], { POD_IPS: '127.0.0.1,::1', POD_IP: '127.0.0.1' });
      const m = await a.waitFor(/gateway listening tunnel=(\d+) admin=(\d+)/, 30_000);
      aTunnel = Number(m[1]);
      aAdmin = Number(m[2]);
      await waitReady(aAdmin);
    });

    after(async () => {
      await stopAll();
      await echo?.close();
      who?.server.close();
      blocker?.close();
      rmSync(dir, { recursive: true, force: true });
    });

    test('a client on ::1 and one on 127.0.0.1 reach the remote echo server through the same outbound port (B dialed over IPv6)', async () => {
      for (const host of HOSTS) {
        const data = randomBytes(256 * 1024);
        const back = await roundTrip(echoPort, data, host);
        assert.equal(back.length, data.length, `${host}: every byte came back`);
        assert.equal(sha256(back), sha256(data), `${host}: the same bytes`);
      }
    });

    test('the admin port answers on both addresses', async () => {
      for (const host of ['127.0.0.1', '[::1]']) {
        const res = await fetch(`http://${host}:${aAdmin}/ready`);
        assert.equal(res.status, 200, `${host}: ${await res.text()}`);
      }
    });

    test('each client is attested by its own address: ::1 as frontend6 (its caller entry in a long form), 127.0.0.1 as frontend, others unknown', async () => {
      // With two workers the kernel spreads connections: several asks reach both.
      for (let i = 0; i < (workers > 1 ? 6 : 1); i++) {
        assert.deepEqual(await ask('::1', whoPort, '::1'), { id: FRONTEND6, cluster: 'cluster-a', unknown: false });
        assert.deepEqual(await ask('127.0.0.1', whoPort, '127.0.0.1'), { id: FRONTEND, cluster: 'cluster-a', unknown: false });
      }
      assert.deepEqual(await ask('127.0.0.1', whoPort, '127.0.0.2'), { id: GW, cluster: 'cluster-a', unknown: true });
    });

    test('a port taken on ::1 alone: 127.0.0.1 serves it at once, ::1 is retried on its own and serves it once free', async () => {
      assert.equal((await roundTrip(busyPort, Buffer.from('four'), '127.0.0.1')).toString(), 'four');
      await a.waitFor(new RegExp(`"host":"::1".*"message":"cannot listen on outbound port; will retry","outboundPort":${busyPort}[,}]`));
      await new Promise<void>((r) => blocker!.close(() => r()));
      blocker = undefined;
      // Every worker binds it (the kernel may hand the connection to either).
      const opened = `"host":"::1".*"message":"outbound listener open","outboundPort":${busyPort}[,}]`;
      await a.waitFor(new RegExp(workers > 1 ? `${opened}[\\s\\S]*${opened}` : opened), 15_000);
      assert.equal((await roundTrip(busyPort, Buffer.from('six'), '::1')).toString(), 'six');
    });

    test('SIGTERM closes every listener on both addresses while an open tunnel finishes; exit 0', async () => {
      const open = net.connect({ host: '::1', port: echoPort, allowHalfOpen: true });
      await new Promise<void>((resolve) => {
        open.once('data', () => resolve());
        open.write('open ');
      });
      a.child.kill('SIGTERM');
      // No grace (--drain-grace-seconds 0): one process closes its listeners as it logs the drain; a primary
      // logs once every worker has closed its own.
      await a.waitFor(workers > 1 ? /no longer accepting/ : /"message":"draining"/);
      for (const host of HOSTS) {
        for (const [what, port] of [['outbound echo', echoPort], ['outbound who', whoPort], ['outbound retried', busyPort], ['tunnel', aTunnel]] as const) {
          assert.match(await refusedWithin(host, port), /ECONNREFUSED/, `${what} port on ${host} closed\n${a.stdout().slice(-3000)}\n${a.stderr().slice(-2000)}`);
        }
      }
      const rest: Buffer[] = [];
      open.on('data', (c: Buffer) => rest.push(c));
      const ended = outcomeOf(open);
      open.end('and closed');
      assert.equal(await ended, 'end');
      assert.equal(Buffer.concat(rest).toString(), 'and closed');
      assert.equal(await a.exited, 0);
      const opened = (a.stdout() + a.stderr()).split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { message?: string; host?: unknown; outboundPort?: number });
      for (const host of HOSTS) assert.ok(opened.some((l) => l.message === 'outbound listener open' && l.host === host && l.outboundPort === echoPort), `the log names the address (${host})`);
    });
  });
}

describe('the tunnel port on two addresses', { skip: skipReason }, () => {
  test('--max-connections holds across both addresses: connections over it are dropped and counted whichever address they reach', async () => {
    const pki = createPki();
    const metrics = new GatewayMetrics();
    const LIMIT = 3;
    const gw = await startGateway({ clusterName: 'cluster-b', host: '127.0.0.1,::1', tunnelPort: 0, adminPort: 0, maxInboundConnections: LIMIT }, { credentials: new MemoryCredentials(pki.leaf('cluster-b')), routes: new MemoryRouteSource(), metrics });
    const leaf = pki.leaf('cluster-a');
    const held: tls.TLSSocket[] = [];
    const open = (host: string) =>
      new Promise<tls.TLSSocket>((resolve, reject) => {
        const s = tls.connect({ host, port: gw.tunnelPort, ca: pki.bundle, cert: leaf.certChain, key: leaf.key, ALPNProtocols: ['h2'], checkServerIdentity: () => undefined });
        s.once('secureConnect', () => resolve(s));
        s.once('error', reject);
        s.once('close', () => reject(new Error('closed before the handshake')));
      });
    const overloaded = async () => {
      const m = await metrics.registry.getSingleMetric('gateway_refused_total')?.get();
      return (m?.values ?? []).filter((v) => v.labels.reason === 'OVERLOADED').reduce((n, v) => n + v.value, 0);
    };
    try {
      for (const host of ['127.0.0.1', '::1', '127.0.0.1']) held.push(await open(host));
      let dropped = 0;
      for (const host of ['::1', '127.0.0.1', '::1']) {
        await open(host).then((s) => held.push(s), () => dropped++);
      }
      assert.equal(dropped, 3, 'every connection over the limit was dropped, on either address');
      assert.equal(await overloaded(), 3);
      assert.equal(held.length, LIMIT);
    } finally {
      for (const s of held) s.destroy();
      await gw.close();
    }
  });
});

test('the addresses: --host, else $POD_IPS (every family), else $POD_IP, else 0.0.0.0; a bad one names its source', () => {
  const env = { POD_IPS: '10.1.0.5,FD00:10:1:0:0:0:A:5', POD_IP: '10.1.0.5' };
  assert.deepEqual(hostsFrom('127.0.0.1', env), ['127.0.0.1']);
  assert.deepEqual(hostsFrom(undefined, env), ['10.1.0.5', 'fd00:10:1::a:5']);
  assert.deepEqual(hostsFrom(undefined, { POD_IP: '10.1.0.5' }), ['10.1.0.5']);
  // An empty POD_IPS (a pod before its addresses are known) falls through, as an unset one does.
  assert.deepEqual(hostsFrom(undefined, { POD_IPS: '', POD_IP: '10.1.0.5' }), ['10.1.0.5']);
  assert.deepEqual(hostsFrom(undefined, {}), ['0.0.0.0']);
  assert.throws(() => hostsFrom(undefined, { POD_IPS: '10.1.0.5,10.1.0.5' }), /^GatewayError: \$POD_IPS: invalid entry "10.1.0.5": the same address as "10.1.0.5"$/);
  assert.throws(() => hostsFrom(undefined, { POD_IP: 'pod-a' }), /\$POD_IP: invalid entry "pod-a": not an IP address/);
});

test('a remote gateway on IPv6 is named [address]:port in dial errors (a bare fd00::1:4143 reads as one address)', { skip: skipReason }, async () => {
  const port = await freePort(['::1']);
  const err = await dial({ address: '::1', port, alpn: 'h2', context: tls.createSecureContext({}), trustDomain: 'mesh.local', timeoutMs: 5_000 }).then(
    () => undefined,
    (e: Error) => e,
  );
  assert.ok(err, 'nothing listens there');
  assert.match(err.message, new RegExp(`^remote gateway \\[::1\\]:${port}: `));
  assert.equal(hostPort('10.1.0.5', 4143), '10.1.0.5:4143');
  assert.equal(hostPort('fd00:10:1::a:5', 4143), '[fd00:10:1::a:5]:4143');
  assert.equal(hostPort('gw.example.com', 4143), 'gw.example.com:4143');
});
