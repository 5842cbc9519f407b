// The bulk client of the gateway bench, as its own process (as an outside load generator would be): one
// connection, 64 KiB writes as fast as the socket takes them, up to <max-bytes> or <seconds>, then FIN; the
// sink answers with the bytes it counted.
//   node dist/bench/bulk-client.js <port> <max-bytes> <seconds>
// Prints {"sent":n,"counted":n,"seconds":s} (seconds: first write to the sink's answer).
import net from 'node:net';

const [portArg, maxArg, secondsArg] = process.argv.slice(2);
const port = Number(portArg);
const max = Number(maxArg);
const seconds = Number(secondsArg);
if (!(port > 0) || !(max > 0) || !(seconds > 0)) {
  process.stderr.write('usage: bulk-client.js <port> <max-bytes> <seconds>\n');
  process.exit(2);
}

const chunk = Buffer.alloc(64 * 1024, 1);
const s = net.connect({ port, host: '127.0.0.1', noDelay: true });
let sent = 0;
let reply = '';
let start = 0;
s.on('error', (err) => {
  process.stderr.write(`bulk client: ${err.message}\n`);
  process.exit(1);
});
s.on('data', (c: Buffer) => (reply += c.toString()));
s.on('end', () => {
  const secs = (performance.now() - start) / 1000;
  process.stdout.write(JSON.stringify({ sent, counted: Number(reply), seconds: secs }) + '\n');
  s.destroy();
});
s.once('connect', () => {
  start = performance.now();
  const until = start + seconds * 1000;
  const pump = () => {
    while (sent < max && performance.now() < until) {
      sent += chunk.length;
      if (!s.write(chunk)) return void s.once('drain', pump);
    }
    s.end();
  };
  pump();
});
