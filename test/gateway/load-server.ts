// A standalone upstream for gateway process tests and the benchmark (its own process, so it does not
// share an event loop with the load client): an echo port and a sink port (counts bytes until FIN, then
// answers the count as decimal text and closes). Prints {"echo":port,"sink":port} on stdout.
import net from 'node:net';

const host = process.argv[2] ?? '127.0.0.1';

const echo = net.createServer({ allowHalfOpen: true, noDelay: true }, (s) => {
  s.on('error', () => {});
  s.pipe(s);
});
const sink = net.createServer({ allowHalfOpen: true, noDelay: true }, (s) => {
  let n = 0;
  s.on('error', () => {});
  s.on('data', (c: Buffer) => {
    n += c.length;
  });
  s.on('end', () => s.end(String(n)));
});
echo.listen(0, host, () => {
  sink.listen(0, host, () => {
    const port = (srv: net.Server) => (srv.address() as net.AddressInfo).port;
    process.stdout.write(JSON.stringify({ echo: port(echo), sink: port(sink) }) + '\n');
  });
});
process.on('SIGTERM', () => process.exit(0));
