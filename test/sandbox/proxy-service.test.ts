// The service proxy on real sockets: ClusterIPs in a random 127.x range (Linux routes all of
// 127.0.0.0/8 to loopback, so any of them can be bound without adding an address).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { createSocket as createUdpSocket } from 'node:dgram';
import { randomBytes, createHash } from 'node:crypto';
import { silentLogger } from '../../src/log/index.js';
import { ServiceProxy, proxyServiceFromObjects, type ProxyServiceStatus } from '../../src/sandbox/proxy/index.js';
import { freePort } from '../helpers/ports.js';

const net = `127.${100 + Math.floor(Math.random() * 100)}.${Math.floor(Math.random() * 250)}`;
const clusterIP = (n: number) => `${net}.${n}`;
const servers: Server[] = [];
const proxies: ServiceProxy[] = [];
const udpSockets: ReturnType<typeof createUdpSocket>[] = [];

after(async () => {
  await Promise.all(proxies.map((p) => p.close()));
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  for (const s of udpSockets) s.close();
});

function newProxy(opts: ConstructorParameters<typeof ServiceProxy>[0] = {}): ServiceProxy {
  const p = new ServiceProxy({ logger: silentLogger(), connectTimeoutMs: 1000, ...opts });
  proxies.push(p);
  return p;
}

/** A backend that answers its id and closes. */
async function idServer(id: string): Promise<{ host: string; port: number; server: Server }> {
  const server = createServer((s) => s.end(`${id}\n`));
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { host: '127.0.0.1', port: (server.address() as { port: number }).port, server };
}

/** A backend that echoes and ends after the client's FIN (half-close aware). */
async function echoServer(): Promise<{ host: string; port: number; conns: Socket[] }> {
  const conns: Socket[] = [];
  const server = createServer({ allowHalfOpen: true }, (s) => {
    conns.push(s);
    s.pipe(s);
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { host: '127.0.0.1', port: (server.address() as { port: number }).port, conns };
}

/** Everything the server sends until its FIN; `localAddress`: the client's own address (a pod's). */
function readAll(host: string, port: number, localAddress?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ host, port, ...(localAddress ? { localAddress } : {}) });
    let out = '';
    s.setEncoding('utf8');
    s.on('data', (d: string) => (out += d));
    s.on('end', () => resolve(out));
    s.on('error', reject);
    s.setTimeout(5000, () => s.destroy(new Error('timeout')));
  });
}

test('connections spread round-robin across ready endpoints; not-ready endpoints get none', async () => {
  const [a, b, c, d] = await Promise.all([idServer('a'), idServer('b'), idServer('c'), idServer('d')]);
  const port = await freePort(clusterIP(1));
  const proxy = newProxy();
  const st = await proxy.setService('demo/web', {
    clusterIPs: [clusterIP(1)],
    ports: [{ name: 'http', port, targetPort: 9999 }],
    endpoints: [a, b, c, d].map((e, i) => ({ ip: e.host, ready: i < 3, ports: [{ name: 'http', port: e.port }] })),
  });
  assert.deepEqual(st.listening, [`${clusterIP(1)}:${port}`]);
  assert.deepEqual(st.errors, []);
  const counts = new Map<string, number>();
  for (let i = 0; i < 9; i++) {
    const id = (await readAll(clusterIP(1), port)).trim();
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  assert.deepEqual(Object.fromEntries([...counts].sort()), { a: 3, b: 3, c: 3 });
  assert.equal(proxy.serviceStats('demo/web').accepted, 9);
});

test('endpoint change: new connections follow it, an established flow is not disturbed', async () => {
  const echo = await echoServer();
  const other = await idServer('new');
  const port = await freePort(clusterIP(2));
  const proxy = newProxy();
  await proxy.setService('demo/echo', { clusterIPs: [clusterIP(2)], ports: [{ port, targetPort: echo.port }], endpoints: [{ ip: echo.host }] });
  const s = connect(port, clusterIP(2));
  s.setEncoding('utf8');
  let got = '';
  s.on('data', (d: string) => (got += d));
  await new Promise<void>((r) => s.once('connect', () => r()));
  s.write('before ');
  await until(() => got === 'before ');
  await proxy.setService('demo/echo', { clusterIPs: [clusterIP(2)], ports: [{ port, targetPort: other.port }], endpoints: [{ ip: other.host }] });
  assert.equal((await readAll(clusterIP(2), port)).trim(), 'new');
  s.write('after');
  await until(() => got === 'before after');
  s.end();
  await new Promise((r) => s.once('close', r));
});

test('no ready endpoint → the connection is reset at once (as kube-proxy REJECT); every endpoint refusing → reset too', async () => {
  const port = await freePort(clusterIP(3));
  const proxy = newProxy();
  await proxy.setService('demo/empty', { clusterIPs: [clusterIP(3)], ports: [{ port }], endpoints: [{ ip: '127.0.0.1', ready: false }] });
  const err = await connectResult(clusterIP(3), port);
  assert.equal(err, 'ECONNRESET');
  const dead = await freePort();
  await proxy.setService('demo/empty', { clusterIPs: [clusterIP(3)], ports: [{ port, targetPort: dead }], endpoints: [{ ip: '127.0.0.1' }] });
  assert.equal(await connectResult(clusterIP(3), port), 'ECONNRESET');
  assert.equal(proxy.serviceStats('demo/empty').rejected, 2);
});

test('a refused endpoint fails over to the next one', async () => {
  const live = await idServer('live');
  const dead = await freePort();
  const port = await freePort(clusterIP(4));
  const proxy = newProxy();
  await proxy.setService('demo/fo', {
    clusterIPs: [clusterIP(4)],
    ports: [{ name: 'p', port, targetPort: 1 }],
    endpoints: [
      { ip: '127.0.0.1', ports: [{ name: 'p', port: dead }] },
      { ip: live.host, ports: [{ name: 'p', port: live.port }] },
    ],
  });
  for (let i = 0; i < 4; i++) assert.equal((await readAll(clusterIP(4), port)).trim(), 'live');
  assert.ok(proxy.serviceStats('demo/fo').failovers >= 2);
});

test('byte-exact piping of 4 MiB with backpressure, and half-close: the client FIN reaches the endpoint, the echo still comes back', async () => {
  const echo = await echoServer();
  const port = await freePort(clusterIP(5));
  const proxy = newProxy();
  await proxy.setService('demo/echo', { clusterIPs: [clusterIP(5)], ports: [{ port, targetPort: echo.port }], endpoints: [{ ip: echo.host }] });
  const payload = randomBytes(4 * 1024 * 1024);
  const back = await new Promise<Buffer>((resolve, reject) => {
    const s = connect({ port, host: clusterIP(5), allowHalfOpen: true });
    const chunks: Buffer[] = [];
    s.on('data', (d: Buffer) => chunks.push(d));
    s.on('end', () => resolve(Buffer.concat(chunks)));
    s.on('error', reject);
    s.on('connect', () => s.end(payload)); // write everything, then FIN: only the write side closes
  });
  assert.equal(back.length, payload.length);
  assert.equal(createHash('sha256').update(back).digest('hex'), createHash('sha256').update(payload).digest('hex'));
});

test('a reset from the endpoint reaches the client as a reset, not as a clean close', async () => {
  const server = createServer((s) => {
    s.once('data', () => s.resetAndDestroy());
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = await freePort(clusterIP(11));
  const proxy = newProxy();
  await proxy.setService('demo/rst', { clusterIPs: [clusterIP(11)], ports: [{ port, targetPort: (server.address() as { port: number }).port }], endpoints: [{ ip: '127.0.0.1' }] });
  const result = await new Promise<string>((resolve) => {
    const s = connect(port, clusterIP(11), () => s.write('boom'));
    s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
    s.on('end', () => resolve('clean end'));
    s.setTimeout(5000, () => resolve('timeout'));
  });
  assert.equal(result, 'ECONNRESET');
});

test('removing a service closes its listener; other services keep serving', async () => {
  const a = await idServer('kept');
  const portA = await freePort(clusterIP(6));
  const portB = await freePort(clusterIP(7));
  const statuses: ProxyServiceStatus[] = [];
  const proxy = newProxy({ onStatus: (s) => statuses.push(s) });
  await proxy.replaceAll([
    ['demo/keep', { clusterIPs: [clusterIP(6)], ports: [{ port: portA, targetPort: a.port }], endpoints: [{ ip: a.host }] }],
    ['demo/gone', { clusterIPs: [clusterIP(7)], ports: [{ port: portB, targetPort: a.port }], endpoints: [{ ip: a.host }] }],
  ]);
  assert.equal((await readAll(clusterIP(7), portB)).trim(), 'kept');
  await proxy.replaceAll([['demo/keep', { clusterIPs: [clusterIP(6)], ports: [{ port: portA, targetPort: a.port }], endpoints: [{ ip: a.host }] }]]);
  assert.equal(await connectResult(clusterIP(7), portB), 'ECONNREFUSED');
  assert.equal((await readAll(clusterIP(6), portA)).trim(), 'kept');
  assert.deepEqual([...proxy.listening().values()], ['demo/keep']);
  assert.ok(statuses.some((s) => s.key === 'demo/gone' && s.listening.length === 1));
});

test('NodePort and LoadBalancer: node address listeners, LB ingress reported, conflicts reported not stolen', async () => {
  const a = await idServer('np');
  const nodeAddress = clusterIP(200);
  const lbAddress = clusterIP(201);
  const [svcPort, nodePort, lbPort] = [await freePort(clusterIP(8)), await freePort(nodeAddress), await freePort(lbAddress)];
  const proxy = newProxy({ nodeAddress });
  const np = await proxy.setService('demo/np', {
    type: 'NodePort',
    clusterIPs: [clusterIP(8)],
    ports: [{ port: svcPort, targetPort: a.port, nodePort }],
    endpoints: [{ ip: a.host }],
  });
  assert.deepEqual(np.listening.sort(), [`${clusterIP(8)}:${svcPort}`, `${nodeAddress}:${nodePort}`].sort());
  assert.equal((await readAll(nodeAddress, nodePort)).trim(), 'np');

  const lb = await proxy.setService('demo/lb', { type: 'LoadBalancer', clusterIPs: [], ports: [{ port: lbPort, targetPort: a.port }], endpoints: [{ ip: a.host }] });
  assert.equal(lb.loadBalancerIngress, nodeAddress);
  assert.equal((await readAll(nodeAddress, lbPort)).trim(), 'np');
  // A second LB Service on the same port and node address conflicts: reported, the first keeps it.
  const clash = await proxy.setService('demo/lb2', { type: 'LoadBalancer', ports: [{ port: lbPort, targetPort: a.port }], endpoints: [{ ip: a.host }] });
  assert.match(clash.errors.join(';'), /already used by service demo\/lb/);
  assert.deepEqual(proxy.status('demo/lb').listening, [`${nodeAddress}:${lbPort}`]);

  // With an address pool each LB Service gets its own ingress address.
  const pooled = newProxy({ nodeAddress, loadBalancerAddresses: [lbAddress] });
  const st = await pooled.setService('demo/lb', { type: 'LoadBalancer', ports: [{ port: lbPort, targetPort: a.port }], endpoints: [{ ip: a.host }] });
  assert.equal(st.loadBalancerIngress, lbAddress);
  assert.equal((await readAll(lbAddress, lbPort)).trim(), 'np');
  const none = await pooled.setService('demo/lb2', { type: 'LoadBalancer', ports: [{ port: lbPort, targetPort: a.port }], endpoints: [{ ip: a.host }] });
  assert.match(none.errors.join(';'), /no LoadBalancer address/);
});

test('named targetPort resolved through EndpointSlice port names (from Kubernetes objects)', async () => {
  const a = await idServer('named');
  const port = await freePort(clusterIP(9));
  const input = proxyServiceFromObjects(
    { metadata: { name: 'web', namespace: 'demo' }, spec: { clusterIP: clusterIP(9), ports: [{ name: 'http', port, targetPort: 'web-port' }] } },
    [
      { metadata: { name: 'web-1', namespace: 'demo', labels: { 'kubernetes.io/service-name': 'web' } }, addressType: 'IPv4', endpoints: [{ addresses: [a.host], conditions: { ready: true } }], ports: [{ name: 'http', port: a.port, protocol: 'TCP' }] },
      { metadata: { name: 'x', namespace: 'demo', labels: { 'kubernetes.io/service-name': 'other' } }, addressType: 'IPv4', endpoints: [{ addresses: ['127.0.0.9'] }], ports: [{ name: 'http', port: 1 }] },
    ],
  );
  assert.ok(input);
  assert.equal(input.endpoints?.length, 1);
  const proxy = newProxy();
  await proxy.setService('demo/web', input);
  assert.equal((await readAll(clusterIP(9), port)).trim(), 'named');
  assert.equal(proxyServiceFromObjects({ metadata: { name: 'h', namespace: 'demo' }, spec: { clusterIP: 'None' } }, []), undefined, 'headless services are not proxied');
});

test('UDP service ports: datagrams reach an endpoint and replies come back; flows spread per client; no endpoint → dropped', async () => {
  const mkUdpEcho = async (id: string) => {
    const s = createUdpSocket('udp4');
    s.on('message', (m, r) => s.send(Buffer.concat([Buffer.from(`${id}:`), m]), r.port, r.address));
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
    udpSockets.push(s);
    return s.address().port;
  };
  const [pa, pb] = [await mkUdpEcho('a'), await mkUdpEcho('b')];
  const port = await freePort(clusterIP(12));
  const proxy = newProxy();
  const st = await proxy.setService('demo/dns', {
    clusterIPs: [clusterIP(12)],
    ports: [{ name: 'dns', port, protocol: 'UDP', targetPort: 1 }],
    endpoints: [
      { ip: '127.0.0.1', ports: [{ name: 'dns', port: pa, protocol: 'UDP' }] },
      { ip: '127.0.0.1', ports: [{ name: 'dns', port: pb, protocol: 'UDP' }] },
    ],
  });
  assert.deepEqual(st.listening, [`${clusterIP(12)}:${port}/udp`]);
  const ask = async (client: ReturnType<typeof createUdpSocket>, text: string) =>
    new Promise<string>((resolve) => {
      const timer = setTimeout(() => resolve('no reply'), 1000);
      client.once('message', (m) => {
        clearTimeout(timer);
        resolve(m.toString());
      });
      client.send(text, port, clusterIP(12));
    });
  const answers: string[] = [];
  for (let i = 0; i < 4; i++) {
    const c = createUdpSocket('udp4');
    udpSockets.push(c);
    const first = await ask(c, 'q1');
    const second = await ask(c, 'q2');
    assert.equal(first[0], second[0], 'one client stays on one endpoint (a flow)');
    answers.push(first);
  }
  assert.deepEqual(answers.map((a) => a[0]).sort(), ['a', 'a', 'b', 'b']);
  assert.ok(answers.every((a) => /^[ab]:q1$/.test(a)));

  await proxy.setService('demo/dns', { clusterIPs: [clusterIP(12)], ports: [{ name: 'dns', port, protocol: 'UDP' }], endpoints: [] });
  const lonely = createUdpSocket('udp4');
  udpSockets.push(lonely);
  assert.equal(await ask(lonely, 'q'), 'no reply');
  assert.ok(proxy.serviceStats('demo/dns').rejected >= 1);
});

test('bad input is reported in the status and the previous version keeps serving', async () => {
  const a = await idServer('ok');
  const port = await freePort(clusterIP(10));
  const proxy = newProxy();
  await proxy.setService('demo/web', { clusterIPs: [clusterIP(10)], ports: [{ port, targetPort: a.port }], endpoints: [{ ip: a.host }] });
  const bad = await proxy.setService('demo/web', { clusterIPs: ['nope'], ports: [{ port: 70000 }] });
  assert.match(bad.errors.join(';'), /invalid service/);
  assert.equal((await readAll(clusterIP(10), port)).trim(), 'ok');
  assert.throws(() => new ServiceProxy({ nodeAddress: 'not-an-ip', logger: silentLogger() }), /nodeAddress/);
});

function connectResult(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(port, host);
    s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
    s.on('data', () => resolve('data'));
    s.on('close', () => resolve('closed'));
    s.setTimeout(5000, () => {
      s.destroy();
      resolve('timeout');
    });
  });
}

async function until(cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('the endpoint sees the client pod address through a ClusterIP (DNAT without SNAT, as kube-proxy keeps it)', async () => {
  // The backend answers the address it saw the connection come from.
  const server = createServer((s) => s.end(`${s.remoteAddress}\n`));
  servers.push(server);
  const backendIP = clusterIP(31);
  await new Promise<void>((r) => server.listen(0, backendIP, r));
  const backendPort = (server.address() as { port: number }).port;
  const port = await freePort(clusterIP(30));
  const proxy = newProxy();
  await proxy.setService('demo/who', { clusterIPs: [clusterIP(30)], ports: [{ port, targetPort: backendPort }], endpoints: [{ ip: backendIP }] });
  for (const podIP of [clusterIP(41), clusterIP(42)]) {
    const seen = (await readAll(clusterIP(30), port, podIP)).trim();
    assert.equal(seen, podIP, 'the endpoint must see the client pod, not the proxy');
  }
});

test('a client that is no pod goes out from the node address: a host tool whose source is the ClusterIP itself, or any address outside the pod CIDRs (kube-proxy masquerades them)', async () => {
  // Why: in an isolated sandbox a debug pod's curl runs in the cluster's network, and for a ClusterIP (a local
  // address) the kernel picks the ClusterIP itself as the source. Kept towards a flat endpoint in another
  // cluster, the answer went to an address that cluster does not route: the connection hung.
  const server = createServer((s) => s.end(`${s.remoteAddress}\n`));
  servers.push(server);
  const backendIP = clusterIP(51);
  await new Promise<void>((r) => server.listen(0, backendIP, r));
  const backendPort = (server.address() as { port: number }).port;
  const vip = clusterIP(50);
  const port = await freePort(vip);
  const node = clusterIP(1);
  const proxy = newProxy({ nodeAddress: node, podCIDRs: [`${clusterIP(64)}/27`] });
  await proxy.setService('demo/who', { clusterIPs: [vip], ports: [{ port, targetPort: backendPort }], endpoints: [{ ip: backendIP }] });
  const seenFrom = async (localAddress: string) => (await readAll(vip, port, localAddress)).trim();
  assert.equal(await seenFrom(clusterIP(70)), clusterIP(70), 'a pod keeps its address');
  assert.equal(await seenFrom(vip), node, 'a client whose source is the ClusterIP is masqueraded to the node address');
  assert.equal(await seenFrom(clusterIP(120)), node, 'a client outside the pod CIDRs is masqueraded to the node address');
  assert.throws(() => new ServiceProxy({ podCIDRs: ['10.0.0.0'] }), /podCIDRs/);
});

test('dual-stack ClusterIPs: each family reaches its own endpoints (::1 is the loopback IPv6 address); noIPv6 reports instead of binding', async () => {
  const four = await idServer('four');
  const sixServer = createServer((s) => s.end('six\n'));
  servers.push(sixServer);
  await new Promise<void>((r) => sixServer.listen(0, '::1', r));
  const six = { host: '::1', port: (sixServer.address() as { port: number }).port };
  const port = await freePort();
  const p = newProxy();
  const st = await p.setService('t/dual', {
    clusterIPs: [clusterIP(40), '::1'],
    ports: [{ port }],
    endpoints: [
      { ip: four.host, ports: [{ port: four.port, protocol: 'TCP' }] },
      { ip: six.host, ports: [{ port: six.port, protocol: 'TCP' }] },
    ],
  });
  // Runs of connections per family: round-robin over mixed families would hand out the other one.
  for (let i = 0; i < 3; i++) assert.equal(await readAll(clusterIP(40), port), 'four\n');
  for (let i = 0; i < 3; i++) assert.equal(await readAll('::1', port), 'six\n');
  // Never by way of a failed connect to the other family's endpoint either.
  assert.equal(p.serviceStats('t/dual').failovers, 0);
  assert.deepEqual(st.listening, [`${clusterIP(40)}:${port}`, `[::1]:${port}`].sort());
  const q = newProxy({ noIPv6: 'no IPv6 pod addresses here' });
  const port2 = await freePort();
  const qs = await q.setService('t/dual2', { clusterIPs: [clusterIP(41), '::1'], ports: [{ port: port2 }], endpoints: [{ ip: four.host, ports: [{ port: four.port, protocol: 'TCP' }] }] });
  assert.deepEqual(qs.listening, [`${clusterIP(41)}:${port2}`]);
  assert.deepEqual(qs.errors, ['IPv6 ClusterIP ::1 not served: no IPv6 pod addresses here']);
  assert.equal(await readAll(clusterIP(41), port2), 'four\n');
});
