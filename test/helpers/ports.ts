import { createServer } from 'node:net';

/** A port that was free a moment ago on `host`; prefer listening on port 0 where the code allows it. */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** A free port below Linux's ephemeral range (32768-60999), so no other test's outgoing connection can take
 * it between this check and the listen: for tests that must bind a port they chose without any failure. */
export async function freeFixedPort(host = '127.0.0.1'): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    const free = await new Promise<boolean>((resolve) => {
      const srv = createServer();
      srv.once('error', () => resolve(false));
      srv.listen(port, host, () => srv.close(() => resolve(true)));
    });
    if (free) return port;
  }
  throw new Error(`no free port in 20000-31999 on ${host} after 200 tries`);
}
