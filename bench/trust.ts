// `npm run bench -- trust`: leaf signings per second in-process and Certify round trips per second over
// one gRPC channel, each beside the native ECDSA P-256 signing floor (crypto.sign in a loop) measured in
// the same run. Certify uses the real embedded API server for TokenReview (one HTTPS round trip per call)
// and, separately, an in-process reviewer to show the service's own cost.
import { sign } from 'node:crypto';
import { CoreV1Api } from '@kubernetes/client-node';
import { createRoot, createIssuer, issueLeaf, generateKeyPair, createCsr, spiffeId, TrustBundle, parseCsr } from '../src/trust/index.js';
import { startIdentityService, StaticTrustSource, IdentityClient, KubeTokenReviewer, KeepAliveTokenReviewer, type TokenReviewer } from '../src/identity/index.js';
import { silentLogger } from '../src/log/index.js';
import { startApiServer } from '../test/helpers/apiserver.js';
import { stopAll } from '../test/helpers/process.js';
import type { BenchResult, BenchRow } from './report.js';

const TARGET_LEAVES_PER_SEC = 1000;

/** Runs `fn` repeatedly for `ms` (after a short warm-up); returns operations per second. */
function rateSync(ms: number, fn: () => void): number {
  for (let i = 0; i < 50; i++) fn();
  let n = 0;
  const start = performance.now();
  let now = start;
  while (now - start < ms) {
    for (let i = 0; i < 20; i++) fn();
    n += 20;
    now = performance.now();
  }
  return n / ((now - start) / 1000);
}

/** `concurrency` loops of `fn` for `ms`; returns completed operations per second. */
async function rateAsync(ms: number, concurrency: number, fn: () => Promise<void>): Promise<number> {
  for (let i = 0; i < 5; i++) await fn();
  let n = 0;
  const start = performance.now();
  const end = start + ms;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (performance.now() < end) {
      await fn();
      n++;
    }
  }));
  return n / ((performance.now() - start) / 1000);
}

export async function run(): Promise<BenchResult> {
  const rows: BenchRow[] = [];
  const notes: string[] = [];
  const root = createRoot({ trustDomain: 'mesh.local' });
  const issuer = createIssuer({ root, clusterName: 'bench' });
  const bundle = TrustBundle.fromPem(root.certPem);
  const WEB = spiffeId('mesh.local', 'apps', 'web');
  const workloadKey = generateKeyPair();

  // The floor: what OpenSSL's ECDSA P-256 signing costs per certificate-sized message.
  const tbsSized = issueLeaf({ issuer, identity: WEB, publicKey: workloadKey.publicKey }).certDer.subarray(0, 420);
  const floor = rateSync(2000, () => { sign('sha256', tbsSized, issuer.key); });
  const csr = createCsr({ key: workloadKey.key, identity: WEB });
  const parsed = parseCsr(csr);
  // What Certify does after checking the request: sign a leaf for a public key taken from a verified CSR.
  const leaves = rateSync(2000, () => { issueLeaf({ issuer, identity: WEB, csr: parsed }); });
  rows.push({ metric: 'leaf signings', subject: 'issueLeaf, key from a verified CSR (own DER encoder + native ECDSA P-256)', value: leaves, unit: 'leaves/s', baseline: { name: 'crypto.sign P-256 floor', value: floor }, target: `>= ${TARGET_LEAVES_PER_SEC} leaves/s on one core`, met: leaves >= TARGET_LEAVES_PER_SEC });
  const fromCsr = rateSync(1500, () => { issueLeaf({ issuer, identity: WEB, csr }); });
  rows.push({ metric: 'leaf signings', subject: 'issueLeaf from CSR PEM (parse + verify CSR + sign)', value: fromCsr, unit: 'leaves/s', baseline: { name: 'crypto.sign P-256 floor', value: floor } });
  const fromKey = rateSync(1500, () => { issueLeaf({ issuer, identity: WEB, publicKey: workloadKey.publicKey }); });
  rows.push({ metric: 'leaf signings', subject: 'issueLeaf from a KeyObject (includes KeyObject.export to SPKI)', value: fromKey, unit: 'leaves/s', baseline: { name: 'crypto.sign P-256 floor', value: floor } });

  // Certify over one gRPC channel (TLS), in-process reviewer: the service's own cost.
  const fake: TokenReviewer = { review: async () => ({ authenticated: true, username: 'system:serviceaccount:apps:web', audiences: ['identity.mesh.io'] }) };
  const svcFake = await startIdentityService({ source: new StaticTrustSource({ issuer, bundle }), reviewer: fake, host: '127.0.0.1', port: 0, logger: silentLogger() });
  const c1 = new IdentityClient({ address: `127.0.0.1:${svcFake.port}`, bundle });
  try {
    const call = () => c1.certify({ identity: WEB, token: 'bench-token', csr }).then(() => undefined);
    const seq = await rateAsync(2000, 1, call);
    const par = await rateAsync(2000, 32, call);
    rows.push({ metric: 'Certify round trips', subject: '1 channel, 1 in flight, in-process TokenReviewer', value: seq, unit: 'req/s', baseline: { name: 'crypto.sign P-256 floor', value: floor } });
    rows.push({ metric: 'Certify round trips', subject: '1 channel, 32 in flight, in-process TokenReviewer', value: par, unit: 'req/s', baseline: { name: 'crypto.sign P-256 floor', value: floor } });
  } finally {
    c1.close();
    await svcFake.stop();
  }

  // Certify with the real TokenReview against `mesh apiserver` (its own process, HTTPS).
  const api = await startApiServer();
  try {
    const core = api.kubeConfig.makeApiClient(CoreV1Api);
    await core.createNamespace({ body: { metadata: { name: 'apps' } } });
    await core.createNamespacedServiceAccount({ namespace: 'apps', body: { metadata: { name: 'web' } } });
    const token = (await core.createNamespacedServiceAccountToken({ namespace: 'apps', name: 'web', body: { spec: { audiences: ['identity.mesh.io'] } } })).status!.token;
    const keepAlive = await KeepAliveTokenReviewer.create(api.kubeConfig);
    const reviewers: Array<[string, TokenReviewer]> = [['KeepAliveTokenReviewer (default)', keepAlive], ['client-node AuthenticationV1Api', new KubeTokenReviewer(api.kubeConfig)]];
    for (const [label, reviewer] of reviewers) {
      const svc = await startIdentityService({ source: new StaticTrustSource({ issuer, bundle }), reviewer, host: '127.0.0.1', port: 0, logger: silentLogger() });
      const c2 = new IdentityClient({ address: `127.0.0.1:${svc.port}`, bundle });
      try {
        const call = () => c2.certify({ identity: WEB, token, csr }).then(() => undefined);
        const seq = await rateAsync(2000, 1, call);
        const par = await rateAsync(2000, 32, call);
        rows.push({ metric: 'Certify round trips', subject: `1 channel, 1 in flight, TokenReview on mesh apiserver via ${label}`, value: seq, unit: 'req/s', baseline: { name: 'crypto.sign P-256 floor', value: floor } });
        rows.push({ metric: 'Certify round trips', subject: `1 channel, 32 in flight, TokenReview on mesh apiserver via ${label}`, value: par, unit: 'req/s', baseline: { name: 'crypto.sign P-256 floor', value: floor } });
      } finally {
        c2.close();
        await svc.stop();
      }
    }
    keepAlive.close();
  } finally {
    await api.stop();
    await stopAll();
  }
  notes.push(
    `Node ${process.version}, ${process.platform}/${process.arch}; one process, shared machine: compare ratios, not absolutes.`,
    'Leaves: ECDSA P-256, TBSCertificate assembled by src/trust/der.ts (no ASN.1 library), signed with node:crypto. The floor is crypto.sign over a TBS-sized message with the same key.',
    'Certify rows: client, server (and the in-process reviewer) share this process and its core; the apiserver rows add one HTTPS TokenReview per call to a separate process. No response caching of TokenReviews.',
  );
  return { name: 'trust', rows, notes };
}
