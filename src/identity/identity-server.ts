// The gRPC adapter of the Identity service: decoding, the status-code mapping of CertifyError kinds,
// message-size limits, and TLS with the service's own leaf (serving-certificate.ts).
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { fileURLToPath } from 'node:url';
import { createLogger, type Logger } from '../log/index.js';
import { Counter, register, type Registry } from 'prom-client';
import type { KubeConfig } from '@kubernetes/client-node';
import { CONTROLLER_NAME, IDENTITY_PORT, IDENTITY_TOKEN_AUDIENCE, MESH_NAMESPACE, hostPort } from '../api/index.js';
import { DEFAULT_LEAF_TTL_SECONDS, pemBlocks, spiffeId, type Leaf } from '../trust/index.js';
import { certify, CertifyError, type CertifyDeps, type CertifyErrorKind } from './certify.js';
import { ServingCertificate } from './serving-certificate.js';
import { KeepAliveTokenReviewer, type TokenReviewer } from './token-review.js';
import { KubeTrustSource, type TrustSource } from './trust-source.js';

/** Requests above this are refused with RESOURCE_EXHAUSTED before decoding (a real one is ~1 KiB). */
export const MAX_REQUEST_BYTES = 64 * 1024;

/** Path of the .proto: dist/src/identity/*.js → ../../../src/identity/identity.proto (shipped in the image). */
export const IDENTITY_PROTO_PATH = fileURLToPath(new URL('../../../src/identity/identity.proto', import.meta.url));

let cachedPackage: grpc.GrpcObject | undefined;
export function identityPackage(): grpc.GrpcObject {
  cachedPackage ??= grpc.loadPackageDefinition(
    protoLoader.loadSync(IDENTITY_PROTO_PATH, { keepCase: false, longs: String, enums: String, defaults: true, oneofs: true }),
  );
  return cachedPackage;
}

export function identityServiceDefinition(): grpc.ServiceDefinition {
  const ctor = ((identityPackage().mesh as grpc.GrpcObject).identity as grpc.GrpcObject).v1 as grpc.GrpcObject;
  return (ctor.Identity as grpc.ServiceClientConstructor).service;
}

const STATUS: Record<CertifyErrorKind, grpc.status> = {
  'invalid-argument': grpc.status.INVALID_ARGUMENT,
  unauthenticated: grpc.status.UNAUTHENTICATED,
  'permission-denied': grpc.status.PERMISSION_DENIED,
  unavailable: grpc.status.UNAVAILABLE,
};

function certifyCounter(registry: Registry = register): Counter<'result'> {
  const existing = registry.getSingleMetric('mesh_identity_certify_total');
  if (existing) return existing as Counter<'result'>;
  return new Counter({ name: 'mesh_identity_certify_total', help: 'Identity Certify requests by result (ok or the refusal code)', labelNames: ['result'], registers: [registry] });
}

export interface IdentityServiceOptions {
  /** Trust material; default: watch the issuer Secret and trust-roots ConfigMap (src/api names them) via `kubeConfig`. */
  source?: TrustSource;
  kubeConfig?: KubeConfig;
  namespace?: string;
  /** Default: TokenReview against `kubeConfig`'s API server (KeepAliveTokenReviewer). */
  reviewer?: TokenReviewer;
  /** Default: POD_IP when set, else 0.0.0.0. */
  host?: string;
  /** Default IDENTITY_PORT (src/api); 0 picks a free port. */
  port?: number;
  leafTtlSeconds?: number;
  /** TTL of the service's own serving certificate (default = leafTtlSeconds). */
  servingTtlSeconds?: number;
  audience?: string;
  logger?: Logger;
  /** Where mesh_identity_certify_total{result} is registered (default: prom-client's global registry). */
  registry?: Registry;
}

export interface IdentityService {
  host: string;
  port: number;
  /** The SPIFFE id the service presents (clients check it). */
  identity: string;
  /** The serving certificate now in use. */
  servingLeaf(): Leaf | undefined;
  stop(): Promise<void>;
}

export async function startIdentityService(opts: IdentityServiceOptions): Promise<IdentityService> {
  const log = opts.logger ?? createLogger('identity');
  const { source, owned } = await trustSourceFor(opts, log);
  const ownedReviewer = !opts.reviewer && opts.kubeConfig ? await KeepAliveTokenReviewer.create(opts.kubeConfig) : undefined;
  const reviewer = opts.reviewer ?? ownedReviewer;
  if (!reviewer) throw new Error('startIdentityService needs a reviewer or a kubeConfig');
  const first = source.current();
  if (!first) throw new Error('the trust source has no issuer loaded');
  const leafTtl = opts.leafTtlSeconds ?? DEFAULT_LEAF_TTL_SECONDS;
  const identity = spiffeId(first.issuer.trustDomain, opts.namespace ?? MESH_NAMESPACE, CONTROLLER_NAME);
  const serving = new ServingCertificate(source, identity, opts.servingTtlSeconds ?? leafTtl, log);

  const server = new grpc.Server({
    'grpc.max_receive_message_length': MAX_REQUEST_BYTES,
    'grpc.max_send_message_length': MAX_REQUEST_BYTES,
  });
  const deps: CertifyDeps = { reviewer, issuer: () => source.current()?.issuer, ttlSeconds: leafTtl, audience: opts.audience ?? IDENTITY_TOKEN_AUDIENCE, meshNamespace: opts.namespace ?? MESH_NAMESPACE };
  server.addService(identityServiceDefinition(), { Certify: certifyHandler(deps, certifyCounter(opts.registry), log) });
  const host = opts.host ?? process.env.POD_IP ?? '0.0.0.0';
  const creds = grpc.experimental.createCertificateProviderServerCredentials(serving.provider, serving.provider, false);
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(hostPort(host, opts.port ?? IDENTITY_PORT), creds, (err, p) => (err ? reject(err) : resolve(p)));
  });
  log.info('identity service listening', { host, port, identity, trustDomain: first.issuer.trustDomain });
  return {
    host,
    port,
    identity,
    servingLeaf: () => serving.current(),
    async stop() {
      serving.stop();
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => { server.forceShutdown(); resolve(); }, 2_000);
        server.tryShutdown(() => { clearTimeout(t); resolve(); });
      });
      owned?.stop();
      ownedReviewer?.close();
    },
  };
}

/** The given trust source, or one watching mesh-system that we own (and stop). */
async function trustSourceFor(opts: IdentityServiceOptions, log: Logger): Promise<{ source: TrustSource; owned?: KubeTrustSource }> {
  if (opts.source) return { source: opts.source };
  if (!opts.kubeConfig) throw new Error('startIdentityService needs a source or a kubeConfig');
  const owned = await KubeTrustSource.start({ kubeConfig: opts.kubeConfig, namespace: opts.namespace, logger: log });
  try {
    await owned.ready();
  } catch (err) {
    owned.stop();
    throw err;
  }
  return { source: owned, owned };
}

/** The gRPC adapter of certify(): domain errors become status codes, every outcome is counted. */
function certifyHandler(deps: CertifyDeps, counter: Counter<'result'>, log: Logger) {
  return (call: grpc.ServerUnaryCall<Record<string, unknown>, unknown>, callback: grpc.sendUnaryData<unknown>): void => {
    const peer = call.getPeer();
    certify(call.request, deps)
      .then((leaf) => {
        counter.inc({ result: 'ok' });
        log.debug('certified', { identity: leaf.identity, peer, notAfter: leaf.notAfter.toISOString(), serial: leaf.serialHex });
        const seconds = Math.floor(leaf.notAfter.getTime() / 1000);
        callback(null, {
          leaf: leaf.certDer,
          intermediates: pemBlocks(leaf.chainPem, 'CERTIFICATE').slice(1),
          validUntil: { seconds: String(seconds), nanos: 0 },
        });
      })
      .catch((err: unknown) => {
        if (err instanceof CertifyError) {
          counter.inc({ result: err.code });
          log.warn('certify refused', { code: err.code, identity: typeof call.request?.identity === 'string' ? call.request.identity.slice(0, 256) : undefined, peer, reason: err.message });
          callback({ code: STATUS[err.kind], details: err.message });
          return;
        }
        counter.inc({ result: 'INTERNAL' });
        log.error('certify failed', { peer, error: (err as Error).stack ?? String(err) });
        callback({ code: grpc.status.INTERNAL, details: 'internal error' });
      });
  };
}
