// A TCP proxy in front of a test API server that can black-hole it the way a dropped route does: while cut,
// bytes on open connections are held (no FIN, no RST) and new connections are accepted but never answered;
// once lifted, everything held flows again. The controller sees a silent peer, not a closed one.
import net from 'node:net';
import type { AddressInfo } from 'node:net';

export interface BlackholeProxy {
  port: number;
  cut(): void;
  lift(): void;
  close(): Promise<void>;
}

export async function startBlackholeProxy(upstreamPort: number): Promise<BlackholeProxy> {
  let cut = false;
  const pairs = new Set<{ a: net.Socket; b: net.Socket }>();
  const waiting = new Set<() => void>();
  const setFlow = (on: boolean) => {
    for (const { a, b } of pairs) {
      for (const s of [a, b]) {
        if (on) s.resume();
        else s.pause();
      }
    }
  };
  const server = net.createServer((a) => {
    a.pause();
    const connect = () => {
      const b = net.connect(upstreamPort, '127.0.0.1');
      const pair = { a, b };
      pairs.add(pair);
      a.pipe(b);
      b.pipe(a);
      const end = () => {
        pairs.delete(pair);
        a.destroy();
        b.destroy();
      };
      a.on('error', end).on('close', end);
      b.on('error', end).on('close', end);
      if (cut) b.pause();
      else a.resume();
    };
    if (!cut) connect();
    else {
      waiting.add(connect);
      a.on('close', () => waiting.delete(connect));
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    port: (server.address() as AddressInfo).port,
    cut() {
      cut = true;
      setFlow(false);
    },
    lift() {
      cut = false;
      setFlow(true);
      for (const c of [...waiting]) {
        waiting.delete(c);
        c();
      }
    },
    async close() {
      for (const { a, b } of pairs) {
        a.destroy();
        b.destroy();
      }
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
