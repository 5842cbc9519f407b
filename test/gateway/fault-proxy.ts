// A TCP proxy in front of a gateway address that a test can black-hole or make refuse, as a network
// partition or a dead node would: `freeze()` drops every byte both ways on the connections open now and on
// those accepted later (they stay open, nothing answers); `refuse()` resets them all and every new one;
// `pass()` forwards new connections again (frozen ones stay dead, as after a partition heals).
import net from 'node:net';

export interface FaultProxy {
  /** Connections accepted so far. */
  accepted(): number;
  /** Bytes forwarded (both ways) so far. */
  forwarded(): number;
  freeze(): void;
  refuse(): void;
  pass(): void;
  close(): Promise<void>;
}

type Mode = 'pass' | 'freeze' | 'refuse';

export async function startFaultProxy(host: string, port: number, target: { host: string; port: number }): Promise<FaultProxy> {
  let mode: Mode = 'pass';
  let accepted = 0;
  let forwarded = 0;
  const pairs = new Set<{ client: net.Socket; upstream: net.Socket; dead: boolean }>();
  // Half-open both ways, FINs forwarded only while passing: a black hole must not answer a FIN with its own.
  const server = net.createServer({ noDelay: true, allowHalfOpen: true }, (client) => {
    accepted++;
    client.on('error', () => {});
    if (mode === 'refuse') return void client.resetAndDestroy();
    const upstream = net.connect({ host: target.host, port: target.port, noDelay: true, allowHalfOpen: true });
    upstream.on('error', () => {});
    const pair = { client, upstream, dead: mode === 'freeze' };
    pairs.add(pair);
    const forward = (to: net.Socket) => (d: Buffer) => {
      if (pair.dead) return;
      forwarded += d.length;
      to.write(d);
    };
    client.on('data', forward(upstream));
    upstream.on('data', forward(client));
    client.on('end', () => pair.dead || upstream.end());
    upstream.on('end', () => pair.dead || client.end());
    const done = () => {
      pairs.delete(pair);
      if (pair.dead) return; // a black hole says nothing, not even a close
      client.destroy();
      upstream.destroy();
    };
    client.on('close', done);
    upstream.on('close', done);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return {
    accepted: () => accepted,
    forwarded: () => forwarded,
    freeze() {
      mode = 'freeze';
      for (const p of pairs) p.dead = true;
    },
    refuse() {
      mode = 'refuse';
      for (const p of [...pairs]) {
        p.client.resetAndDestroy();
        p.upstream.destroy();
      }
    },
    pass() {
      mode = 'pass';
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const p of pairs) {
          p.client.destroy();
          p.upstream.destroy();
        }
        server.close(() => resolve());
      }),
  };
}
