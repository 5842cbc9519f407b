// How the PROXY v2 header reaches an opted-in target (issue 15), through a real gateway over real mTLS and
// real sockets: the client's first bytes, already at the gateway when it dials, leave in the same write as
// the header (the target's first read holds both, and the gateway counts them as relayed); with no client
// bytes the header leaves alone at once, so a server-first protocol can greet the client.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import http2 from 'node:http2';
import tls from 'node:tls';
import { parseProxyV2, callerOfHeader } from '../../src/api/index.js';
import { startGateway, MemoryRouteSource, MemoryCredentials, GatewayMetrics, ALPN_PIPE, type Gateway, type Credentials } from '../../src/gateway/index.js';
import { pipeHeader, readPipeStatus } from '../../src/gateway/pipe-protocol.js';
import { createPki } from './fixtures.js';
import { waitUntil } from './pair.js';

const pki = createPki(['cluster-a', 'cluster-b']);
const FRONTEND = 'spiffe://mesh.local/ns/demo/sa/frontend';

/** A target recording each connection's reads; on a complete header it greets (server-first) and echoes. */
async function startRecorder(): Promise<{ port: number; conns: Buffer[][]; close(): Promise<void> }> {
  const conns: Buffer[][] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ noDelay: true }, (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    const reads: Buffer[] = [];
    conns.push(reads);
    let greeted = false;
    s.on('data', (d: Buffer) => {
      reads.push(d);
      const all = Buffer.concat(reads);
      const p = parseProxyV2(all);
      if (p.kind !== 'header') return;
      if (!greeted) s.write('220 ready\n');
      greeted = true;
      const rest = all.subarray(p.length);
      if (rest.length && rest.toString().endsWith('\n')) s.write(`echo ${rest.toString()}`);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    conns,
    close: () => new Promise<void>((r) => {
      for (const s of sockets) s.destroy();
      server.close(() => r());
    }),
  };
}

let gw: Gateway;
let target: Awaited<ReturnType<typeof startRecorder>>;
let metrics: GatewayMetrics;
let session: http2.ClientHttp2Session;

before(async () => {
  target = await startRecorder();
  const routes = new MemoryRouteSource();
  routes.set({ exported: [{ namespace: 'demo', name: 'smtp', proxyProtocol: 'v2', ports: [{ port: 25, backends: [{ address: '127.0.0.1', port: target.port }] }] }], linkedClusters: ['cluster-a'] });
  metrics = new GatewayMetrics();
  gw = await startGateway({ clusterName: 'cluster-b', host: '127.0.0.1', tunnelPort: 0, adminPort: 0 }, { credentials: new MemoryCredentials(pki.leaf('cluster-b')), routes, metrics });
  const c: Credentials = pki.leaf('cluster-a');
  session = await new Promise((resolve, reject) => {
    const s = http2.connect(`https://127.0.0.1:${gw.tunnelPort}`, { ca: c.bundle, cert: c.certChain, key: c.key, checkServerIdentity: () => undefined });
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
});
after(async () => {
  session?.close();
  await gw?.close();
  await target?.close();
});

/** A CONNECT to the target; `early` is written with the request, before the gateway answers. */
function open(early?: string): { stream: http2.ClientHttp2Stream; text: () => string } {
  const stream = session.request({ ':method': 'CONNECT', ':authority': 'smtp.demo.svc.cluster.local:25', 'mesh-caller-id': FRONTEND, 'mesh-caller-cluster': 'cluster-a' }, { endStream: false });
  let got = '';
  stream.setEncoding('utf8');
  stream.on('data', (d: string) => (got += d));
  stream.on('error', () => {});
  if (early !== undefined) stream.write(early);
  return { stream, text: () => got };
}

test('client bytes sent with the request leave in one write with the header: the first read holds both, and they are counted', async () => {
  const before = metrics.bytesRelayed();
  const n = target.conns.length;
  const t = open('HELO a\n');
  await waitUntil(() => t.text().includes('echo HELO a'), 5000, 'the target saw the header and the first line');
  const reads = target.conns[n]!;
  const p = parseProxyV2(reads[0]!);
  assert.equal(p.kind, 'header', 'the first read starts with a whole header');
  assert.deepEqual(p.kind === 'header' && callerOfHeader(p.header), { id: FRONTEND, cluster: 'cluster-a', unknown: false });
  assert.equal(reads[0]!.subarray(p.kind === 'header' ? p.length : 0).toString(), 'HELO a\n', 'the first bytes came in the same read as the header');
  t.stream.close();
  // 7 bytes up, '220 ready\n' + 'echo HELO a\n' down: the bytes sent with the header are counted too.
  await waitUntil(() => metrics.bytesRelayed() - before >= 7 + 10 + 12, 5000, 'bytes counted');
  assert.equal(metrics.bytesRelayed() - before, 7 + 10 + 12);
});

test('with no client bytes the header leaves alone at once: a server-first target greets the client', async () => {
  const n = target.conns.length;
  const t = open();
  await waitUntil(() => t.text() === '220 ready\n', 5000, 'the greeting of a target that got only the header');
  const p = parseProxyV2(Buffer.concat(target.conns[n]!));
  assert.ok(p.kind === 'header' && Buffer.concat(target.conns[n]!).length === p.length, 'the target got the header and nothing else');
  t.stream.write('HELO b\n');
  await waitUntil(() => t.text().includes('echo HELO b'), 5000, 'later bytes follow the header');
  t.stream.close();
});

test('tls-pipe: the bytes sent right behind the pipe header leave with the PROXY header too', async () => {
  const n = target.conns.length;
  const c: Credentials = pki.leaf('cluster-a');
  const sock = tls.connect({ host: '127.0.0.1', port: gw.tunnelPort, ca: c.bundle, cert: c.certChain, key: c.key, ALPNProtocols: [ALPN_PIPE], checkServerIdentity: () => undefined });
  try {
    await new Promise<void>((resolve, reject) => {
      sock.once('secureConnect', () => resolve());
      sock.once('error', reject);
    });
    sock.write(Buffer.concat([pipeHeader('smtp.demo.svc.cluster.local:25', { id: FRONTEND, cluster: 'cluster-a' }), Buffer.from('HELO p\n')]));
    const status = await new Promise<number | undefined>((resolve, reject) => readPipeStatus(sock, (err, st) => (err ? reject(err) : resolve(st))));
    assert.equal(status, 200);
    let got = '';
    sock.on('data', (d: Buffer) => (got += d.toString()));
    await waitUntil(() => got.includes('echo HELO p'), 5000, 'the echo of the first line');
    const reads = target.conns[n]!;
    const p = parseProxyV2(reads[0]!);
    assert.ok(p.kind === 'header' && reads[0]!.subarray(p.length).toString() === 'HELO p\n', 'header and first bytes in the first read');
  } finally {
    sock.destroy();
  }
});
