// grpc-echo: unary, server-streaming and bidi echo over @grpc/grpc-js, every reply carrying the cluster
// and pod, plus grpc.health.v1 Check. The .proto files are read from the repository's src/ folder (the
// container image ships it), found relative to this module.
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { hostPort } from '../api/index.js';
import type { Logger } from '../log/index.js';
import { identityFromEnv, type AppIdentity, type RunningApp } from './identity.js';

// dist/src/sandbox/apps/grpc-echo.js → <repo>/src/sandbox/apps/*.proto (also right when run from src/ by a TS runner: same depth).
const protoDir = fileURLToPath(new URL('../../../src/apps/', import.meta.url));
export const ECHO_PROTO = `${protoDir}echo.proto`;
export const HEALTH_PROTO = `${protoDir}health.proto`;
export const ECHO_SERVICE = 'mesh.demo.v1.Echo';

export const GRPC_ECHO_LIMITS = { maxMessage: 64 * 1024, maxCount: 1000, maxIntervalMs: 10_000 } as const;

export interface EchoRequest {
  message: string;
}
export interface StreamRequest {
  message: string;
  count: number;
  intervalMs: number;
}
export interface EchoReply {
  message: string;
  cluster: string;
  namespace: string;
  pod: string;
  podIp: string;
  seq: number;
}

/** The typed client surface (grpc-js generates these methods at run time). */
export interface EchoClient extends grpc.Client {
  Echo(req: EchoRequest, md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: EchoReply) => void): grpc.ClientUnaryCall;
  ServerStream(req: StreamRequest, md?: grpc.Metadata, opts?: grpc.CallOptions): grpc.ClientReadableStream<EchoReply>;
  Chat(md?: grpc.Metadata, opts?: grpc.CallOptions): grpc.ClientDuplexStream<EchoRequest, EchoReply>;
}
export interface HealthClient extends grpc.Client {
  Check(req: { service: string }, md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: { status: string }) => void): grpc.ClientUnaryCall;
}

interface Loaded {
  Echo: grpc.ServiceClientConstructor;
  Health: grpc.ServiceClientConstructor;
}
let loaded: Loaded | undefined;

/** Loads both protos once; field names become lowerCamelCase (`pod_ip` → `podIp`). */
export function loadEchoProtos(): Loaded {
  if (loaded) return loaded;
  const def = protoLoader.loadSync([ECHO_PROTO, HEALTH_PROTO], { keepCase: false, longs: Number, enums: String, defaults: true, oneofs: true });
  const pkg = grpc.loadPackageDefinition(def) as unknown as {
    mesh: { demo: { v1: { Echo: grpc.ServiceClientConstructor } } };
    grpc: { health: { v1: { Health: grpc.ServiceClientConstructor } } };
  };
  loaded = { Echo: pkg.mesh.demo.v1.Echo, Health: pkg.grpc.health.v1.Health };
  return loaded;
}

/** A client for `address` (`ip:port`); `authority` sets :authority when the address is a resolved IP. */
export function echoClient(address: string, options: grpc.ChannelOptions = {}): EchoClient {
  const { Echo } = loadEchoProtos();
  return new Echo(address, grpc.credentials.createInsecure(), options) as unknown as EchoClient;
}

export function healthClient(address: string, options: grpc.ChannelOptions = {}): HealthClient {
  const { Health } = loadEchoProtos();
  return new Health(address, grpc.credentials.createInsecure(), options) as unknown as HealthClient;
}

const echoReq = z.object({ message: z.string().max(GRPC_ECHO_LIMITS.maxMessage) });
const streamReq = z.object({
  message: z.string().max(GRPC_ECHO_LIMITS.maxMessage),
  count: z.number().int().min(1).max(GRPC_ECHO_LIMITS.maxCount),
  intervalMs: z.number().int().min(0).max(GRPC_ECHO_LIMITS.maxIntervalMs),
});

function invalid(message: string): Partial<grpc.StatusObject> {
  return { code: grpc.status.INVALID_ARGUMENT, details: message };
}

export interface GrpcEchoOptions {
  host: string;
  port: number;
  identity?: AppIdentity;
  logger: Logger;
}

export async function startGrpcEcho(opts: GrpcEchoOptions): Promise<RunningApp> {
  const me = opts.identity ?? identityFromEnv();
  const { Echo, Health } = loadEchoProtos();
  const reply = (message: string, seq: number): EchoReply => ({ message, cluster: me.cluster, namespace: me.namespace, pod: me.pod, podIp: me.podIP, seq });

  const server = new grpc.Server({ 'grpc.max_receive_message_length': 2 * GRPC_ECHO_LIMITS.maxMessage });
  server.addService(Echo.service, {
    Echo: (call: grpc.ServerUnaryCall<EchoRequest, EchoReply>, cb: grpc.sendUnaryData<EchoReply>) => {
      const p = echoReq.safeParse(call.request);
      if (!p.success) return cb(invalid(`message longer than ${GRPC_ECHO_LIMITS.maxMessage} bytes`), null);
      cb(null, reply(p.data.message, 0));
    },
    ServerStream: (call: grpc.ServerWritableStream<StreamRequest, EchoReply>) => {
      const p = streamReq.safeParse(call.request);
      if (!p.success) {
        call.emit('error', { code: grpc.status.INVALID_ARGUMENT, details: `count must be 1..${GRPC_ECHO_LIMITS.maxCount}, interval_ms 0..${GRPC_ECHO_LIMITS.maxIntervalMs}, message up to ${GRPC_ECHO_LIMITS.maxMessage} bytes` });
        return;
      }
      let seq = 0;
      let timer: NodeJS.Timeout | undefined;
      call.on('cancelled', () => clearTimeout(timer));
      const next = () => {
        if (call.cancelled) return;
        call.write(reply(p.data.message, seq++));
        if (seq >= p.data.count) call.end();
        else timer = setTimeout(next, p.data.intervalMs);
      };
      next();
    },
    Chat: (call: grpc.ServerDuplexStream<EchoRequest, EchoReply>) => {
      let seq = 0;
      call.on('data', (req: EchoRequest) => {
        const p = echoReq.safeParse(req);
        if (!p.success) {
          call.emit('error', invalid(`message longer than ${GRPC_ECHO_LIMITS.maxMessage} bytes`));
          return;
        }
        call.write(reply(p.data.message, seq++));
      });
      call.on('end', () => call.end());
      call.on('error', () => undefined);
    },
  });
  server.addService(Health.service, {
    Check: (call: grpc.ServerUnaryCall<{ service: string }, { status: string }>, cb: grpc.sendUnaryData<{ status: string }>) => {
      const svc = call.request.service;
      if (svc === '' || svc === ECHO_SERVICE) return cb(null, { status: 'SERVING' });
      cb({ code: grpc.status.NOT_FOUND, details: `unknown service ${svc}` }, null);
    },
  });

  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(hostPort(opts.host, opts.port), grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  opts.logger.info('grpc-echo listening', { host: opts.host, port, cluster: me.cluster, pod: me.pod });
  return {
    host: opts.host,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        // Give in-flight calls a moment, then cut them: a pod being stopped must not hang.
        const timer = setTimeout(() => server.forceShutdown(), 2_000);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      }),
  };
}
