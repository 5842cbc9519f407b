import { createServer } from 'node:net';

/**
 * A port that was free a moment ago on `host`, for a test that must bind a port it chose (or name one that
 * stays closed). Picked below Linux's ephemeral range (32768-60999): a port from listen(0) lies inside it,
 * and test files running at the same time open thousands of outgoing connections per second, so one of them
 * could take it as its source port before the bind (EADDRINUSE, a listener that never opens), or a dial to a
 * closed one could pick it as its own source port and connect to itself. Prefer listening on port 0 where
 * the code allows it. Several hosts: a port free on each.
 */
export async function freePort(host: string | readonly string[] = '127.0.0.1'): Promise<number> {
  const hosts = typeof host === 'string' ? [host] : host;
  for (let i = 0; i < 200; i++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    let free = true;
    // Free on every address (a gateway binding a dual-stack pod's addresses binds each).
    for (const h of hosts) {
      free &&= await new Promise<boolean>((resolve) => {
        const srv = createServer();
        srv.once('error', () => resolve(false));
        srv.listen(port, h, () => srv.close(() => resolve(true)));
      });
    }
    if (free) return port;
  }
  throw new Error(`no free port in 20000-31999 on ${hosts.join(', ')} after 200 tries`);
}
