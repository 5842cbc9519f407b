// One server per bound address, all on one port: how the tunnel port and the admin port listen on every
// address of a dual-stack pod (hosts.ts). One socket per address rather than `::`: an IPv4 client then
// shows its own address (never `::ffff:a.b.c.d`), and nothing listens on an address the pod was not given.
import type net from 'node:net';

/** Binds port 0 again from scratch when the port the first address picked is taken on a later one. */
const PICK_ATTEMPTS = 5;

export interface Bound<S extends net.Server> {
  port: number;
  servers: S[];
}

/** Makes a server per address with `make` and binds each, in order, at `port` (0: the port the first
 * address gets, for all). On a bind error the servers already bound are closed and it rejects with the
 * error (its message names the address). */
export async function listenEach<S extends net.Server>(hosts: readonly string[], port: number, make: (host: string) => S): Promise<Bound<S>> {
  for (let attempt = 1; ; attempt++) {
    const servers: S[] = [];
    let chosen = port;
    try {
      for (const host of hosts) {
        const s = make(host);
        servers.push(s);
        chosen = await bind(s, chosen, host);
      }
      return { port: chosen, servers };
    } catch (err) {
      for (const s of servers) if (s.listening) s.close();
      const retry = port === 0 && servers.length > 1 && (err as NodeJS.ErrnoException).code === 'EADDRINUSE' && attempt < PICK_ATTEMPTS;
      if (!retry) throw err;
    }
  }
}

function bind(s: net.Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    s.once('error', reject);
    s.listen(port, host, () => {
      s.off('error', reject);
      resolve((s.address() as net.AddressInfo).port);
    });
  });
}
