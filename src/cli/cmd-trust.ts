// `mesh trust …`: make the shared root (kept off-cluster), per-cluster issuers, inspect and verify
// certificates, edit trust bundles for a root rotation, and run the Identity service on its own.
import type { Command } from 'commander';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { z } from 'zod';
import {
  createRoot, createIssuer, issueLeaf, generateKeyPair, readRoot, readIssuer, writeRoot, writeIssuer, TrustBundle, verifyChain, parseCsr,
  parseCertsPem, uriSans, isTrustError, TrustError, DEFAULT_ROOT_VALIDITY_DAYS,
  DEFAULT_ISSUER_VALIDITY_DAYS, DEFAULT_LEAF_TTL_SECONDS, ROOT_CERT_FILE, type CertificateAuthority,
} from '../trust/index.js';
import { startIdentityService } from '../identity/index.js';
import { DEFAULT_TRUST_DOMAIN, IDENTITY_PORT, ISSUER_SECRET, MESH_NAMESPACE, TRUST_ROOTS_CONFIGMAP, dnsLabelSchema } from '../api/index.js';
import { loadKubeConfig } from '../kube/index.js';
import { createLogger } from '../log/index.js';
import { CliError, ExitCode } from './errors.js';
import { helpText, outputOption } from './common.js';
import { render, formatTable, type OutputFormat } from './output.js';

const days = z.coerce.number().positive('must be a positive number of days').max(36500, 'must be at most 100 years');

/** Validates options; a bad value is a usage error naming the flag as typed (--cluster-name). */
function parseOptions<T>(schema: z.ZodType<T>, raw: unknown): T {
  const r = schema.safeParse(raw);
  if (!r.success) {
    const flag = (k: PropertyKey | undefined) => `--${String(k).replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())}`;
    throw new CliError(r.error.issues.map((i) => `invalid flag ${flag(i.path[0])}: ${i.message}`).join('; '), ExitCode.Usage);
  }
  return r.data;
}

/** TrustErrors about input are the user's to fix (exit 2); file and other problems are failures (exit 1). */
function cliError(err: unknown, what: string): never {
  if (err instanceof CliError) throw err;
  if (isTrustError(err)) {
    const usage = ['INVALID_SPIFFE_ID', 'INVALID_ARGUMENT'].includes(err.code);
    throw new CliError(`${what}: ${err.message}`, usage ? ExitCode.Usage : ExitCode.Failure);
  }
  throw new CliError(`${what}: ${err instanceof Error ? err.message : String(err)}`);
}

async function readText(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    throw new CliError(`cannot read ${what} ${path}: ${(err as Error).message}`);
  }
}

/** --root may name the directory with root.crt/root.key or the root.crt file itself (public part only). */
async function rootCertPem(pathArg: string): Promise<string> {
  const p = existsSync(pathArg) && statSync(pathArg).isDirectory() ? join(pathArg, ROOT_CERT_FILE) : pathArg;
  return readText(p, 'root certificate');
}

function summary(ca: CertificateAuthority, files: Record<string, string>) {
  return {
    kind: ca.kind,
    trustDomain: ca.trustDomain,
    ...(ca.clusterName ? { clusterName: ca.clusterName } : {}),
    subject: ca.cert.x509.subject?.replace(/\n/g, ', '),
    notAfter: ca.notAfter.toISOString(),
    fingerprint: ca.cert.x509.fingerprint256,
    files,
  };
}

function print(data: Record<string, unknown>, format: OutputFormat): void {
  process.stdout.write(render(data, format, () => formatTable({ columns: ['FIELD', 'VALUE'], rows: Object.entries(data).map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)]) })));
}

export interface CertInfo {
  subject: string;
  issuer: string;
  uris: string[];
  ca: boolean;
  notBefore: string;
  notAfter: string;
  serial: string;
  fingerprint: string;
}

export function inspectPem(text: string): { certificates: CertInfo[]; csr?: { uris: string[]; signatureValid: boolean } } {
  const certificates = parseCertsPem(text).map((c) => ({
    subject: c.x509.subject?.replace(/\n/g, ', ') ?? '',
    issuer: c.x509.issuer?.replace(/\n/g, ', ') ?? '',
    uris: uriSans(c),
    ca: c.x509.ca,
    notBefore: c.notBefore.toISOString(),
    notAfter: c.notAfter.toISOString(),
    serial: c.x509.serialNumber,
    fingerprint: c.x509.fingerprint256,
  }));
  let csr;
  if (text.includes('CERTIFICATE REQUEST-----')) {
    const p = parseCsr(text);
    csr = { uris: p.uris, signatureValid: true };
  }
  if (certificates.length === 0 && !csr) throw new TrustError('INVALID_PEM', 'no CERTIFICATE or CERTIFICATE REQUEST PEM blocks found');
  return { certificates, ...(csr ? { csr } : {}) };
}

const ROTATE_LONG = `
Rotating the trust root without refusing a single connection (each step is safe on its own; wait until
every workload has picked up a step before starting the next — leaves renew at 70% of their life, or
restart/renew them):

  1. Add the new root to the bundle:
       mesh trust init --trust-domain mesh.local --out new-root/
       mesh trust rotate add-root --bundle ca-bundle.crt --root new-root/ > ca-bundle.next.crt
     Put ca-bundle.next.crt into ConfigMap mesh-trust-roots (key ca-bundle.crt) in every cluster.
     Now everyone trusts chains from either root.
  2. Reissue every cluster's issuer under the new root:
       mesh trust issuer --cluster-name cluster-a --root new-root/ --out issuer-a/
     Put it into Secret mesh-issuer (tls.crt, tls.key, ca.crt = the bundle) in that cluster. The Identity
     service reloads it without a restart; workloads get leaves from the new issuer as they renew.
  3. When no leaf from an old issuer is still in use (one leaf lifetime, 24 h by default), remove the old root:
       mesh trust rotate remove-root --bundle ca-bundle.next.crt --root old-root/root.crt > ca-bundle.final.crt
     and update ConfigMap mesh-trust-roots again.`;

export function registerTrust(program: Command): void {
  const trust = program.command('trust').description('Trust material: the shared root, per-cluster issuers, bundles and the Identity service');
  helpText(trust, 'One root (kept off-cluster) signs one issuer per cluster; issuers sign 24 h workload leaves with SPIFFE ids.', [
    'mesh trust init --trust-domain mesh.local --out ./root',
    'mesh trust issuer --cluster-name cluster-a --root ./root --out ./cluster-a',
    'mesh trust inspect ./cluster-a/issuer.crt',
  ]);

  registerTrustFiles(trust);
  registerTrustInspect(trust);
  registerTrustRotate(trust);
  registerIdentityService(trust);
}

/** init, issuer, leaf: the files of the trust chain. */
function registerTrustFiles(trust: Command): void {
  helpText(
    trust
      .command('init')
      .alias('create-root')
      .description('Create the trust root: root.crt and root.key (ECDSA P-256, CA, 10 years by default)')
      .option('--trust-domain <domain>', 'SPIFFE trust domain', DEFAULT_TRUST_DOMAIN)
      .requiredOption('--out <dir>', 'directory to write root.crt and root.key into')
      .option('--validity-days <days>', 'lifetime of the root', String(DEFAULT_ROOT_VALIDITY_DAYS))
      .option('--force', 'overwrite existing files', false)
      .addOption(outputOption('table'))
      .action(async (raw: unknown) => {
        const o = parseOptions(z.object({ trustDomain: z.string().min(1), out: z.string().min(1), validityDays: days, force: z.boolean(), output: z.enum(['table', 'json', 'yaml']) }), raw);
        let root: CertificateAuthority;
        try {
          root = createRoot({ trustDomain: o.trustDomain, validityDays: o.validityDays });
        } catch (err) {
          cliError(err, 'cannot create the root');
        }
        const files = await writeRoot(o.out, root, { overwrite: o.force }).catch((err: unknown) => cliError(err, 'cannot write the root'));
        print(summary(root, { cert: files.certPath, key: files.keyPath }), o.output);
      }),
    'The root key never enters a cluster: keep --out somewhere safe. `create-root` is the same command.',
    ['mesh trust init --trust-domain mesh.local --out ./root', 'mesh trust init --out ./root --validity-days 1825 -o json'],
  );

  helpText(
    trust
      .command('issuer')
      .description('Create a cluster issuer signed by the root: issuer.crt and issuer.key (CA pathLen 0, 1 year by default)')
      .requiredOption('--cluster-name <name>', 'the cluster this issuer belongs to (its subject OU)')
      .requiredOption('--root <dir>', 'directory with root.crt and root.key')
      .requiredOption('--out <dir>', 'directory to write issuer.crt and issuer.key into')
      .option('--validity-days <days>', 'lifetime of the issuer (capped at the root\'s)', String(DEFAULT_ISSUER_VALIDITY_DAYS))
      .option('--force', 'overwrite existing files', false)
      .addOption(outputOption('table'))
      .action(async (raw: unknown) => {
        const o = parseOptions(z.object({ clusterName: dnsLabelSchema, root: z.string().min(1), out: z.string().min(1), validityDays: days, force: z.boolean(), output: z.enum(['table', 'json', 'yaml']) }), raw);
        const root = await readRoot(o.root).catch((err: unknown) => cliError(err, 'cannot load the root'));
        let issuer: CertificateAuthority;
        try {
          issuer = createIssuer({ root, clusterName: o.clusterName, validityDays: o.validityDays });
        } catch (err) {
          cliError(err, 'cannot create the issuer');
        }
        const files = await writeIssuer(o.out, issuer, { overwrite: o.force }).catch((err: unknown) => cliError(err, 'cannot write the issuer'));
        print(summary(issuer, { cert: files.certPath, key: files.keyPath }), o.output);
      }),
    'Store it in the cluster as Secret mesh-issuer (kubernetes.io/tls: tls.crt, tls.key, ca.crt = root bundle); `mesh install` does that.',
    ['mesh trust issuer --cluster-name cluster-a --root ./root --out ./cluster-a'],
  );

  registerTrustLeaf(trust);
}

/** leaf: a workload certificate from an issuer directory (tests and manual setups). */
function registerTrustLeaf(trust: Command): void {
  helpText(
    trust
      .command('leaf')
      .description('Issue a workload leaf from an issuer directory (for tests and manual setups): tls.crt (chain) and tls.key')
      .requiredOption('--issuer <dir>', 'directory with issuer.crt and issuer.key')
      .requiredOption('--identity <spiffe-id>', 'spiffe://<trust-domain>/ns/<ns>/sa/<sa>')
      .requiredOption('--out <dir>', 'directory to write tls.crt and tls.key into')
      .option('--ttl-seconds <seconds>', 'lifetime (capped at the issuer\'s)', String(DEFAULT_LEAF_TTL_SECONDS))
      .action(async (raw: unknown) => {
        const o = parseOptions(z.object({ issuer: z.string().min(1), identity: z.string().min(1), out: z.string().min(1), ttlSeconds: z.coerce.number().int().positive() }), raw);
        const issuer = await readIssuer(o.issuer).catch((err: unknown) => cliError(err, 'cannot load the issuer'));
        const kp = generateKeyPair();
        let chain: string;
        try {
          chain = issueLeaf({ issuer, identity: o.identity, publicKey: kp.publicKey, ttlSeconds: o.ttlSeconds }).chainPem;
        } catch (err) {
          cliError(err, 'cannot issue the leaf');
        }
        try {
          // As init and issuer do: --out may name a directory that does not exist yet.
          await mkdir(o.out, { recursive: true, mode: 0o700 });
          await writeFile(join(o.out, 'tls.key'), kp.keyPem, { mode: 0o600 });
          await writeFile(join(o.out, 'tls.crt'), chain);
        } catch (err) {
          throw new CliError(`cannot write to ${o.out}: ${(err as Error).message}`);
        }
        process.stdout.write(`${join(o.out, 'tls.crt')}\n${join(o.out, 'tls.key')}\n`);
      }),
    'The chain is leaf first, then the issuer.',
    ['mesh trust leaf --issuer ./cluster-a --identity spiffe://mesh.local/ns/default/sa/web --out ./web'],
  );

}

/** inspect and verify certificates. */
function registerTrustInspect(trust: Command): void {
  helpText(
    trust
      .command('inspect')
      .argument('<file>', 'PEM file: certificates (a chain or bundle) or a CSR')
      .description('Show subject, issuer, SPIFFE ids, CA flag, validity and fingerprint of each certificate')
      .addOption(outputOption('table'))
      .action(async (file: string, raw: unknown) => {
        const o = parseOptions(z.object({ output: z.enum(['table', 'json', 'yaml']) }), raw);
        const text = await readText(file, 'file');
        let info: ReturnType<typeof inspectPem>;
        try {
          info = inspectPem(text);
        } catch (err) {
          cliError(err, `cannot read ${file}`);
        }
        process.stdout.write(render(info, o.output, () => {
          let out = formatTable({
            columns: ['SUBJECT', 'ISSUER', 'CA', 'SPIFFE-ID', 'NOT-AFTER', 'SHA256'],
            rows: info.certificates.map((c) => [c.subject || '(empty)', c.issuer, String(c.ca), c.uris.join(',') || '-', c.notAfter, c.fingerprint.slice(0, 23) + '…']),
          });
          if (info.csr) out += `CSR: asks for ${info.csr.uris.join(', ') || 'no URI'}; signature valid\n`;
          return out;
        }));
      }),
    'Fails (exit 1) on a malformed file or a CSR whose signature does not verify.',
    ['mesh trust inspect ./cluster-a/issuer.crt', 'mesh trust inspect ca-bundle.crt -o json'],
  );

  helpText(
    trust
      .command('verify')
      .argument('<chain>', 'PEM chain: leaf first, then intermediates')
      .requiredOption('--bundle <file>', 'trust bundle (PEM roots)')
      .description('Check a chain against the bundle now: signatures, CA flags, validity, and print the SPIFFE id')
      .action(async (chain: string, raw: unknown) => {
        const o = parseOptions(z.object({ bundle: z.string().min(1) }), raw);
        const [chainPem, bundlePem] = await Promise.all([readText(chain, 'chain'), readText(o.bundle, 'bundle')]);
        try {
          process.stdout.write(`${verifyChain(chainPem, bundlePem).uri}\n`);
        } catch (err) {
          cliError(err, 'chain not trusted');
        }
      }),
    'Exit 0 and the SPIFFE id when trusted; exit 1 with the reason otherwise.',
    ['mesh trust verify ./web/tls.crt --bundle ./root/root.crt'],
  );

}

function registerTrustRotate(trust: Command): void {
  const rotate = trust.command('rotate').description('Edit the trust bundle for a root rotation (add the new root, later remove the old one)');
  helpText(rotate, ROTATE_LONG, [
    'mesh trust rotate add-root --bundle ca-bundle.crt --root ./new-root > ca-bundle.next.crt',
    'mesh trust rotate remove-root --bundle ca-bundle.next.crt --root ./old-root/root.crt > ca-bundle.final.crt',
  ]);
  rotate
    .command('add-root')
    .description('Print the bundle with the new root added (step 1)')
    .requiredOption('--bundle <file>', 'current bundle (PEM)')
    .requiredOption('--root <dir|file>', 'the new root: its directory or root.crt')
    .action(async (raw: unknown) => {
      const o = parseOptions(z.object({ bundle: z.string().min(1), root: z.string().min(1) }), raw);
      const [bundlePem, rootPem] = await Promise.all([readText(o.bundle, 'bundle'), rootCertPem(o.root)]);
      try {
        const current = TrustBundle.fromPem(bundlePem);
        const added = TrustBundle.fromPem(rootPem);
        const next = current.with(rootPem);
        if (added.trustDomains().some((td) => !current.trustDomains().includes(td))) {
          throw new CliError(`the new root is for trust domain ${added.trustDomains().join(', ')}, the bundle for ${current.trustDomains().join(', ')}`, ExitCode.Usage);
        }
        process.stdout.write(next.pem());
        process.stderr.write(`bundle: ${current.roots.length} → ${next.roots.length} roots; next: reissue each cluster's issuer with \`mesh trust issuer --root <new-root-dir>\`\n`);
      } catch (err) {
        cliError(err, 'cannot add the root');
      }
    });
  rotate
    .command('remove-root')
    .description('Print the bundle without the old root (step 3)')
    .requiredOption('--bundle <file>', 'current bundle (PEM)')
    .requiredOption('--root <dir|file>', 'the old root: its directory or root.crt')
    .action(async (raw: unknown) => {
      const o = parseOptions(z.object({ bundle: z.string().min(1), root: z.string().min(1) }), raw);
      const [bundlePem, rootPem] = await Promise.all([readText(o.bundle, 'bundle'), rootCertPem(o.root)]);
      try {
        const current = TrustBundle.fromPem(bundlePem);
        const fp = new X509Certificate(rootPem).fingerprint256;
        if (!current.has(fp)) throw new CliError(`that root (${fp}) is not in the bundle`, ExitCode.Failure);
        const next = current.without(rootPem);
        process.stdout.write(next.pem());
        process.stderr.write(`bundle: ${current.roots.length} → ${next.roots.length} roots\n`);
      } catch (err) {
        cliError(err, 'cannot remove the root');
      }
    });

}

function registerIdentityService(trust: Command): void {
  helpText(
    trust
      .command('identity-service')
      .description('Run the Identity gRPC service alone (it normally runs inside `mesh controller`)')
      .option('--kubeconfig <path>', 'kubeconfig (default: $KUBECONFIG, in-cluster, ~/.kube/config)')
      .option('--namespace <ns>', `where Secret ${ISSUER_SECRET} and ConfigMap ${TRUST_ROOTS_CONFIGMAP} live`, MESH_NAMESPACE)
      .option('--host <address>', 'address to listen on (default: $POD_IP or 0.0.0.0)')
      .option('--port <port>', 'port (0 = any free port)', String(IDENTITY_PORT))
      .option('--leaf-ttl-seconds <seconds>', 'lifetime of issued leaves', String(DEFAULT_LEAF_TTL_SECONDS))
      .action(async (raw: unknown) => {
        const o = parseOptions(z.object({
          kubeconfig: z.string().optional(), namespace: dnsLabelSchema, host: z.string().optional(),
          port: z.coerce.number().int().min(0).max(65535), leafTtlSeconds: z.coerce.number().int().positive(),
        }), raw);
        let kc;
        try {
          kc = loadKubeConfig({ kubeconfig: o.kubeconfig });
        } catch (err) {
          throw new CliError((err as Error).message, ExitCode.Usage);
        }
        const svc = await startIdentityService({ kubeConfig: kc, namespace: o.namespace, host: o.host, port: o.port, leafTtlSeconds: o.leafTtlSeconds, logger: createLogger('identity') })
          .catch((err: unknown) => cliError(err, 'cannot start the identity service'));
        process.stdout.write(JSON.stringify({ ready: true, host: svc.host, port: svc.port, identity: svc.identity }) + '\n');
        await new Promise<void>((resolve) => {
          const stop = () => { process.off('SIGTERM', stop); process.off('SIGINT', stop); resolve(); };
          process.on('SIGTERM', stop);
          process.on('SIGINT', stop);
        });
        await svc.stop();
      }),
    'Prints {"ready":true,"port":…} on stdout once serving. Needs get/list/watch on the Secret and ConfigMap and create on tokenreviews.',
    ['mesh trust identity-service --kubeconfig ./kubeconfig --port 0'],
  );
}
