// Shared fixtures for gateway tests and the benchmark: a PKI from src/trust (one root, an issuer per
// cluster, gateway leaves; a foreign root and an expired leaf for refusals), echo servers, and helpers
// to run two gateways back to back on loopback.
import net from 'node:net';
import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRoot, createIssuer, issueLeaf, generateKeyPair, type CertificateAuthority } from '../../src/trust/index.js';
import type { Credentials, GatewayMetrics } from '../../src/gateway/index.js';
import { callerOfHeader, parseProxyV2 } from '../../src/api/index.js';

export const TRUST_DOMAIN = 'mesh.local';

export interface Pki {
  root: CertificateAuthority;
  issuers: Map<string, CertificateAuthority>;
  bundle: string;
  leaf(cluster: string, ns?: string, sa?: string, opts?: { ttlSeconds?: number; now?: Date }): Credentials;
}

export function createPki(clusters: string[] = ['cluster-a', 'cluster-b'], trustDomain = TRUST_DOMAIN): Pki {
  const root = createRoot({ trustDomain });
  const issuers = new Map(clusters.map((c) => [c, createIssuer({ root, clusterName: c })]));
  return {
    root,
    issuers,
    bundle: root.certPem,
    leaf(cluster, ns = 'mesh-system', sa = 'mesh-gateway', opts = {}) {
      const issuer = issuers.get(cluster);
      if (!issuer) throw new Error(`no issuer for ${cluster}`);
      const kp = generateKeyPair();
      const leaf = issueLeaf({ issuer, identity: `spiffe://${trustDomain}/ns/${ns}/sa/${sa}`, publicKey: kp.key, ...opts });
      return { key: kp.keyPem, certChain: leaf.chainPem, bundle: root.certPem };
    },
  };
}

/** A leaf whose validity ended an hour ago (issuer and leaf both made "in the past"). */
export function expiredLeaf(pki: Pki, cluster: string): Credentials {
  const past = new Date(Date.now() - 2 * 86_400_000);
  const issuer = createIssuer({ root: pki.root, clusterName: cluster, now: past, validityDays: 30 });
  const kp = generateKeyPair();
  const leaf = issueLeaf({ issuer, identity: `spiffe://${TRUST_DOMAIN}/ns/default/sa/old`, publicKey: kp.key, ttlSeconds: 3600, now: past });
  return { key: kp.keyPem, certChain: leaf.chainPem, bundle: pki.bundle };
}

/** Writes credentials as files (for `mesh gateway --cert --key --bundle`, curl, openssl). */
export function writeCredentials(c: Credentials, dir = mkdtempSync(join(tmpdir(), 'gw-creds-'))): { dir: string; cert: string; key: string; bundle: string; remove(): void } {
  const cert = join(dir, 'tls.crt');
  const key = join(dir, 'tls.key');
  const bundle = join(dir, 'ca.crt');
  writeFileSync(cert, c.certChain);
  writeFileSync(key, c.key, { mode: 0o600 });
  writeFileSync(bundle, c.bundle);
  return { dir, cert, key, bundle, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** TCP echo server honouring half-close: echoes everything, then ends when the client ends. */
export async function startEchoServer(host = '127.0.0.1'): Promise<{ server: net.Server; port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    s.pipe(s);
  });
  await new Promise<void>((r) => server.listen(0, host, r));
  return {
    server,
    port: (server.address() as net.AddressInfo).port,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

export function sha256(b: Buffer | string): string {
  return createHash('sha256').update(b).digest('hex');
}

/** Connects, sends `data`, half-closes, collects everything until the server's FIN. */
export function roundTrip(port: number, data: Buffer, host = '127.0.0.1'): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host, port, allowHalfOpen: true });
    const chunks: Buffer[] = [];
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('error', reject);
    s.on('end', () => {
      s.end();
      resolve(Buffer.concat(chunks));
    });
    s.on('connect', () => s.end(data));
  });
}

/** Resolves with the error code when the connection is reset/closed without a clean end, or 'end'. */
export function outcomeOf(s: net.Socket): Promise<string> {
  return new Promise((resolve) => {
    let ended = false;
    s.on('end', () => {
      ended = true;
    });
    s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
    s.on('close', () => resolve(ended ? 'end' : 'closed'));
    // Only a reading socket notices a reset.
    s.resume();
  });
}

/** A target that reads the PROXY v2 header a gateway sends and answers with the caller it names (JSON line;
 * null without a header or caller TLVs). */
export async function startCallerEchoServer(): Promise<{ server: net.Server; port: number }> {
  const server = net.createServer((s) => {
    s.on('error', () => {});
    let buf = Buffer.alloc(0);
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      const p = parseProxyV2(buf);
      if (p.kind === 'incomplete') return;
      s.end(JSON.stringify(p.kind === 'header' ? callerOfHeader(p.header) ?? null : null) + '\n');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as net.AddressInfo).port };
}

/** The sum of a metric's samples whose labels include `labels` (by default, those towards cluster-b). */
export async function metricSum(m: GatewayMetrics, name: string, labels = 'remote_cluster="cluster-b"'): Promise<number> {
  const text = await m.registry.getSingleMetricAsString(name);
  let sum = 0;
  for (const line of text.split('\n')) if (line.startsWith(`${name}{`) && line.includes(labels)) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  return sum;
}
