// Scenario 8: what cluster-b's gateway and API server refuse. A client with a certificate from another root,
// or none, reaches nothing; a certificate from the shared root reaches only exported Services (never an
// unexported Service, a pod IP, or the API server); the link's credentials cannot read Secrets in cluster-b.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { KubeClient, kubeConfigFromString } from '../../../src/kube/index.js';
import { createIssuer, createRoot, generateKeyPair, issueLeaf, readRoot, spiffeId, type CertificateAuthority } from '../../../src/trust/index.js';
import { DEMO_NS } from '../../../src/demo/index.js';
import { clusterName, podIPs, probeGateway, type Scenario, type ScenarioContext } from './context.js';

/** A leaf under `root`, issued by an issuer for `cluster` (default: a cluster nobody linked), as `ns/sa`. */
export function writeLeaf(dir: string, name: string, root: CertificateAuthority, cluster = `intruder-${name}`, ns = 'mesh-system', sa = 'mesh-gateway'): { cert: string; key: string } {
  const issuer = createIssuer({ root, clusterName: cluster });
  const kp = generateKeyPair();
  const leaf = issueLeaf({ issuer, identity: spiffeId(root.trustDomain, ns, sa), publicKey: kp.publicKey });
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  writeFileSync(cert, leaf.chainPem);
  writeFileSync(key, kp.keyPem, { mode: 0o600 });
  return { cert, key };
}

async function remoteGateway(ctx: ScenarioContext): Promise<{ host: string; port: number }> {
  const a = await ctx.env.client(ctx.a);
  const l = await a.get<{ spec: { gateway?: { addresses?: string[]; port?: number } } }>(`/apis/multicluster.mesh.io/v1alpha1/namespaces/mesh-system/links/${clusterName(ctx.b)}`);
  const host = l.spec.gateway?.addresses?.[0];
  assert.ok(host && l.spec.gateway?.port, `Link ${clusterName(ctx.b)} in ${ctx.a} names a gateway address`);
  return { host, port: l.spec.gateway.port };
}

export const security: Scenario = {
  id: 8,
  name: 'security: other roots and no certificate reach nothing; only linked gateways may tunnel in; admin port not published; only exported Services cross; link credentials cannot read Secrets',
  skip: (ctx) => (ctx.trustRoot ? undefined : 'needs the shared trust root directory (--trust-root) to make test certificates'),
  async run(ctx, step) {
    const B = clusterName(ctx.b);
    const dir = mkdtempSync(join(tmpdir(), 'mesh-e2e-sec-'));
    try {
      const root = await readRoot(ctx.trustRoot!);
      const ca = join(ctx.trustRoot!, 'root.crt');
      const gw = await remoteGateway(ctx);
      const exported = `web.${DEMO_NS}.svc.cluster.local:8080`;
      await step('a certificate from another root reaches nothing', async () => {
        const foreign = writeLeaf(dir, 'foreign', createRoot({ trustDomain: root.trustDomain }));
        const r = await probeGateway(ctx, ctx.a, { ...gw, ca, ...foreign, authorities: [exported] });
        assert.ok(!r.results.some((x) => x.status === 200), `foreign root got through: ${JSON.stringify(r)}`);
      });
      await step('no client certificate reaches nothing', async () => {
        const r = await probeGateway(ctx, ctx.a, { ...gw, ca, authorities: [exported] });
        assert.ok(!r.results.some((x) => x.status === 200), `no certificate got through: ${JSON.stringify(r)}`);
      });
      // Regression (issue 17 item 7): any identity of the trust domain could connect straight to a remote
      // gateway. By default only the gateways of linked clusters may; workloads go through their own.
      await step(`default inbound policy: a workload of linked ${ctx.a}, and the gateway of an unlinked cluster, are refused`, async () => {
        for (const [who, leaf] of [['workload', writeLeaf(dir, 'workload', root, clusterName(ctx.a), DEMO_NS, 'default')], ['unlinked gateway', writeLeaf(dir, 'unlinked', root)]] as const) {
          const r = await probeGateway(ctx, ctx.a, { ...gw, ca, ...leaf, authorities: [exported] });
          assert.ok(r.connected, `${who}: the mTLS handshake itself succeeds: ${JSON.stringify(r)}`);
          assert.equal(r.results[0]?.status, 403, `${who} must be refused with 403: ${JSON.stringify(r.results[0])}`);
        }
      });
      await step(`the gateway admin port (/metrics) is not on ${B}'s externally published gateway Service`, async () => {
        const b = await ctx.env.client(ctx.b);
        const pub = await b.get<{ spec: { type: string; ports: Array<{ name?: string; port: number }> } }>('/api/v1/namespaces/mesh-system/services/mesh-gateway');
        assert.deepEqual(pub.spec.ports.map((p) => p.port), [4143], `published ports: ${JSON.stringify(pub.spec.ports)}`);
        const admin = await b.get<{ spec: { type: string; ports: Array<{ port: number }> } }>('/api/v1/namespaces/mesh-system/services/mesh-gateway-admin');
        assert.deepEqual([admin.spec.type, admin.spec.ports.map((p) => p.port)], ['ClusterIP', [4191]]);
      });
      await step('with the shared root: exported Service yes; unexported, pod IP and API server no', async () => {
        const good = writeLeaf(dir, 'member', root, clusterName(ctx.a));
        const [pod] = await podIPs(ctx, ctx.b, 'app=web');
        assert.ok(pod);
        const authorities = [exported, `grpc-unexported.${DEMO_NS}.svc.cluster.local:9090`, `${pod.ip}:8080`, 'kubernetes.default.svc.cluster.local:443', `${pod.ip.replaceAll('.', '-')}.${DEMO_NS}.pod.cluster.local:8080`];
        // An unexported Service that exists: the demo's traffic agent namespace has none in B, so make one.
        const b = await ctx.env.client(ctx.b);
        await b.create(`/api/v1/namespaces/${DEMO_NS}/services`, { metadata: { name: 'grpc-unexported' }, spec: { selector: { app: 'grpc' }, ports: [{ port: 9090 }] } }).catch(() => undefined);
        try {
          const r = await probeGateway(ctx, ctx.a, { ...gw, ca, ...good, authorities });
          assert.ok(r.connected, `a member of the mesh connects: ${JSON.stringify(r)}`);
          assert.equal(r.results[0]?.status, 200, `exported ${exported} is reachable: ${JSON.stringify(r.results[0])}`);
          for (const x of r.results.slice(1)) assert.notEqual(x.status, 200, `${x.authority} must be refused: ${JSON.stringify(x)}`);
        } finally {
          await b.delete(`/api/v1/namespaces/${DEMO_NS}/services/grpc-unexported`).catch(() => undefined);
        }
      });
      await step(`the link's credentials cannot read Secrets in ${B}`, async () => {
        const a = await ctx.env.client(ctx.a);
        const s = await a.get<{ data: Record<string, string> }>(`/api/v1/namespaces/mesh-system/secrets/cluster-credentials-${B}`);
        const kc = parse(Buffer.from(s.data.kubeconfig!, 'base64').toString('utf8')) as { clusters: Array<{ cluster: { server: string } }> };
        // The Secret names B's API as cluster-a's pods reach it; from here use the runner's address for B.
        const ours = parse(readFileSync(ctx.env.kubeconfig, 'utf8')) as { contexts: Array<{ name: string; context: { cluster: string } }>; clusters: Array<{ name: string; cluster: { server: string } }> };
        const clusterRef = ours.contexts.find((c) => c.name === ctx.b)?.context.cluster;
        const server = ours.clusters.find((c) => c.name === clusterRef)?.cluster.server;
        assert.ok(server, `${ctx.b}'s server in the runner's kubeconfig`);
        kc.clusters[0]!.cluster.server = server;
        const linkClient = await KubeClient.create(kubeConfigFromString(JSON.stringify(kc)), { timeoutMs: 10_000 });
        try {
          await linkClient.get('/api/v1/services');
          await assert.rejects(linkClient.get('/api/v1/namespaces/mesh-system/secrets'), (e: { code?: number }) => e.code === 403);
          await assert.rejects(linkClient.get('/api/v1/namespaces/mesh-system/secrets/mesh-issuer'), (e: { code?: number }) => e.code === 403);
        } finally {
          linkClient.close();
        }
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
