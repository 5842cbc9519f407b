// The Node floor of the gateway benchmark: one hop of the same two-hop mTLS topology with nothing but Node's
// own net/tls and stream.pipe between the sockets — no routing, policy, pool, tunnel protocol, metrics or
// timers. It is what any gateway written on Node pays per message and per byte, so the bench can tell our
// own overhead (gateway vs this) from the platform's (this vs nginx).
//   node dist/bench/node-relay.js b <cert> <key> <bundle> <echo-upstream-port> <sink-upstream-port>
//     mTLS server (client certificate required and verified against the bundle) → plain TCP upstream
//   node dist/bench/node-relay.js a <cert> <key> <bundle> <echo-b-port> <sink-b-port>
//     plain TCP listener → one new mTLS connection to B per client connection (B's chain verified)
// Prints {"echo":port,"sink":port} once listening; 127.0.0.1 only.
import net from 'node:net';
import tls from 'node:tls';
import { readFileSync } from 'node:fs';

const [role, certFile, keyFile, bundleFile, echoTo, sinkTo] = process.argv.slice(2);
if ((role !== 'a' && role !== 'b') || !certFile || !keyFile || !bundleFile || !echoTo || !sinkTo) {
  process.stderr.write('usage: node-relay.js a|b <cert> <key> <bundle> <echo-port> <sink-port>\n');
  process.exit(2);
}
const cert = readFileSync(certFile);
const key = readFileSync(keyFile);
const ca = readFileSync(bundleFile);
const HOST = '127.0.0.1';
/** The suite every subject of the bench is pinned to. */
const ciphers = 'TLS_AES_128_GCM_SHA256';
const TLS13 = 'TLSv1.3' as const;

/** Both directions with backpressure and half-close (pipe ends the writer on the reader's end); an error
 * on either side tears down both. */
function join(x: net.Socket, y: net.Socket): void {
  x.pipe(y);
  y.pipe(x);
  const kill = () => {
    x.destroy();
    y.destroy();
  };
  x.on('error', kill);
  y.on('error', kill);
}

function serve(to: number): Promise<number> {
  const server =
    role === 'b'
      ? tls.createServer({ cert, key, ca, requestCert: true, rejectUnauthorized: true, allowHalfOpen: true, noDelay: true, minVersion: TLS13, ciphers }, (s) => {
          join(s, net.connect({ host: HOST, port: to, noDelay: true, allowHalfOpen: true }));
        })
      : net.createServer({ allowHalfOpen: true, noDelay: true }, (c) => {
          // SPIFFE leaves carry a URI SAN only: the chain is verified, the host name is not (as for nginx/HAProxy).
          const raw = net.connect({ host: HOST, port: to, noDelay: true, allowHalfOpen: true });
          const t = tls.connect({ socket: raw, cert, key, ca, checkServerIdentity: () => undefined, minVersion: TLS13, ciphers });
          c.pause();
          t.once('secureConnect', () => join(c, t));
          t.once('error', () => c.destroy());
        });
  server.on('tlsClientError', () => {});
  return new Promise((resolve) => server.listen(0, HOST, () => resolve((server.address() as net.AddressInfo).port)));
}

const [echo, sink] = await Promise.all([serve(Number(echoTo)), serve(Number(sinkTo))]);
process.stdout.write(JSON.stringify({ echo, sink }) + '\n');
process.on('SIGTERM', () => process.exit(0));
