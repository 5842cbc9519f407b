// tcp-echo: echoes every byte back. If the first line is exactly `WHO` it answers one JSON line with
// the cluster and pod instead of echoing that line. Half-close aware: after the client's FIN it finishes
// echoing, then sends its own FIN.
import { createServer, type Socket } from 'node:net';
import type { Logger } from '../log/index.js';
import { identityFromEnv, type AppIdentity, type RunningApp } from './identity.js';

const WHO = Buffer.from('WHO\n');
const WHO_CRLF = Buffer.from('WHO\r\n');

export interface TcpEchoOptions {
  host: string;
  port: number;
  identity?: AppIdentity;
  logger: Logger;
}

/** How the first bytes of a connection are treated. Pure, so the edge cases are easy to pin down. */
export function classifyStart(head: Buffer): 'who' | 'who-crlf' | 'echo' | 'undecided' {
  if (head.length >= WHO.length && head.subarray(0, WHO.length).equals(WHO)) return 'who';
  if (head.length >= WHO_CRLF.length && head.subarray(0, WHO_CRLF.length).equals(WHO_CRLF)) return 'who-crlf';
  const isPrefixOf = (full: Buffer) => head.length < full.length && full.subarray(0, head.length).equals(head);
  return isPrefixOf(WHO) || isPrefixOf(WHO_CRLF) ? 'undecided' : 'echo';
}

export function startTcpEcho(opts: TcpEchoOptions): Promise<RunningApp> {
  const me = opts.identity ?? identityFromEnv();
  const sockets = new Set<Socket>();
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    socket.setTimeout(300_000, () => socket.destroy());
    let head: Buffer | undefined = Buffer.alloc(0);
    const startEcho = (rest: Buffer) => {
      head = undefined;
      socket.off('data', onData);
      socket.off('end', onEndEarly);
      if (rest.length) socket.write(rest);
      // pipe() ends our side once the client's FIN arrived and everything was echoed: a clean half-close.
      socket.pipe(socket);
      socket.resume();
    };
    const onData = (d: Buffer) => {
      head = Buffer.concat([head ?? Buffer.alloc(0), d]);
      const kind = classifyStart(head);
      if (kind === 'undecided') return;
      if (kind === 'echo') return startEcho(head);
      const line = JSON.stringify({ cluster: me.cluster, namespace: me.namespace, pod: me.pod, podIP: me.podIP }) + '\n';
      socket.write(line);
      startEcho(head.subarray(kind === 'who' ? WHO.length : WHO_CRLF.length));
    };
    // FIN while still undecided (e.g. the client sent "WH" and closed): echo what came, then close.
    const onEndEarly = () => {
      const rest = head ?? Buffer.alloc(0);
      head = undefined;
      socket.end(rest);
    };
    socket.on('data', onData);
    socket.on('end', onEndEarly);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      const port = (server.address() as { port: number }).port;
      opts.logger.info('tcp-echo listening', { host: opts.host, port, cluster: me.cluster, pod: me.pod });
      resolve({
        host: opts.host,
        port,
        close: () =>
          new Promise<void>((r) => {
            server.close(() => r());
            for (const s of sockets) s.destroy();
          }),
      });
    });
  });
}
