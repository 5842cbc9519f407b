// The client side of Certify: one gRPC channel to the Identity service, verified against the trust
// bundle and the service's SPIFFE id (not a hostname: the service's leaf carries only a URI SAN).
import * as grpc from '@grpc/grpc-js';
import { z } from 'zod';
import { CONTROLLER_NAME, MESH_NAMESPACE } from '../api/index.js';
import { TrustError, TrustBundle, toPem, checkPeerCertificate, spiffeId } from '../trust/index.js';
import { identityPackage } from './identity-server.js';

export interface CertifyResult {
  leafPem: string;
  /** Leaf first, then intermediates. */
  chainPem: string;
  validUntil: Date;
}

export class IdentityCallError extends Error {
  constructor(
    readonly status: grpc.status,
    readonly details: string,
  ) {
    super(`Certify failed: ${grpc.status[status] ?? status}: ${details}`);
    this.name = 'IdentityCallError';
  }
}

const responseSchema = z.object({
  leaf: z.instanceof(Buffer).refine((b) => b.length > 0, 'empty leaf'),
  intermediates: z.array(z.instanceof(Buffer)),
  validUntil: z.object({ seconds: z.union([z.string(), z.number()]) }).nullish(),
});

export interface IdentityClientOptions {
  /** host:port of the Identity service. */
  address: string;
  bundle: TrustBundle | string;
  /** The service's expected SPIFFE id; default the controller's: spiffe://<td>/ns/mesh-system/sa/mesh-controller. */
  serverIdentity?: string;
  /** Per-call deadline. */
  timeoutMs?: number;
}

type CertifyFn = (req: { identity: string; token: Buffer; csr: Buffer }, meta: grpc.Metadata, opts: grpc.CallOptions, cb: grpc.requestCallback<unknown>) => void;

export class IdentityClient {
  private readonly client: grpc.Client & { Certify: CertifyFn };
  readonly serverIdentity: string;
  private readonly timeoutMs: number;

  constructor(opts: IdentityClientOptions) {
    const bundle = typeof opts.bundle === 'string' ? TrustBundle.fromPem(opts.bundle) : opts.bundle;
    const domains = bundle.trustDomains();
    if (!opts.serverIdentity && domains.length !== 1) throw new TrustError('INVALID_ARGUMENT', 'cannot tell the identity service identity: give serverIdentity or a bundle of one trust domain');
    this.serverIdentity = opts.serverIdentity ?? spiffeId(domains[0]!, MESH_NAMESPACE, CONTROLLER_NAME);
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    const creds = grpc.credentials.createSsl(Buffer.from(bundle.pem()), null, null, {
      checkServerIdentity: (_host, cert) => checkPeerCertificate(cert, domains, this.serverIdentity),
    });
    const pkg = ((identityPackage().mesh as grpc.GrpcObject).identity as grpc.GrpcObject).v1 as grpc.GrpcObject;
    const Ctor = pkg.Identity as grpc.ServiceClientConstructor;
    // The server is named by its SPIFFE id (checked above), not by a hostname; a fixed SNI name avoids
    // sending an IP address as ServerName when the address is an IP.
    this.client = new Ctor(opts.address, creds, { 'grpc.max_receive_message_length': 64 * 1024, 'grpc.ssl_target_name_override': `${CONTROLLER_NAME}.${MESH_NAMESPACE}.svc` }) as unknown as grpc.Client & { Certify: CertifyFn };
  }

  certify(req: { identity: string; token: string | Buffer; csr: string | Buffer }): Promise<CertifyResult> {
    return new Promise((resolve, reject) => {
      this.client.Certify(
        { identity: req.identity, token: Buffer.from(req.token), csr: Buffer.from(req.csr) },
        new grpc.Metadata(),
        { deadline: Date.now() + this.timeoutMs },
        (err, res) => {
          if (err) {
            const e = err as grpc.ServiceError;
            reject(new IdentityCallError(e.code ?? grpc.status.UNKNOWN, e.details ?? e.message));
            return;
          }
          const parsed = responseSchema.safeParse(res);
          if (!parsed.success) {
            reject(new IdentityCallError(grpc.status.INTERNAL, `malformed CertifyResponse: ${parsed.error.message}`));
            return;
          }
          const leafPem = toPem(parsed.data.leaf, 'CERTIFICATE');
          const chainPem = leafPem + parsed.data.intermediates.map((d) => toPem(d, 'CERTIFICATE')).join('');
          const secs = Number(parsed.data.validUntil?.seconds ?? 0);
          resolve({ leafPem, chainPem, validUntil: new Date(secs * 1000) });
        },
      );
    });
  }

  close(): void {
    this.client.close();
  }
}
