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

/** Why IPv6 loopback (`::1`) cannot be used here, or undefined when it can (tests that need it skip, saying why). */
export async function ipv6Unavailable(): Promise<string | undefined> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', (err: NodeJS.ErrnoException) => resolve(`cannot listen on ::1 (${err.code ?? err.message}): IPv6 is unavailable on this machine`));
    s.listen(0, '::1', () => s.close(() => resolve(undefined)));
  });
}
