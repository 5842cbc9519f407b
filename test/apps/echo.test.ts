// The demo apps, each started as its own process (`mesh app …`) bound to a POD_IP in 127.x, hit by
// real clients: node http, http2, curl, grpc-js and net.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { connect as h2connect } from 'node:http2';
import { connect } from 'node:net';
import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { startMesh, stopAll, type Proc } from '../helpers/process.js';
import { echoClient, healthClient, type EchoReply } from '../../src/apps/index.js';

after(stopAll);

const execFileP = promisify(execFile);
const hasCurl = spawnSync('curl', ['--version']).error === undefined;
const podIP = `127.${100 + Math.floor(Math.random() * 100)}.${Math.floor(Math.random() * 250)}.${2 + Math.floor(Math.random() * 250)}`;
const env = { CLUSTER_NAME: 'cluster-b', POD_NAME: 'web-7d9f-abcde', POD_NAMESPACE: 'demo', POD_IP: podIP };

/** Starts `mesh app <name> --port 0` and reads the bound port from its JSON "listening" log line. */
async function startApp(name: string): Promise<{ proc: Proc; port: number }> {
  const proc = startMesh(['app', name, '--port', '0'], env);
  const line = await proc.waitFor(new RegExp(`^.*"${name} listening".*$`, 'm'), 15_000);
  const port = (JSON.parse(line[0]) as { port: number }).port;
  assert.ok(port > 0);
  return { proc, port };
}

function get(port: number, path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: podIP, port, path, headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('http-echo over HTTP/1.1: identity, path, method, header subset; /healthz; /delay; /bytes; bad parameters → 400', async () => {
  const { port } = await startApp('http-echo');
  const r = await get(port, '/hello?x=1', { 'x-request-id': 'abc', 'user-agent': 'test', authorization: 'secret' });
  assert.equal(r.status, 200);
  const body = JSON.parse(r.body) as Record<string, unknown>;
  assert.deepEqual(
    { cluster: body.cluster, namespace: body.namespace, pod: body.pod, podIP: body.podIP, path: body.path, method: body.method, protocol: body.protocol },
    { cluster: 'cluster-b', namespace: 'demo', pod: 'web-7d9f-abcde', podIP, path: '/hello', method: 'GET', protocol: 'HTTP/1.1' },
  );
  const hdrs = body.headers as Record<string, string>;
  assert.equal(hdrs['x-request-id'], 'abc');
  assert.equal(hdrs['user-agent'], 'test');
  assert.equal(hdrs.authorization, undefined, 'credentials are not echoed');

  assert.equal((await get(port, '/healthz')).status, 200);
  const delayed = JSON.parse((await get(port, '/delay?ms=50')).body) as { delayMs: number; pod: string };
  assert.equal(delayed.delayMs, 50);
  const bytes = await get(port, '/bytes?n=100000');
  assert.equal(bytes.body.length, 100000);
  assert.equal(bytes.headers['x-mesh-cluster'], 'cluster-b');
  for (const bad of ['/delay?ms=-1', '/delay?ms=999999', '/delay?ms=abc', '/bytes?n=99999999999', '/bytes']) {
    const res = await get(port, bad);
    assert.equal(res.status, 400, bad);
    assert.match((JSON.parse(res.body) as { error: string }).error, /must be an integer/);
  }
});

test('http-echo over h2c (prior knowledge) on the same port, and with curl on both protocols', async () => {
  const { port } = await startApp('http-echo');
  const session = h2connect(`http://${podIP}:${port}`);
  try {
    const body = await new Promise<string>((resolve, reject) => {
      const req = session.request({ ':path': '/two', 'x-mesh-test': 'yes' });
      let data = '';
      req.setEncoding('utf8');
      req.on('data', (d: string) => (data += d));
      req.on('end', () => resolve(data));
      req.on('error', reject);
      req.end();
    });
    const parsed = JSON.parse(body) as { protocol: string; path: string; cluster: string; headers: Record<string, string> };
    assert.equal(parsed.protocol, 'HTTP/2');
    assert.equal(parsed.path, '/two');
    assert.equal(parsed.cluster, 'cluster-b');
    assert.equal(parsed.headers['x-mesh-test'], 'yes');
  } finally {
    session.close();
  }
  if (!hasCurl) {
    console.log('curl is not installed; skipping the curl half of this test');
    return;
  }
  const h1 = JSON.parse((await execFileP('curl', ['-sS', '--max-time', '5', `http://${podIP}:${port}/c1`])).stdout) as { protocol: string };
  assert.equal(h1.protocol, 'HTTP/1.1');
  const h2 = JSON.parse((await execFileP('curl', ['-sS', '--max-time', '5', '--http2-prior-knowledge', `http://${podIP}:${port}/c2`])).stdout) as { protocol: string };
  assert.equal(h2.protocol, 'HTTP/2');
});

test('http-echo stops on SIGTERM with exit code 0; a taken port is a clear error with exit code 1', async () => {
  const { proc, port } = await startApp('http-echo');
  const clash = startMesh(['app', 'http-echo', '--port', String(port)], env);
  assert.equal(await clash.exited, 1);
  assert.match(clash.stderr(), /could not listen on .*EADDRINUSE/);
  assert.match(clash.stderr(), /hint: port \d+ is taken/);
  await proc.stop();
  assert.equal(await proc.exited, 0);
  const bad = startMesh(['app', 'http-echo', '--port', 'eighty'], env);
  assert.equal(await bad.exited, 2);
  assert.match(bad.stderr(), /invalid flag --port/);
});

test('tcp-echo: WHO answers the identity, bytes echo, and after a half-close the echo completes then FIN', async () => {
  const { port } = await startApp('tcp-echo');
  const payload = Buffer.alloc(256 * 1024, 'mesh');
  const out = await new Promise<Buffer>((resolve, reject) => {
    const s = connect({ host: podIP, port, allowHalfOpen: true });
    const chunks: Buffer[] = [];
    s.on('data', (d: Buffer) => chunks.push(d));
    s.on('end', () => resolve(Buffer.concat(chunks)));
    s.on('error', reject);
    s.on('connect', () => {
      s.write('WHO\n');
      s.end(payload);
    });
  });
  const nl = out.indexOf('\n');
  const who = JSON.parse(out.subarray(0, nl).toString()) as Record<string, string>;
  assert.deepEqual(who, { cluster: 'cluster-b', namespace: 'demo', pod: 'web-7d9f-abcde', podIP });
  assert.ok(out.subarray(nl + 1).equals(payload), 'the rest is echoed byte for byte');

  // Without WHO everything is echoed, including a first line that only starts like WHO.
  const plain = await new Promise<string>((resolve, reject) => {
    const s = connect({ host: podIP, port, allowHalfOpen: true });
    let got = '';
    s.setEncoding('utf8');
    s.on('data', (d: string) => (got += d));
    s.on('end', () => resolve(got));
    s.on('error', reject);
    s.on('connect', () => s.end('WHOA there\n'));
  });
  assert.equal(plain, 'WHOA there\n');
});

test('grpc-echo: unary, server streaming, bidi, health; bad arguments are INVALID_ARGUMENT', async () => {
  const { port } = await startApp('grpc-echo');
  const client = echoClient(`${podIP}:${port}`);
  const health = healthClient(`${podIP}:${port}`);
  try {
    const unary = await new Promise<EchoReply>((resolve, reject) =>
      client.Echo({ message: 'hi' }, new grpc.Metadata(), { deadline: Date.now() + 5000 }, (err, res) => (err || !res ? reject(err ?? new Error('empty')) : resolve(res))),
    );
    assert.deepEqual({ ...unary }, { message: 'hi', cluster: 'cluster-b', namespace: 'demo', pod: 'web-7d9f-abcde', podIp: podIP, seq: 0 });

    const streamed: EchoReply[] = [];
    await new Promise<void>((resolve, reject) => {
      const call = client.ServerStream({ message: 's', count: 3, intervalMs: 5 });
      call.on('data', (r: EchoReply) => streamed.push(r));
      call.on('end', () => resolve());
      call.on('error', reject);
    });
    assert.deepEqual(streamed.map((r) => [r.seq, r.pod]), [[0, 'web-7d9f-abcde'], [1, 'web-7d9f-abcde'], [2, 'web-7d9f-abcde']]);

    const chat: string[] = [];
    await new Promise<void>((resolve, reject) => {
      const call = client.Chat();
      call.on('data', (r: EchoReply) => chat.push(`${r.seq}:${r.message}:${r.cluster}`));
      call.on('end', () => resolve());
      call.on('error', reject);
      call.write({ message: 'a' });
      call.write({ message: 'b' });
      call.end();
    });
    assert.deepEqual(chat, ['0:a:cluster-b', '1:b:cluster-b']);

    const status = await new Promise<string>((resolve, reject) =>
      health.Check({ service: 'mesh.demo.v1.Echo' }, new grpc.Metadata(), {}, (err, res) => (err || !res ? reject(err ?? new Error('empty')) : resolve(res.status))),
    );
    assert.equal(status, 'SERVING');
    const unknown = await new Promise<grpc.ServiceError | null>((resolve) => health.Check({ service: 'nope' }, new grpc.Metadata(), {}, (err) => resolve(err)));
    assert.equal(unknown?.code, grpc.status.NOT_FOUND);

    const bad = await new Promise<grpc.ServiceError | null>((resolve) => {
      const call = client.ServerStream({ message: 's', count: 5000, intervalMs: 0 });
      call.on('data', () => undefined);
      call.on('error', (e: grpc.ServiceError) => resolve(e));
      call.on('end', () => resolve(null));
    });
    assert.equal(bad?.code, grpc.status.INVALID_ARGUMENT);
  } finally {
    client.close();
    health.close();
  }
});

test('http-echo reads a PROXY v2 header and shows the caller (HTTP/1.1 and HTTP/2 after it); a broken header closes the connection; none: no caller', async () => {
  const { encodeProxyV2, callerTlvs } = await import('../../src/api/index.js');
  const { proc, port } = await startApp('http-echo');
  const caller = { id: 'spiffe://mesh.local/ns/demo/sa/frontend', cluster: 'cluster-a', unknown: false };
  const header = encodeProxyV2({ address: '10.1.0.9', port: 41000 }, { address: podIP, port }, callerTlvs(caller));
  const raw = (bytes: Buffer) =>
    new Promise<string>((resolve, reject) => {
      const s = connect(port, podIP, () => s.write(bytes));
      let out = '';
      s.setEncoding('utf8');
      s.on('data', (d: string) => (out += d));
      s.on('close', () => resolve(out));
      s.on('error', (e: NodeJS.ErrnoException) => (e.code === 'ECONNRESET' ? resolve(out) : reject(e)));
    });
  // Sent in two writes' worth of bytes at once: the header, then the request.
  const h1 = await raw(Buffer.concat([header, Buffer.from('GET /x HTTP/1.1\r\nhost: web\r\nconnection: close\r\n\r\n')]));
  const body = JSON.parse(h1.slice(h1.indexOf('\r\n\r\n') + 4)) as Record<string, unknown>;
  assert.equal(body.callerIdentity, caller.id);
  assert.equal(body.callerCluster, caller.cluster);
  assert.equal(body.callerAddress, '10.1.0.9');
  assert.equal(body.path, '/x');
  // HTTP/2 prior knowledge behind the header.
  const session = h2connect(`http://${podIP}:${port}`, {
    createConnection: () => {
      const s = connect(port, podIP);
      s.write(header);
      return s;
    },
  });
  const h2body = await new Promise<string>((resolve, reject) => {
    const req = session.request({ ':path': '/' });
    let out = '';
    req.setEncoding('utf8');
    req.on('data', (d: string) => (out += d));
    req.on('end', () => resolve(out));
    req.on('error', reject);
  });
  session.close();
  assert.equal((JSON.parse(h2body) as Record<string, unknown>).callerIdentity, caller.id);
  // A header whose TLV runs past its end: closed without an answer.
  const broken = Buffer.from(header);
  broken.writeUInt16BE(0x0fff, 29);
  assert.equal(await raw(Buffer.concat([broken, Buffer.from('GET / HTTP/1.1\r\nhost: web\r\n\r\n')])), '');
  const plain = JSON.parse((await get(port, '/')).body) as Record<string, unknown>;
  assert.equal(plain.callerIdentity, undefined);
  await proc.stop();
});
