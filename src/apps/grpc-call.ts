// One unary Echo call over node:http2, for the traffic client: its connection can be bound to a source
// address (the pod's POD_IP, as the HTTP and raw-TCP requests are), so the source gateway attests the
// calling pod and not unknown-caller. grpc-js 1.14 cannot: its subchannel calls net.connect(address) with
// no local address and no channel option for one. The wire format is gRPC's (a POST to
// /mesh.demo.v1.Echo/Echo, a length-prefixed message, grpc-status in the trailers); the messages are
// (de)serialized by the proto-loader definition the server uses.
import http2 from 'node:http2';
import { connect as netConnect } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { z } from 'zod';
import { loadEchoProtos, type EchoReply } from './grpc-echo.js';

export interface EchoCall {
  /** Where to connect (an IP) and the :authority to name (host:port as the user wrote it). */
  ip: string;
  port: number;
  authority: string;
  localAddress?: string;
  timeoutMs: number;
  message: string;
}

export type EchoOutcome = { ok: true; reply: EchoReply } | { ok: false; status: string; error: string };

const replySchema = z.object({ message: z.string(), cluster: z.string(), namespace: z.string(), pod: z.string(), podIp: z.string(), seq: z.number() });

/** The most of a reply this client reads (the server's own limit is 64 KiB per message). */
const MAX_REPLY = 256 * 1024;

export function echoCall(c: EchoCall): Promise<EchoOutcome> {
  const method = loadEchoProtos().Echo.service.Echo!;
  const payload = method.requestSerialize({ message: c.message });
  const frame = Buffer.alloc(5 + payload.length);
  frame.writeUInt32BE(payload.length, 1);
  payload.copy(frame, 5);
  return new Promise((resolve) => {
    let done = false;
    const session = http2.connect(`http://${c.authority}`, {
      createConnection: () => netConnect({ host: c.ip, port: c.port, noDelay: true, ...(c.localAddress ? { localAddress: c.localAddress } : {}) }),
    });
    const finish = (o: EchoOutcome) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      session.destroy();
      resolve(o);
    };
    const timer = setTimeout(() => finish({ ok: false, status: 'DEADLINE_EXCEEDED', error: `no reply within ${c.timeoutMs} ms` }), c.timeoutMs);
    session.on('error', (err) => finish({ ok: false, status: 'UNAVAILABLE', error: err.message }));
    const req = session.request({ ':method': 'POST', ':path': method.path, ':authority': c.authority, 'content-type': 'application/grpc', te: 'trailers', 'grpc-timeout': `${c.timeoutMs}m` });
    const chunks: Buffer[] = [];
    let size = 0;
    let headers: http2.IncomingHttpHeaders = {};
    req.on('response', (h) => (headers = h));
    req.on('data', (d: Buffer) => {
      size += d.length;
      if (size > MAX_REPLY) finish({ ok: false, status: 'RESOURCE_EXHAUSTED', error: `reply over ${MAX_REPLY} bytes` });
      else chunks.push(d);
    });
    req.on('error', (err) => finish({ ok: false, status: 'UNAVAILABLE', error: err.message }));
    // A trailers-only answer (an error) carries grpc-status in its headers.
    req.on('trailers', (t) => (headers = { ...headers, ...t }));
    req.on('end', () => finish(outcomeOf(headers, Buffer.concat(chunks), method.responseDeserialize)));
    req.end(frame);
  });
}

function outcomeOf(h: http2.IncomingHttpHeaders, body: Buffer, deserialize: (b: Buffer) => unknown): EchoOutcome {
  if (Number(h[':status']) !== 200) return { ok: false, status: 'UNAVAILABLE', error: `HTTP ${String(h[':status'])} instead of a gRPC answer` };
  const code = Number(h['grpc-status'] ?? NaN);
  if (code !== grpc.status.OK) {
    const name = Number.isInteger(code) ? (grpc.status[code] ?? String(code)) : 'UNKNOWN';
    return { ok: false, status: name, error: decodeURIComponent(String(h['grpc-message'] ?? '')) || `grpc-status ${name}` };
  }
  if (body.length < 5 || body[0] !== 0 || body.readUInt32BE(1) !== body.length - 5) return { ok: false, status: 'INTERNAL', error: 'not one uncompressed gRPC message' };
  const reply = replySchema.safeParse(deserialize(body.subarray(5)));
  return reply.success ? { ok: true, reply: reply.data } : { ok: false, status: 'INTERNAL', error: `unexpected reply: ${reply.error.issues[0]?.message ?? ''}` };
}
