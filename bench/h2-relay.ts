// The two hops of `npm run bench -- h2` for the HTTP/2 subjects: our src/h2 or Node's http2, carrying
// each client connection as a CONNECT stream over ONE pooled mTLS connection (what the gateway does),
// relayed with stream.pipe as the Node floor (bench/node-relay.ts) relays its sockets — so the only
// difference between the subjects is the tunnel layer.
//   node dist/bench/h2-relay.js b ours|node <cert> <key> <bundle> <echo-upstream> <sink-upstream>
//     mTLS server (client certificate required), CONNECT :authority echo|sink → TCP upstream
//   node dist/bench/h2-relay.js a ours|node <cert> <key> <bundle> <b-port>
//     TCP listeners (echo, sink) → a CONNECT stream each over one HTTP/2 connection to B
// Prints {"port":n} (b) or {"echo":n,"sink":n} (a) once ready; 127.0.0.1 only.
import net from 'node:net';
import tls from 'node:tls';
import http2 from 'node:http2';
import type { Duplex } from 'node:stream';
import { readFileSync } from 'node:fs';
import { accept, connect, type H2Session } from '../src/h2/index.js';

const [role, impl, certFile, keyFile, bundleFile, ...ports] = process.argv.slice(2);
if ((role !== 'a' && role !== 'b') || (impl !== 'ours' && impl !== 'node') || !certFile || !keyFile || !bundleFile) {
  process.stderr.write('usage: h2-relay.js a|b ours|node <cert> <key> <bundle> <ports…>\n');
  process.exit(2);
}
const cert = readFileSync(certFile);
const key = readFileSync(keyFile);
const ca = readFileSync(bundleFile);
const HOST = '127.0.0.1';
const ciphers = 'TLS_AES_128_GCM_SHA256';
/** The gateway's windows (src/gateway/config.ts) and frame size. */
const STREAM_WINDOW = 4 * 1024 * 1024;
const CONN_WINDOW = 64 * 1024 * 1024;
const MAX_FRAME = 64 * 1024;

/** As the floor's join(): both directions with backpressure and half-close; an error tears down both. */
function join(x: Duplex, y: Duplex): void {
  x.pipe(y);
  y.pipe(x);
  const kill = () => {
    x.destroy();
    y.destroy();
  };
  x.on('error', kill);
  y.on('error', kill);
}

function upstreamFor(authority: string | undefined): number | undefined {
  if (authority === 'echo:7') return Number(ports[0]);
  if (authority === 'sink:9') return Number(ports[1]);
  return undefined;
}

function serveB(): void {
  const nodeH2 = impl === 'node' ? http2.createServer({ settings: { initialWindowSize: STREAM_WINDOW, maxFrameSize: MAX_FRAME } }) : undefined;
  nodeH2?.on('session', (s) => s.setLocalWindowSize(CONN_WINDOW));
  nodeH2?.on('stream', (st, h) => {
    const port = upstreamFor(h[':authority']);
    if (port === undefined) return void st.respond({ ':status': 404 }, { endStream: true });
    st.respond({ ':status': 200 });
    join(st, net.connect({ host: HOST, port, noDelay: true, allowHalfOpen: true }));
  });
  const server = tls.createServer({ cert, key, ca, requestCert: true, rejectUnauthorized: true, noDelay: true, minVersion: 'TLSv1.3', ciphers, ALPNProtocols: ['h2'] }, (sock) => {
    sock.on('error', () => {});
    if (nodeH2) return void nodeH2.emit('connection', sock);
    const session = accept(sock, { streamWindow: STREAM_WINDOW, connectionWindow: CONN_WINDOW, maxFrameSize: MAX_FRAME });
    session.on('stream', (st, h) => {
      const port = upstreamFor(h[':authority']);
      if (port === undefined) return void st.respond({ ':status': 404 }, { endStream: true });
      st.respond({ ':status': 200 });
      join(st, net.connect({ host: HOST, port, noDelay: true, allowHalfOpen: true }));
    });
  });
  server.listen(0, HOST, () => process.stdout.write(JSON.stringify({ port: (server.address() as net.AddressInfo).port }) + '\n'));
}

async function serveA(): Promise<void> {
  const sock = await new Promise<tls.TLSSocket>((resolve, reject) => {
    const raw = net.connect({ host: HOST, port: Number(ports[0]), noDelay: true });
    const s = tls.connect({ socket: raw, cert, key, ca, minVersion: 'TLSv1.3', ciphers, ALPNProtocols: ['h2'], checkServerIdentity: () => undefined });
    s.once('secureConnect', () => resolve(s));
    s.once('error', reject);
  });
  let open: (authority: string) => Duplex;
  if (impl === 'ours') {
    const session: H2Session = connect(sock, { streamWindow: STREAM_WINDOW, connectionWindow: CONN_WINDOW, maxFrameSize: MAX_FRAME });
    await new Promise<void>((r) => session.once('connect', () => r()));
    open = (authority) => session.request({ ':method': 'CONNECT', ':authority': authority });
  } else {
    const session = http2.connect(`https://${HOST}`, { createConnection: () => sock, settings: { enablePush: false, initialWindowSize: STREAM_WINDOW, maxFrameSize: MAX_FRAME } });
    await new Promise((r) => session.once('connect', r));
    session.setLocalWindowSize(CONN_WINDOW);
    open = (authority) => session.request({ ':method': 'CONNECT', ':authority': authority }, { endStream: false });
  }
  const listen = (authority: string) =>
    new Promise<number>((resolve) => {
      const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (c) => join(c, open(authority)));
      server.listen(0, HOST, () => resolve((server.address() as net.AddressInfo).port));
    });
  const [echo, sink] = await Promise.all([listen('echo:7'), listen('sink:9')]);
  process.stdout.write(JSON.stringify({ echo, sink }) + '\n');
}

process.on('SIGTERM', () => process.exit(0));
if (role === 'b') serveB();
else await serveA();
