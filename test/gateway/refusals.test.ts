// Everything the tunnel port must refuse, each with the right answer and no crash, using openssl s_client
// and curl as independent clients where they fit (HTTP/2 CONNECT needs node's client: curl 7.88 has no
// HTTP/2 proxy support). After every case the gateway still serves.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import http2 from 'node:http2';
import { spawnSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startGateway, MemoryRouteSource, MemoryCredentials, GatewayMetrics, ALPN_PIPE, type Gateway } from '../../src/gateway/index.js';
import { createPki, expiredLeaf, startEchoServer, writeCredentials, outcomeOf } from './fixtures.js';

const pki = createPki();
const good = writeCredentials(pki.leaf('cluster-a'));
const foreign = writeCredentials(createPki(['cluster-a']).leaf('cluster-a'));
const expired = writeCredentials(expiredLeaf(pki, 'cluster-a'));
const LIMIT = 6;
let gw: Gateway;
let echo: Awaited<ReturnType<typeof startEchoServer>>;
let metrics: GatewayMetrics;

before(async () => {
  echo = await startEchoServer();
  const routes = new MemoryRouteSource();
  routes.set({
    exported: [
      { namespace: 'demo', name: 'echo', ports: [{ port: 7, backends: [{ address: '127.0.0.1', port: echo.port }] }] },
      { namespace: 'demo', name: 'private', allowedIdentities: ['spiffe://mesh.local/ns/ops/*'], ports: [{ port: 7, backends: [{ address: '127.0.0.1', port: echo.port }] }] },
      { namespace: 'demo', name: 'from-c', allowedIdentities: ['cluster:cluster-c'], ports: [{ port: 7, backends: [{ address: '127.0.0.1', port: echo.port }] }] },
      { namespace: 'demo', name: 'from-a', allowedIdentities: ['cluster:cluster-a'], ports: [{ port: 7, backends: [{ address: '127.0.0.1', port: echo.port }] }] },
    ],
  });
  metrics = new GatewayMetrics();
  gw = await startGateway(
    { clusterName: 'cluster-b', host: '127.0.0.1', tunnelPort: 0, adminPort: 0, handshakeTimeoutMs: 400, maxInboundConnections: LIMIT },
    { credentials: new MemoryCredentials(pki.leaf('cluster-b')), routes, metrics },
  );
});

after(async () => {
  await gw?.close();
  await echo?.close();
  for (const c of [good, foreign, expired]) c.remove();
});

async function refusedCount(reason: string): Promise<number> {
  const m = await metrics.registry.getMetricsAsJSON();
  const r = m.find((x) => x.name === 'gateway_refused_total');
  return (r?.values ?? []).filter((v) => v.labels.reason === reason).reduce((a, v) => a + v.value, 0);
}

function h2connect(creds = good): Promise<http2.ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const s = http2.connect(`https://127.0.0.1:${gw.tunnelPort}`, {
      ca: pki.bundle,
      cert: readText(creds.cert),
      key: readText(creds.key),
      checkServerIdentity: () => undefined,
    });
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

import { readFileSync } from 'node:fs';
function readText(f: string): string {
  return readFileSync(f, 'utf8');
}

function connectRequest(s: http2.ClientHttp2Session, authority: string, method = 'CONNECT'): Promise<{ status: number; reason: string; body: string }> {
  return new Promise((resolve, reject) => {
    const headers: http2.OutgoingHttpHeaders = method === 'CONNECT' ? { ':method': 'CONNECT', ':authority': authority } : { ':method': method, ':path': authority };
    const req = s.request(headers, { endStream: method !== 'CONNECT' });
    let body = '';
    let status = 0;
    let reason = '';
    req.on('response', (h) => {
      status = Number(h[':status']);
      reason = String(h['mesh-refusal-reason'] ?? '');
      if (status === 200 && method === 'CONNECT') {
        req.close();
        resolve({ status, reason, body });
      }
    });
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => resolve({ status, reason, body }));
    req.on('error', reject);
  });
}

async function stillServes(): Promise<void> {
  const s = await h2connect();
  try {
    const live = await connectRequest(s, '/live', 'GET');
    assert.equal(live.status, 200);
    assert.equal((await connectRequest(s, 'echo.demo.svc.cluster.local:7')).status, 200);
  } finally {
    s.close();
  }
}

/** Runs a client without blocking the event loop (the gateway under test lives in this process). */
function run(cmd: string, args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const c = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    c.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => c.kill('SIGKILL'), 10_000);
    c.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}

async function openssl(args: string[]): Promise<string> {
  const r = await run('openssl', ['s_client', '-connect', `127.0.0.1:${gw.tunnelPort}`, '-alpn', 'h2', '-CAfile', good.bundle, '-ign_eof', ...args]);
  return `${r.stdout}\n${r.stderr}`;
}

const hasOpenssl = spawnSync('openssl', ['version']).status === 0;
const hasCurl = spawnSync('curl', ['--version']).status === 0;

test('GET /live answers 200 over HTTP/2 with a client certificate (curl)', { skip: !hasCurl && 'curl not installed' }, async () => {
  const r = await run('curl', ['-sS', '--http2', '-k', '--cert', good.cert, '--key', good.key, `https://127.0.0.1:${gw.tunnelPort}/live`]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, 'live\n');
});

test('plaintext on the tunnel port is closed and counted', async () => {
  const before = await refusedCount('NOT_TLS');
  const s = net.connect({ port: gw.tunnelPort, host: '127.0.0.1' });
  s.write('GET /live HTTP/1.1\r\nHost: x\r\n\r\n');
  const got: Buffer[] = [];
  s.on('data', (c: Buffer) => got.push(c));
  await outcomeOf(s);
  assert.ok(!Buffer.concat(got).toString().includes('live'), 'no plaintext answer');
  assert.equal(await refusedCount('NOT_TLS'), before + 1);
  await stillServes();
});

// Regression (issue 17 item 3): a refused client certificate ended in a bare close, so openssl and curl
// reported an unexpected EOF. Each refusal must now arrive as the TLS alert that says why.
test('TLS without a client certificate gets a certificate_required alert (openssl s_client, curl)', { skip: (!hasOpenssl || !hasCurl) && 'openssl or curl not installed' }, async () => {
  const before = await refusedCount('NO_CLIENT_CERT');
  const out = await openssl([]);
  assert.match(out, /tlsv13 alert certificate required.*SSL alert number 116/, out);
  const c = await run('curl', ['-sS', '--http2', '-k', `https://127.0.0.1:${gw.tunnelPort}/live`]);
  assert.notEqual(c.status, 0);
  assert.match(c.stderr, /alert certificate required/, c.stderr);
  assert.equal(await refusedCount('NO_CLIENT_CERT'), before + 2);
  await stillServes();
});

test('a client certificate from another root gets an unknown_ca alert (openssl s_client, curl)', { skip: (!hasOpenssl || !hasCurl) && 'openssl or curl not installed' }, async () => {
  const before = await refusedCount('UNTRUSTED_CERT');
  const out = await openssl(['-cert', foreign.cert, '-key', foreign.key]);
  assert.match(out, /tlsv1 alert unknown ca.*SSL alert number 48/, out);
  const c = await run('curl', ['-sS', '--http2', '-k', '--cert', foreign.cert, '--key', foreign.key, `https://127.0.0.1:${gw.tunnelPort}/live`]);
  assert.notEqual(c.status, 0);
  assert.match(c.stderr, /alert unknown ca/, c.stderr);
  assert.equal(await refusedCount('UNTRUSTED_CERT'), before + 2);
  await stillServes();
});

test('a self-signed client certificate gets an unknown_ca alert, over every TLS 1.3 suite (openssl)', { skip: !hasOpenssl && 'openssl not installed' }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gw-self-'));
  try {
    const made = await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(dir, 'k.pem'), '-out', join(dir, 'c.pem'), '-days', '1', '-subj', '/CN=self-signed']);
    assert.equal(made.status, 0, made.stderr);
    for (const suite of ['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256']) {
      const out = await openssl(['-cert', join(dir, 'c.pem'), '-key', join(dir, 'k.pem'), '-ciphersuites', suite]);
      assert.match(out, new RegExp(`Ciphersuite: ${suite}|Cipher is ${suite}`), out);
      assert.match(out, /tlsv1 alert unknown ca/, `${suite}: ${out}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  await stillServes();
});

test('an expired client certificate gets a certificate_expired alert (openssl s_client)', { skip: !hasOpenssl && 'openssl not installed' }, async () => {
  const before = await refusedCount('CERT_EXPIRED');
  const out = await openssl(['-cert', expired.cert, '-key', expired.key]);
  assert.match(out, /sslv3 alert certificate expired.*SSL alert number 45/, out);
  assert.equal(await refusedCount('CERT_EXPIRED'), before + 1);
  await stillServes();
});

test('a Node client sees the alert as its error code', async () => {
  const err = await new Promise<NodeJS.ErrnoException>((resolve) => {
    const s = tls.connect({ port: gw.tunnelPort, host: '127.0.0.1', ca: pki.bundle, cert: readText(foreign.cert), key: readText(foreign.key), ALPNProtocols: ['h2'], checkServerIdentity: () => undefined });
    s.once('error', resolve);
    s.once('close', () => resolve(Object.assign(new Error('closed without an error'), { code: 'NONE' })));
    s.resume();
  });
  assert.equal(err.code, 'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA', err.message);
});

test('CONNECT refusals answer the right status and reason', async () => {
  const s = await h2connect();
  try {
    const cases: Array<[string, number, string]> = [
      ['secret.demo.svc.cluster.local:7', 404, 'UNKNOWN_SERVICE'],
      ['echo.demo.svc.cluster.local:8080', 404, 'UNDECLARED_PORT'],
      ['echo-9.echo.demo.svc.cluster.local:7', 404, 'UNKNOWN_HOST'],
      ['127.0.0.1:' + echo.port, 400, 'BAD_AUTHORITY'],
      ['[::1]:' + echo.port, 400, 'BAD_AUTHORITY'],
      ['kubernetes.default.svc.cluster.local:443', 404, 'UNKNOWN_SERVICE'],
      ['kubernetes.default.svc:443', 400, 'BAD_AUTHORITY'],
      ['localhost:' + gw.adminPort, 400, 'BAD_AUTHORITY'],
      ['mesh-gateway.mesh-system.svc.cluster.local:4191', 404, 'UNKNOWN_SERVICE'],
      ['private.demo.svc.cluster.local:7', 403, 'FORBIDDEN'],
      ['from-c.demo.svc.cluster.local:7', 403, 'FORBIDDEN'],
    ];
    for (const [authority, status, reason] of cases) {
      const r = await connectRequest(s, authority);
      assert.equal(r.status, status, `${authority}: ${r.body}`);
      assert.equal(r.reason, reason, authority);
      assert.match(r.body, new RegExp(reason));
    }
    // The caller's leaf is signed by cluster-a's issuer: a cluster:cluster-a list lets it in.
    assert.equal((await connectRequest(s, 'from-a.demo.svc.cluster.local:7')).status, 200);
    const get = await connectRequest(s, '/metrics', 'GET');
    assert.equal(get.status, 405);
    assert.ok((await refusedCount('UNKNOWN_SERVICE')) >= 3);
  } finally {
    s.close();
  }
  await stillServes();
});

test('regression: refusal metrics take labels only from bounded sets, never from the authority a peer sent', async () => {
  // The authority used to be split on dots into namespace/service labels: an IP became namespace="0",
  // service="127", a headless name shifted them, and every distinct authority grew /metrics.
  const s = await h2connect();
  try {
    const sent = ['10.1.2.3:80', '127.0.0.1:7', 'web-0.echo.demo.svc.cluster.local:7', 'a.b.c.d.e:1', 'nope.prod.svc.cluster.local:80', 'x.y:1'];
    for (let i = 0; i < 20; i++) sent.push(`svc${i}.ns${i}.svc.cluster.local:80`);
    for (const authority of sent) assert.notEqual((await connectRequest(s, authority)).status, 200, authority);
    // A refusal for an exported Service keeps its (bounded) labels.
    assert.equal((await connectRequest(s, 'private.demo.svc.cluster.local:7')).status, 403);
  } finally {
    s.close();
  }
  const m = await metrics.registry.getMetricsAsJSON();
  const values = (m.find((x) => x.name === 'gateway_refused_total')?.values ?? []).map((v) => v.labels);
  const exported = new Set(['', 'echo', 'private', 'from-c', 'from-a']);
  for (const l of values) {
    assert.ok(l.namespace === '' || l.namespace === 'demo', `namespace label ${String(l.namespace)}`);
    assert.ok(exported.has(String(l.service)), `service label ${String(l.service)}`);
    assert.equal(l.remote_cluster, '', 'no Link here: no remote cluster label');
  }
  assert.ok(values.some((l) => l.reason === 'FORBIDDEN' && l.service === 'private'));
  await stillServes();
});

test('a peer that stalls its handshake is cut at the deadline', async () => {
  const before = await refusedCount('HANDSHAKE_TIMEOUT');
  const started = Date.now();
  const s = net.connect({ port: gw.tunnelPort, host: '127.0.0.1' });
  await outcomeOf(s);
  assert.ok(Date.now() - started < 5_000);
  assert.equal(await refusedCount('HANDSHAKE_TIMEOUT'), before + 1);
  await stillServes();
});

function tlsTo(alpn: string): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ port: gw.tunnelPort, host: '127.0.0.1', ca: pki.bundle, cert: readText(good.cert), key: readText(good.key), ALPNProtocols: [alpn], checkServerIdentity: () => undefined });
    s.once('secureConnect', () => resolve(s));
    s.once('error', reject);
  });
}

test('garbage after the handshake closes that connection only', async () => {
  const s = await tlsTo('h2');
  s.write(Buffer.from('this is not an HTTP/2 preface at all\r\n\r\n'.repeat(4)));
  await outcomeOf(s);
  const p = await tlsTo(ALPN_PIPE);
  p.write(Buffer.from([0xff, 0xff, 1, 2, 3]));
  await outcomeOf(p);
  assert.ok((await refusedCount('BAD_AUTHORITY')) >= 1);
  await stillServes();
});

test('connections over the limit are dropped and counted', async () => {
  const before = await refusedCount('OVERLOADED');
  const held: tls.TLSSocket[] = [];
  let dropped = 0;
  try {
    // Connections of earlier tests may still be closing, so open until the gateway drops some.
    for (let i = 0; i < LIMIT + 2; i++) {
      try {
        held.push(await tlsTo('h2'));
      } catch {
        dropped++;
      }
    }
    assert.ok(dropped >= 2, `dropped ${dropped}`);
    assert.ok(held.length <= LIMIT);
    assert.equal(await refusedCount('OVERLOADED'), before + dropped);
  } finally {
    for (const s of held) s.destroy();
  }
  // Slots free up once the gateway has seen those sockets close.
  for (let i = 0; ; i++) {
    try {
      await stillServes();
      break;
    } catch (err) {
      if (i === 30) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
});

test('regression: a refused CONNECT frees its stream without the client ending it (RFC 9113 §8.1), so refusals never use up a connection', async () => {
  // A CONNECT client never half-closes a refused stream: unless the gateway resets it after the refusal,
  // each one keeps a slot of the connection's concurrent streams until the session ends.
  const small = await startGateway(
    { clusterName: 'cluster-b', host: '127.0.0.1', tunnelPort: 0, adminPort: 0, maxStreamsPerConnection: 4 },
    { credentials: new MemoryCredentials(pki.leaf('cluster-b')), routes: new MemoryRouteSource(), metrics: new GatewayMetrics() },
  );
  const s = await new Promise<http2.ClientHttp2Session>((resolve, reject) => {
    const c = http2.connect(`https://127.0.0.1:${small.tunnelPort}`, { ca: pki.bundle, cert: readText(good.cert), key: readText(good.key), checkServerIdentity: () => undefined });
    c.once('remoteSettings', () => resolve(c));
    c.once('error', reject);
  });
  try {
    for (let i = 0; i < 12; i++) {
      // Bounded: a stream the gateway never frees leaves the next request waiting for a slot, forever.
      let timer: NodeJS.Timeout | undefined;
      const stuck = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`refusal ${i + 1} of 12 got no answer in 10 s: earlier refused streams still hold the connection's 4 slots`)), 10_000);
      });
      const r = await Promise.race([connectRequest(s, `nothing${i}.demo.svc.cluster.local:7`), stuck]).finally(() => clearTimeout(timer));
      assert.equal(r.status, 404, `refusal ${i + 1} of 12 on one connection with 4 streams: ${r.body}`);
    }
  } finally {
    s.close();
    await small.close();
  }
});
