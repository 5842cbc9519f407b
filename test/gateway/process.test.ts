// Two `mesh gateway` processes back to back (client → A → B → server), over both transports: HTTP/1.1
// with and without keep-alive, HTTP/2 cleartext, gRPC unary and streaming, raw TCP with half-close, a
// large transfer checked by hash, 1,000 concurrent connections, certificate renewal during traffic,
// the remote gateway killed mid-stream and restarted, and a graceful drain on SIGTERM.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import http from 'node:http';
import http2 from 'node:http2';
import tls from 'node:tls';
import { createHash, randomBytes, X509Certificate } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { stopAll } from '../helpers/process.js';
import { TRANSPORTS } from '../../src/gateway/index.js';
import { startEchoServer, roundTrip, sha256, outcomeOf } from './fixtures.js';
import { startProcPair, renew, type ProcPair } from './proc-pair.js';

const identity = (b: Buffer) => b;
const grpcDef: grpc.ServiceDefinition = {
  echo: { path: '/test.Echo/Echo', requestStream: false, responseStream: false, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity },
  chat: { path: '/test.Echo/Chat', requestStream: true, responseStream: true, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity },
};
const GrpcClient = grpc.makeGenericClientConstructor(grpcDef, 'Echo');

let pair: ProcPair;
let echo: Awaited<ReturnType<typeof startEchoServer>>;
let httpServer: http.Server;
let h2Server: http2.Http2Server;
let grpcServer: grpc.Server;
const ports = { http: 0, h2: 0, grpc: 0 };

function listen(s: net.Server): Promise<number> {
  return new Promise((r) => s.listen(0, '127.0.0.1', () => r((s.address() as net.AddressInfo).port)));
}

before(async () => {
  echo = await startEchoServer();
  httpServer = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => res.end(JSON.stringify({ path: req.url, body, remotePort: req.socket.remotePort })));
  });
  ports.http = await listen(httpServer);
  h2Server = http2.createServer();
  h2Server.on('stream', (st, h) => {
    st.respond({ ':status': 200 });
    st.end(`h2:${h[':path']}`);
  });
  ports.h2 = await listen(h2Server);
  grpcServer = new grpc.Server();
  grpcServer.addService(grpcDef, {
    echo: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => cb(null, call.request),
    chat: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
      call.on('data', (d: Buffer) => call.write(d));
      call.on('end', () => call.end());
    },
  });
  ports.grpc = await new Promise<number>((r, j) => grpcServer.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? j(e) : r(p))));
  pair = await startProcPair([
    { name: 'echo', port: echo.port, servicePort: 7 },
    { name: 'web', port: ports.http },
    { name: 'h2c', port: ports.h2 },
    { name: 'grpc', port: ports.grpc, servicePort: 9090 },
  ], { a: ['--drain-grace-seconds', '4'] });
});

after(async () => {
  await stopAll();
  grpcServer?.forceShutdown();
  httpServer?.closeAllConnections();
  httpServer?.close();
  h2Server?.close();
  await echo?.close();
  pair?.cleanup();
});

function get(port: number, path: string, agent: http.Agent | false): Promise<{ path: string; remotePort: number }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, agent, headers: agent === false ? { connection: 'close' } : {} }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve(JSON.parse(body) as { path: string; remotePort: number }));
    });
    req.on('error', reject);
    req.end();
  });
}

for (const t of TRANSPORTS) {
  describe(`through two gateway processes over ${t}`, () => {
    test('HTTP/1.1 keep-alive reuses one tunnel; without keep-alive each request gets its own', async () => {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      const seen = new Set<number>();
      for (let i = 0; i < 20; i++) {
        const r = await get(pair.port('web', t), `/k${i}`, agent);
        assert.equal(r.path, `/k${i}`);
        seen.add(r.remotePort);
      }
      agent.destroy();
      assert.equal(seen.size, 1, 'one upstream connection for 20 keep-alive requests');
      const closeSeen = new Set<number>();
      for (let i = 0; i < 5; i++) closeSeen.add((await get(pair.port('web', t), `/c${i}`, false)).remotePort);
      assert.equal(closeSeen.size, 5);
    });

    test('HTTP/2 cleartext (prior knowledge), concurrent streams', async () => {
      const s = http2.connect(`http://127.0.0.1:${pair.port('h2c', t)}`);
      try {
        const bodies = await Promise.all(
          Array.from({ length: 10 }, (_, i) =>
            new Promise<string>((resolve, reject) => {
              const req = s.request({ ':path': `/s${i}` });
              let b = '';
              req.on('data', (c: Buffer) => (b += c.toString()));
              req.on('end', () => resolve(b));
              req.on('error', reject);
              req.end();
            }),
          ),
        );
        bodies.forEach((b, i) => assert.equal(b, `h2:/s${i}`));
      } finally {
        s.close();
      }
    });

    test('gRPC unary and bidirectional streaming (@grpc/grpc-js)', async () => {
      const client = new GrpcClient(`127.0.0.1:${pair.port('grpc', t)}`, grpc.credentials.createInsecure()) as grpc.Client & Record<string, (...a: unknown[]) => unknown>;
      try {
        const unary = await new Promise<Buffer>((resolve, reject) =>
          client.echo!(Buffer.from('hello grpc'), (err: grpc.ServiceError | null, res: Buffer) => (err ? reject(err) : resolve(res))),
        );
        assert.equal(unary.toString(), 'hello grpc');
        const call = client.chat!() as grpc.ClientDuplexStream<Buffer, Buffer>;
        const got: string[] = [];
        const done = new Promise<void>((resolve, reject) => {
          call.on('data', (d: Buffer) => got.push(d.toString()));
          call.on('end', () => resolve());
          call.on('error', reject);
        });
        for (let i = 0; i < 50; i++) call.write(Buffer.from(`m${i}`));
        call.end();
        await done;
        assert.deepEqual(got, Array.from({ length: 50 }, (_, i) => `m${i}`));
      } finally {
        client.close();
      }
    });

    test('raw TCP with half-close both ways', async () => {
      const data = randomBytes(100_000);
      assert.equal(sha256(await roundTrip(pair.port('echo', t), data)), sha256(data));
    });

    test('a large transfer arrives byte-exact (128 MiB each way, sha256)', async () => {
      const total = 128 * 1024 * 1024;
      const block = randomBytes(1024 * 1024);
      const sent = createHash('sha256');
      const got = createHash('sha256');
      let received = 0;
      const s = net.connect({ port: pair.port('echo', t), host: '127.0.0.1', allowHalfOpen: true });
      const finished = new Promise<void>((resolve, reject) => {
        s.on('data', (c: Buffer) => {
          got.update(c);
          received += c.length;
        });
        s.on('end', () => resolve());
        s.on('error', reject);
      });
      let i = 0;
      await new Promise<void>((resolve) => {
        const pump = () => {
          while (i < total / block.length) {
            // Each block differs (index stamped in), so a reordered or repeated block changes the hash.
            const b = Buffer.from(block);
            b.writeUInt32BE(i++, 0);
            sent.update(b);
            if (!s.write(b)) return void s.once('drain', pump);
          }
          s.end();
          resolve();
        };
        pump();
      });
      await finished;
      s.destroy();
      assert.equal(received, total);
      assert.equal(got.digest('hex'), sent.digest('hex'));
    });
  });
}

test('1,000 concurrent connections each get their own bytes', async () => {
  const n = 1000;
  const results = await Promise.all(
    Array.from({ length: n }, async (_, i) => {
      const msg = Buffer.from(`connection ${i} `.repeat(8));
      return (await roundTrip(pair.port('echo', i % 2 ? 'tls-pipe' : 'connect'), msg)).equals(msg);
    }),
  );
  assert.equal(results.filter(Boolean).length, n);
});

test('certificate renewal during traffic drops nothing', async () => {
  let failures = 0;
  let ok = 0;
  let stop = false;
  const loop = async (t: 'connect' | 'tls-pipe') => {
    while (!stop) {
      try {
        const msg = Buffer.from(`renewal ${ok}`);
        if ((await roundTrip(pair.port('echo', t), msg)).equals(msg)) ok++;
        else failures++;
      } catch {
        failures++;
      }
    }
  };
  const loops = [loop('connect'), loop('tls-pipe'), loop('connect'), loop('tls-pipe')];
  await new Promise((r) => setTimeout(r, 300));
  const renewedB = renew(pair.pki, 'cluster-b', pair.bCreds);
  renew(pair.pki, 'cluster-a', pair.aCreds);
  await pair.b.waitFor(/credentials loaded[\s\S]*credentials loaded/, 5000);
  await pair.a.waitFor(/credentials loaded[\s\S]*credentials loaded/, 5000);
  await new Promise((r) => setTimeout(r, 500));
  stop = true;
  await Promise.all(loops);
  assert.equal(failures, 0, `${failures} failed, ${ok} succeeded`);
  assert.ok(ok > 10);
  // New handshakes get the renewed certificate.
  const served = await new Promise<string>((resolve, reject) => {
    const s = tls.connect({ port: pair.bTunnelPort, host: '127.0.0.1', ca: pair.pki.bundle, cert: renewedB.certChain, key: renewedB.key, ALPNProtocols: ['h2'], checkServerIdentity: () => undefined }, () => {
      resolve(s.getPeerCertificate().fingerprint256);
      s.destroy();
    });
    s.on('error', reject);
  });
  assert.equal(served, new X509Certificate(renewedB.certChain).fingerprint256);
});

test('remote gateway killed mid-stream: clients see a reset, new connections fail fast, the pool recovers after restart', async () => {
  const open = await Promise.all(
    TRANSPORTS.map(async (t) => {
      const s = net.connect({ port: pair.port('echo', t), host: '127.0.0.1' });
      await new Promise<void>((resolve) => {
        s.once('data', () => resolve());
        s.write('before the kill');
      });
      return { t, outcome: outcomeOf(s) };
    }),
  );
  pair.b.child.kill('SIGKILL');
  await pair.b.exited;
  for (const { t, outcome } of open) {
    const o = await outcome;
    // tls-pipe: a killed peer's kernel sends FIN without TLS close_notify, which Node reports as a clean
    // end, so the client sees the connection close rather than a reset (a known weakness of that transport).
    if (t === 'connect') assert.equal(o, 'ECONNRESET', `${t}: open tunnel reset`);
    else assert.match(o, /ECONNRESET|end|closed/, `${t}: open tunnel closed`);
  }
  for (const t of TRANSPORTS) {
    const started = Date.now();
    const c = net.connect({ port: pair.port('echo', t), host: '127.0.0.1' });
    c.write('while down');
    const o = await outcomeOf(c);
    assert.notEqual(o, 'end', `${t}: no clean answer while B is down`);
    assert.ok(Date.now() - started < 3000, `${t}: failed in ${Date.now() - started} ms`);
  }
  pair.b = await pair.startB();
  // Every worker of A has its own pool, each in its own backoff (up to 5 s) while B was down, and fails new
  // tunnels fast until it reconnects: recovered means ten round trips in a row succeed, not one.
  for (const t of TRANSPORTS) {
    let inRow = 0;
    for (let i = 0; i < 100 && inRow < 10; i++) {
      try {
        const ok = (await roundTrip(pair.port('echo', t), Buffer.from('after restart'))).toString() === 'after restart';
        inRow = ok ? inRow + 1 : 0;
      } catch {
        inRow = 0;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    assert.equal(inRow, 10, `${t}: pool recovered in every worker (10 round trips in a row)`);
  }
});

test('SIGTERM drains: /ready 503 and new connections still served during the grace, then listeners close, the open tunnel finishes, exit 0', async () => {
  const s = net.connect({ port: pair.port('echo', 'connect'), host: '127.0.0.1', allowHalfOpen: true });
  await new Promise<void>((resolve) => {
    s.once('data', () => resolve());
    s.write('open ');
  });
  pair.a.child.kill('SIGTERM');
  await pair.a.waitFor(/"draining"/);
  // During the grace (endpoint propagation): not ready, yet every outbound port still tunnels.
  const ready = await fetch(`http://127.0.0.1:${pair.aAdminPort}/ready`);
  assert.equal(ready.status, 503);
  assert.match(await ready.text(), /draining/);
  for (const t of TRANSPORTS) {
    assert.equal((await roundTrip(pair.port('echo', t), Buffer.from(`during grace ${t}`))).toString(), `during grace ${t}`);
  }
  await pair.a.waitFor(/drain grace over/);
  // New connections are refused once the grace is over.
  const refused = await outcomeOf(net.connect({ port: pair.port('echo', 'tls-pipe'), host: '127.0.0.1' }));
  assert.match(refused, /ECONNREFUSED|ECONNRESET/);
  // The open tunnel still carries bytes and closes cleanly.
  const rest: Buffer[] = [];
  s.on('data', (c: Buffer) => rest.push(c));
  const ended = outcomeOf(s);
  s.end('and closed');
  assert.equal(await ended, 'end');
  assert.equal(Buffer.concat(rest).toString(), 'and closed');
  assert.equal(await pair.a.exited, 0);
});
