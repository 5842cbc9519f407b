// Clients that leave at once: connect and send FIN (with or without bytes) before the tunnel is answered.
// Every such tunnel must end on both gateways. With tls-pipe, the remote gateway read the pipe header up
// to the client's FIN, so the TLS socket had ended before the relay took it; the relay waited for an 'end'
// that had already gone, and the tunnel stayed counted on both sides (a drain then waited its whole
// deadline, and every such client held two sockets and a backend connection until the idle timeout).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startPair, waitUntil } from './pair.js';

/** Connects, writes `data` (maybe empty) and its FIN at once; resolves with what comes back before the
 * close, or with a note when no close comes within 10 s (the gateway never ended the tunnel). */
function sendAndLeave(port: number, data: string): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true });
    let got = '';
    const timer = setTimeout(() => {
      resolve(`${got} (no close within 10 s)`);
      s.destroy();
    }, 10_000);
    s.on('data', (d: Buffer) => (got += d.toString()));
    s.on('error', () => {});
    s.on('connect', () => s.end(data));
    s.on('close', () => {
      clearTimeout(timer);
      resolve(got);
    });
  });
}

for (const transport of ['connect', 'tls-pipe'] as const) {
  test(`${transport}: a client that sends its FIN at once still gets its echo, and its tunnel ends on both gateways`, async () => {
    const p = await startPair(transport);
    try {
      const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => sendAndLeave(p.port, i % 2 ? `hello ${i}` : '')));
      for (const [i, a] of answers.entries()) assert.equal(a, i % 2 ? `hello ${i}` : '', `client ${i}: the echo of what it sent before its FIN`);
      await waitUntil(() => p.a.activeTunnels() === 0 && p.b.activeTunnels() === 0, 15_000, 'no tunnel left open').catch(() => {
        assert.fail(`tunnels still open after 15 s: A ${p.a.activeTunnels()}, B ${p.b.activeTunnels()}`);
      });
    } finally {
      await p.close();
    }
  });
}
