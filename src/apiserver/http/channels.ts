// Kubernetes' channel protocols over a WebSocket (`v5.channel.k8s.io` … `channel.k8s.io`, and
// `portforward.k8s.io` / `v4.channel.k8s.io` for port-forward): every message starts with one byte naming
// its channel. v5 adds message [255, channel] = "this channel is closed" (stdin EOF).
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';

export const CLOSE_CHANNEL = 255;

/** The subprotocol chosen for each request being upgraded. */
const chosen = new WeakMap<IncomingMessage, string>();

/** One server for every upgrade: no HTTP server of its own, no compression (kubectl offers none). */
const wss = new WebSocketServer({
  noServer: true,
  perMessageDeflate: false,
  clientTracking: false,
  maxPayload: 16 * 1024 * 1024,
  handleProtocols: (_offered, req) => chosen.get(req) ?? false,
});

/** Completes the WebSocket handshake with `protocol` (one the client offered). */
export function acceptWebSocket(req: IncomingMessage, socket: Duplex, head: Buffer, protocol: string): Promise<WebSocket> {
  chosen.set(req, protocol);
  return new Promise((resolve) => wss.handleUpgrade(req, socket, head, (ws) => resolve(ws)));
}

/** The first of `supported` (server preference) that the client offered in Sec-WebSocket-Protocol. */
export function pickProtocol(req: IncomingMessage, supported: readonly string[]): string | undefined {
  const offered = String(req.headers['sec-websocket-protocol'] ?? '').split(',').map((s) => s.trim()).filter((s) => s);
  return supported.find((p) => offered.includes(p));
}

export function isWebSocketUpgrade(req: IncomingMessage): boolean {
  return String(req.headers['upgrade'] ?? '').toLowerCase() === 'websocket';
}

/** A message as channel + payload; text frames (the python client sends some) read the same way. */
export function splitMessage(data: Buffer | ArrayBuffer | Buffer[]): { channel: number; payload: Buffer } | undefined {
  const buf = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
  if (buf.length === 0) return undefined;
  return { channel: buf[0] as number, payload: buf.subarray(1) };
}

export function sendChannel(ws: WebSocket, channel: number, payload: Buffer): void {
  if (ws.readyState !== ws.OPEN) return;
  ws.send(Buffer.concat([Buffer.from([channel]), payload]), { binary: true });
}
