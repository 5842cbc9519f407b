// A standalone upstream for gateway process tests and the benchmark (its own process, so it does not
// share an event loop with the load client): an echo port and a sink port (counts bytes until FIN, then
// answers the count as decimal text and closes). Prints {"echo":port,"sink":port} on stdout. A PROXY v2
// header in front of a connection (the gateway's, for an opted-in Service) is read and dropped first, so
// the same workloads run with and without it.
import net from 'node:net';
import { parseProxyV2 } from '../../src/api/index.js';

/** Calls `ready` with the connection's first bytes after any PROXY v2 header. */
function afterProxyHeader(s: net.Socket, ready: (first: Buffer) => void): void {
  let head: Buffer = Buffer.alloc(0);
  const onData = (c: Buffer) => {
    head = head.length ? Buffer.concat([head, c]) : c;
    let p: ReturnType<typeof parseProxyV2>;
    try {
      p = parseProxyV2(head);
    } catch {
      s.destroy();
      return;
    }
    if (p.kind === 'incomplete') return;
    s.off('data', onData);
    s.off('end', onEnd);
    s.pause();
    ready(p.kind === 'header' ? head.subarray(p.length) : head);
  };
  // A client that sends only its FIN (a port check) gets ours at once; without this an echo connection
  // stayed half-open for ever, and a gateway in front of it rightly kept its tunnel open (a drain then
  // waited its whole deadline).
  const onEnd = () => {
    s.off('data', onData);
    if (!s.writableEnded) s.end();
  };
  s.on('data', onData);
  s.once('end', onEnd);
}

const host = process.argv[2] ?? '127.0.0.1';

const echo = net.createServer({ allowHalfOpen: true, noDelay: true }, (s) => {
  s.on('error', () => {});
  afterProxyHeader(s, (first) => {
    if (first.length) s.write(first);
    s.pipe(s);
    s.resume();
  });
});
const sink = net.createServer({ allowHalfOpen: true, noDelay: true }, (s) => {
  let n = 0;
  s.on('error', () => {});
  s.on('end', () => s.end(String(n)));
  afterProxyHeader(s, (first) => {
    n += first.length;
    s.on('data', (c: Buffer) => {
      n += c.length;
    });
    s.resume();
  });
});
echo.listen(0, host, () => {
  sink.listen(0, host, () => {
    const port = (srv: net.Server) => (srv.address() as net.AddressInfo).port;
    process.stdout.write(JSON.stringify({ echo: port(echo), sink: port(sink) }) + '\n');
  });
});
process.on('SIGTERM', () => process.exit(0));
