// pods/portforward: TCP connections to the pod's ports over WebSocket — `SPDY/3.1+portforward.k8s.io` (kubectl
// 1.31+ tunnels its SPDY session in the WebSocket), `portforward.k8s.io` / `v4.channel.k8s.io` (channel
// pairs per port, the python client) — or over SPDY/3.1 (older kubectl).
import type { Duplex } from 'node:stream';
import { createWebSocketStream, type WebSocket } from 'ws';
import { badRequest } from '../errors.js';
import type { Obj } from '../store.js';
import { acceptWebSocket, isWebSocketUpgrade, pickProtocol, sendChannel, splitMessage } from './channels.js';
import type { UpgradeRequest } from './context.js';
import { podOf, podStreamsOf } from './pod-log.js';
import type { PodStreams } from './pod-streams.js';
import { servePortForwardSession, serveSpdyPortForward } from './spdy-remote.js';
import { SpdySession } from './spdy.js';

const TUNNEL = 'SPDY/3.1+portforward.k8s.io';
const wsProtocols = [TUNNEL, 'v4.channel.k8s.io', 'portforward.k8s.io'] as const;

function portsOf(q: URLSearchParams): number[] {
  const raw = q.getAll('ports').flatMap((p) => p.split(',')).map((p) => p.trim()).filter((p) => p);
  const ports = raw.map((p) => {
    const n = Number(p);
    if (!Number.isInteger(n) || n < 1 || n > 65535) throw badRequest(`invalid port "${p}"`);
    return n;
  });
  return ports;
}

export async function servePortForwardUpgrade(r: UpgradeRequest, socket: Duplex, head: Buffer): Promise<void> {
  const pod = podOf(r);
  const streams = podStreamsOf(r, pod);
  if (!isWebSocketUpgrade(r.req)) return serveSpdyPortForward(r.req, socket, pod, streams);
  const protocol = pickProtocol(r.req, wsProtocols);
  if (!protocol) throw badRequest(`unsupported WebSocket subprotocol ${JSON.stringify(r.req.headers['sec-websocket-protocol'] ?? '')}; this server speaks ${wsProtocols.join(', ')}`);
  const ports = protocol === TUNNEL ? [] : portsOf(r.query);
  if (protocol !== TUNNEL && ports.length === 0) throw badRequest('query parameter "ports" is required for WebSocket port-forward');
  const ws = await acceptWebSocket(r.req, socket, head, protocol);
  if (protocol === TUNNEL) return servePortForwardSession(new SpdySession(createWebSocketStream(ws)), pod, streams);
  forwardChannels(ws, ports, pod, streams);
}

/** Channel 2i carries port i's data, 2i+1 its errors; each starts with the port number (2 bytes, little-endian). */
function forwardChannels(ws: WebSocket, ports: number[], pod: Obj, podStreams: PodStreams): void {
  const conns = new Map<number, Duplex>();
  /** Bytes the client sends before the pod's port answered wait for it, in order. */
  const ready = new Map<number, Promise<Duplex | undefined>>();
  const portPrefix = (p: number) => Buffer.from([p & 0xff, p >> 8]);
  ports.forEach((port, i) => {
    sendChannel(ws, 2 * i, portPrefix(port));
    sendChannel(ws, 2 * i + 1, portPrefix(port));
    const p = podStreams.portForward(pod, port);
    ready.set(i, p.then((c) => c, () => undefined));
    p.then(
      (c) => {
        conns.set(i, c);
        c.on('data', (d: Buffer) => sendChannel(ws, 2 * i, d));
        c.on('error', (e) => sendChannel(ws, 2 * i + 1, Buffer.from(`error forwarding port ${port}: ${e.message}`)));
        c.on('close', () => ws.close(1000));
      },
      (e: unknown) => {
        sendChannel(ws, 2 * i + 1, Buffer.from(`error forwarding port ${port} to pod ${pod.metadata.name}: ${e instanceof Error ? e.message : String(e)}`));
        ws.close(1000);
      },
    );
  });
  ws.on('message', (data) => {
    const m = splitMessage(data as Buffer);
    if (!m || m.channel % 2 !== 0) return;
    void ready.get(m.channel / 2)?.then((c) => c?.write(m.payload));
  });
  ws.on('close', () => { for (const c of conns.values()) c.destroy(); });
}
