// The traffic client resolving Service names through our cluster DNS server (MESH_CLUSTER_DNS), against
// echo apps started as processes: in-process (`runClient`) and as `mesh app client -o json`.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startMesh, stopAll, type Proc } from '../helpers/process.js';
import { freePort } from '../helpers/ports.js';
import { silentLogger } from '../../src/log/index.js';
import { DnsRecordSource, startDnsServer, type DnsServer } from '../../src/dns/index.js';
import * as grpc from '@grpc/grpc-js';
import { loadEchoProtos, runClient, summarize, type ClientReport } from '../../src/apps/index.js';

const net = `127.${100 + Math.floor(Math.random() * 100)}.${Math.floor(Math.random() * 250)}`;
const pods = [`${net}.11`, `${net}.12`];
const ports = { http: 0, grpc: 0, tcp: 0 };
let dns: DnsServer;

before(async () => {
  // Two http-echo pods behind a headless Service (DNS answers both pod IPs), one grpc and one tcp pod.
  // The first web pod takes any free port; the second uses the same port on its own IP, as pods of
  // one Deployment do.
  const env = (pod: string, ip: string) => ({ CLUSTER_NAME: 'cluster-b', POD_NAME: pod, POD_NAMESPACE: 'demo', POD_IP: ip });
  const web0 = startMesh(['app', 'http-echo', '--port', '0'], env('web-0', pods[0] as string));
  ports.http = await listeningPort(web0, 'http-echo');
  const web1 = startMesh(['app', 'http-echo', '--port', String(ports.http)], env('web-1', pods[1] as string));
  const grpcPod = startMesh(['app', 'grpc-echo', '--port', '0'], env('grpc-0', pods[0] as string));
  const tcpPod = startMesh(['app', 'tcp-echo', '--port', '0'], env('tcp-0', pods[0] as string));
  [ports.grpc, ports.tcp] = await Promise.all([listeningPort(grpcPod, 'grpc-echo'), listeningPort(tcpPod, 'tcp-echo'), listeningPort(web1, 'http-echo')]);
  const source = new DnsRecordSource('cluster.local');
  source.setService('demo', 'web-cluster-b', { headless: true, endpoints: pods.map((ip) => ({ ip })) });
  source.setService('demo', 'grpc', { clusterIPs: [pods[0] as string] });
  source.setService('demo', 'tcp', { clusterIPs: [pods[0] as string] });
  dns = await startDnsServer(source, { address: '127.0.0.1', port: 0 }, silentLogger());
});

async function listeningPort(proc: Proc, name: string): Promise<number> {
  const line = await proc.waitFor(new RegExp(`^.*"${name} listening".*$`, 'm'), 15_000);
  return (JSON.parse(line[0]) as { port: number }).port;
}

after(async () => {
  await stopAll();
  await dns?.close();
});

test('runClient over HTTP resolves through the cluster DNS and reports which cluster/pod answered', async () => {
  const report = await runClient({ url: `http://web-cluster-b.demo.svc.cluster.local:${ports.http}/`, count: 12, dnsServer: `127.0.0.1:${dns.port}` });
  assert.equal(report.summary.total, 12);
  assert.equal(report.summary.ok, 12, JSON.stringify(report.results.filter((r) => !r.ok)));
  assert.deepEqual(report.summary.byCluster, { 'cluster-b': 12 });
  for (const r of report.results) {
    assert.ok(r.address && pods.some((ip) => r.address === `${ip}:${ports.http}`), `connected to a pod IP from DNS (${r.address})`);
    assert.equal(r.address, `${r.pod === 'web-0' ? pods[0] : pods[1]}:${ports.http}`, 'the pod that answered is the one at the resolved address');
  }
  // DNS answers both pods and the client picks one at random: over 12 requests both show up (p of not = 2 * 0.5^12).
  assert.deepEqual(Object.keys(report.summary.byPod).sort(), ['web-0', 'web-1']);
});

test('runClient with a search list (MESH_DNS_SEARCH style) resolves a short Service name', async () => {
  const report = await runClient({ url: `http://web-cluster-b:${ports.http}/`, count: 1, dnsServer: `127.0.0.1:${dns.port}`, search: ['demo.svc.cluster.local', 'svc.cluster.local'] });
  assert.equal(report.summary.ok, 1);
});

test('runClient over gRPC and raw TCP', async () => {
  const g = await runClient({ grpc: `grpc.demo.svc.cluster.local:${ports.grpc}`, count: 3, dnsServer: `127.0.0.1:${dns.port}` });
  assert.equal(g.summary.ok, 3, JSON.stringify(g.results));
  assert.deepEqual(g.summary.byPod, { 'grpc-0': 3 });
  const t = await runClient({ tcp: `tcp.demo.svc.cluster.local:${ports.tcp}`, count: 2, dnsServer: `127.0.0.1:${dns.port}` });
  assert.equal(t.summary.ok, 2, JSON.stringify(t.results));
  assert.deepEqual(t.summary.byCluster, { 'cluster-b': 2 });
});

test('failures are reported per request, not thrown: unknown name (NXDOMAIN), refused port, timeout', async () => {
  const nx = await runClient({ url: `http://nope.demo.svc.cluster.local:${ports.http}/`, count: 2, dnsServer: `127.0.0.1:${dns.port}` });
  assert.equal(nx.summary.failed, 2);
  assert.match(nx.results[0]?.error ?? '', /cannot resolve nope\.demo\.svc\.cluster\.local/);
  const closed = await freePort(pods[1]);
  const refused = await runClient({ tcp: `${pods[1]}:${closed}`, count: 1 });
  assert.equal(refused.summary.failed, 1);
  assert.match(refused.results[0]?.error ?? '', /ECONNREFUSED/);
  const slow = await runClient({ url: `http://${pods[0]}:${ports.http}/delay?ms=2000`, count: 1, timeoutMs: 200 });
  assert.match(slow.results[0]?.error ?? '', /no answer .* within 200 ms/);
  await assert.rejects(runClient({ count: 1 }), /exactly one of url, grpc, tcp/);
  await assert.rejects(runClient({ url: 'ftp://x/', count: 1 }), /url/);
});

test('`mesh app client -o json` as a process, with MESH_CLUSTER_DNS; exit 1 when requests fail, 2 on usage errors', async () => {
  const ok = startMesh(['app', 'client', '--url', `http://web-cluster-b.demo.svc.cluster.local:${ports.http}/`, '--count', '4', '--interval-ms', '10', '-o', 'json'], { MESH_CLUSTER_DNS: `127.0.0.1:${dns.port}` });
  assert.equal(await ok.exited, 0, ok.stderr());
  const report = JSON.parse(ok.stdout()) as ClientReport;
  assert.equal(report.summary.ok, 4);
  assert.deepEqual(report.summary.byCluster, { 'cluster-b': 4 });

  const text = startMesh(['app', 'client', '--tcp', `tcp.demo.svc.cluster.local:${ports.tcp}`, '--count', '2'], { MESH_CLUSTER_DNS: `127.0.0.1:${dns.port}` });
  assert.equal(await text.exited, 0, text.stderr());
  assert.match(text.stdout(), /^1 ok .* cluster-b\/tcp-0$/m);
  assert.match(text.stdout(), /^summary: 2\/2 ok, 0 failed/m);

  const failing = startMesh(['app', 'client', '--url', `http://nope.demo.svc.cluster.local:${ports.http}/`, '-o', 'json'], { MESH_CLUSTER_DNS: `127.0.0.1:${dns.port}` });
  assert.equal(await failing.exited, 1);
  assert.equal((JSON.parse(failing.stdout()) as ClientReport).summary.failed, 1);
  assert.match(failing.stderr(), /1 of 1 requests .* failed/);

  const usage = startMesh(['app', 'client', '--count', '3']);
  assert.equal(await usage.exited, 2);
  assert.match(usage.stderr(), /exactly one of/);
});

test('summarize: counts and nearest-rank percentiles over successful requests only', () => {
  const s = summarize('t', [
    { seq: 1, at: '2026-01-01T00:00:00.000Z', ok: true, latencyMs: 1, cluster: 'a', pod: 'p1' },
    { seq: 2, at: '2026-01-01T00:00:00.000Z', ok: true, latencyMs: 3, cluster: 'b', pod: 'p2' },
    { seq: 3, at: '2026-01-01T00:00:00.000Z', ok: false, latencyMs: 100, error: 'x' },
    { seq: 4, at: '2026-01-01T00:00:00.000Z', ok: true, latencyMs: 2, cluster: 'a', pod: 'p1' },
  ]);
  assert.deepEqual(s, { target: 't', total: 4, ok: 3, failed: 1, byCluster: { a: 2, b: 1 }, byPod: { p1: 2, p2: 1 }, latencyMs: { min: 1, p50: 2, p90: 3, p99: 3, max: 3, mean: 2 } });
});

test('the client connects from POD_IP (its pod address) when set, so a server sees the calling pod', async () => {
  const { createServer } = await import('node:net');
  const server = createServer((s) => s.end(`${JSON.stringify({ cluster: 'x', pod: s.remoteAddress ?? '' })}\n`));
  await new Promise<void>((r) => server.listen(0, pods[1] as string, r));
  const port = (server.address() as { port: number }).port;
  const saved = process.env.POD_IP;
  try {
    process.env.POD_IP = `${net}.77`;
    const r = await runClient({ tcp: `${pods[1]}:${port}`, count: 2 });
    assert.deepEqual(r.results.map((x) => x.pod), [`${net}.77`, `${net}.77`]);
    const explicit = await runClient({ tcp: `${pods[1]}:${port}`, localAddress: `${net}.78` });
    assert.equal(explicit.results[0]?.pod, `${net}.78`);
  } finally {
    if (saved === undefined) delete process.env.POD_IP;
    else process.env.POD_IP = saved;
    server.close();
  }
});

test('gRPC calls connect from POD_IP too (grpc-js cannot bind one: grpc-call.ts), as a real grpc-js server sees them', async () => {
  // A grpc-js server of the demo's Echo service answering with the peer it saw (pod = the caller's address).
  const server = new grpc.Server();
  server.addService(loadEchoProtos().Echo.service, {
    Echo: (call: grpc.ServerUnaryCall<{ message: string }, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      const peer = call.getPeer().replace(/^ipv4:/, '').replace(/:\d+$/, '');
      cb(null, { message: call.request.message, cluster: 'x', namespace: 'demo', pod: peer, podIp: '', seq: 0 });
    },
  });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync(`${pods[1]}:0`, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  const saved = process.env.POD_IP;
  try {
    process.env.POD_IP = `${net}.79`;
    const r = await runClient({ grpc: `${pods[1]}:${port}`, count: 2 });
    assert.deepEqual(r.results.map((x) => [x.ok, x.status, x.pod]), [[true, 'OK', `${net}.79`], [true, 'OK', `${net}.79`]]);
    const explicit = await runClient({ grpc: `${pods[1]}:${port}`, localAddress: `${net}.80` });
    assert.equal(explicit.results[0]?.pod, `${net}.80`);
    delete process.env.POD_IP;
    const unbound = await runClient({ grpc: `${pods[1]}:${port}` });
    assert.equal(unbound.results[0]?.pod, '127.0.0.1', 'without POD_IP the kernel picks the source');
  } finally {
    if (saved === undefined) delete process.env.POD_IP;
    else process.env.POD_IP = saved;
    server.forceShutdown();
  }
});
