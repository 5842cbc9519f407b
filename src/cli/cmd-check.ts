// `mesh check [CONTEXT…]`: the checks an operator needs, one ✔/✘ line each with a hint to fix it.
// Facts are gathered with I/O; each verdict is a plain function of those facts.
import type { Command } from 'commander';
import https from 'node:https';
import http from 'node:http';
import { z } from 'zod';
import { isAuthError, errorMessage } from '../kube/index.js';
import { TrustBundle, parseCertPem } from '../trust/index.js';
import {
  CLUSTER_LABEL, CLUSTER_NAME_LABEL, MCS_SERVICE_NAME_LABEL, CONTROLLER_NAME, GATEWAY_NAME, ISSUER_SECRET, LINK_GROUP, LINK_PLURAL, MESH_NAMESPACE, MIRRORED_LABEL,
  OUTBOUND_ROUTES_CONFIGMAP, TRUST_ROOTS_CONFIGMAP, TRUST_ROOTS_KEY, type LinkSpec,
} from '../api/index.js';
import type { Link } from '../mirror/index.js';
import { checkImports } from './check-mcs.js';
import { CliError, ExitCode } from './errors.js';
import { connect, helpText, kubeconfigOption, outputOption, parseOptions, type Cluster, getOrNull } from './common.js';
import { render, OutputFormatSchema } from './output.js';
import { secretText, compareTrust, type RootInfo } from './plan.js';
import { deploymentReady } from './cmd-install.js';
import { LINKS_PATH } from './cmd-links.js';
import { checkLink, type Add } from './check-link.js';
import { checkDataPath, GATEWAY_HOLD_MS } from './check-datapath.js';
import { routeVerdict } from './check-routes.js';
import { checkLeftovers, staleIdentitiesLine, type LinkLeftoverFacts } from './check-leftovers.js';
import { checkAuthz } from './check-authz.js';

export { tokenSecondsLeft, TOKEN_MIN_LEFT_S } from './check-link.js';

export interface CheckLine {
  cluster: string;
  check: string;
  ok: boolean;
  detail: string;
  hint?: string;
}

export const MAX_CLOCK_SKEW_S = 30;
export const ISSUER_MIN_LEFT_DAYS = 30;

export interface CheckOptions {
  now?: () => Date;
  /** Test the data path with a short-lived pod per Link and mode (default true). */
  dataPath?: boolean;
}

/** GET /version with the context's credentials: reachability, version and the server's Date header. */
async function probeApi(c: Cluster): Promise<{ ok: true; version: string; date?: Date } | { ok: false; error: string }> {
  const opts: https.RequestOptions = {};
  await c.client.kc.applyToHTTPSOptions(opts);
  const url = new URL(c.server.replace(/\/$/, '') + '/version');
  const mod = url.protocol === 'https:' ? https : http;
  return new Promise((resolve) => {
    const req = mod.get(url, { ...opts, timeout: 5000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => {
        const dateHeader = res.headers.date;
        const date = dateHeader ? new Date(dateHeader) : undefined;
        if (res.statusCode === 200) {
          let version = '';
          try {
            version = (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { gitVersion?: string }).gitVersion ?? '';
          } catch {
            version = '';
          }
          resolve({ ok: true, version, date });
        } else if (res.statusCode === 401 || res.statusCode === 403) {
          resolve({ ok: false, error: `HTTP ${res.statusCode}: the context's credentials are rejected` });
        } else {
          resolve({ ok: true, version: `HTTP ${res.statusCode}`, date });
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error('timed out after 5 s')));
    req.on('error', (err) => resolve({ ok: false, error: err.message }));
  });
}

export interface ClusterFacts extends LinkLeftoverFacts {
  name: string;
  context: string;
  roots: RootInfo[];
}

/** Issuer: present, valid now and not near expiry, signed by a root of the cluster's trust bundle. Returns the bundle's roots. */
async function checkTrust(c: Cluster, context: string, add: Add, now: () => Date): Promise<RootInfo[]> {
  const roots: RootInfo[] = [];
  let bundle: TrustBundle | undefined;
  const cm = await getOrNull(c.client, `/api/v1/namespaces/${MESH_NAMESPACE}/configmaps/${TRUST_ROOTS_CONFIGMAP}`);
  try {
    bundle = TrustBundle.fromPem((cm?.data as Record<string, string> | undefined)?.[TRUST_ROOTS_KEY] ?? '');
    roots.push(...bundle.roots.map((r) => ({ fingerprint: r.fingerprint, trustDomain: r.trustDomain })));
  } catch (err) {
    add('trust bundle', false, `${TRUST_ROOTS_CONFIGMAP}: ${errorMessage(err)}`, `mesh install ${context} --trust-root DIR`);
  }
  const sec = await getOrNull(c.client, `/api/v1/namespaces/${MESH_NAMESPACE}/secrets/${ISSUER_SECRET}`);
  const pem = sec ? secretText(sec, 'tls.crt') : undefined;
  if (!pem) {
    add('issuer valid', false, `Secret ${ISSUER_SECRET} missing or without tls.crt`, `mesh install ${context} --trust-root DIR`);
  } else {
    try {
      const cert = parseCertPem(pem);
      const left = (cert.notAfter.getTime() - now().getTime()) / 86_400_000;
      if (cert.notBefore.getTime() > now().getTime()) add('issuer valid', false, `not valid before ${cert.notBefore.toISOString()}`, 'check the clocks');
      else if (left <= 0) add('issuer valid', false, `expired ${cert.notAfter.toISOString()}`, `mesh install ${context} --trust-root DIR (issues a new one)`);
      else if (left < ISSUER_MIN_LEFT_DAYS) add('issuer valid', false, `expires in ${left.toFixed(1)} days (${cert.notAfter.toISOString()})`, `mesh install ${context} --trust-root DIR (renews it)`);
      else add('issuer valid', true, `until ${cert.notAfter.toISOString()}`);
      if (bundle) {
        const signer = bundle.roots.find((r) => cert.x509.checkIssued(r.cert.x509) && cert.x509.verify(r.cert.x509.publicKey));
        add('issuer chains to root', signer !== undefined, signer ? `root ${signer.fingerprint.slice(0, 23)}…` : 'the issuer is not signed by any root of the trust bundle', signer ? undefined : `mesh install ${context} --trust-root DIR-of-the-shared-root`);
      }
    } catch (err) {
      add('issuer valid', false, `unreadable: ${errorMessage(err)}`, `mesh install ${context} --trust-root DIR`);
    }
  }
  return roots;
}

/** Every check for one context. Returns the lines and (for the cross-cluster check) its trust roots. */
export async function checkContext(context: string, kubeconfig: string | undefined, opts: CheckOptions = {}): Promise<{ lines: CheckLine[]; facts?: ClusterFacts }> {
  const now = opts.now ?? (() => new Date());
  const lines: CheckLine[] = [];
  const add = (check: string, ok: boolean, detail: string, hint?: string) => lines.push({ cluster: context || '(current context)', check, ok, detail, hint });
  let c: Cluster;
  try {
    c = await connect(context, kubeconfig, 5000);
  } catch (err) {
    add('kubeconfig context', false, errorMessage(err), err instanceof CliError ? err.hint : undefined);
    return { lines };
  }
  try {
    const api = await probeApi(c);
    if (!api.ok) {
      add('API reachable', false, `${c.server}: ${api.error}`, `is the cluster up? kubectl --context ${context} get --raw /readyz`);
      return { lines };
    }
    add('API reachable', true, `${c.server} ${api.version}`.trim());
    if (api.date) {
      const skew = Math.round((api.date.getTime() - now().getTime()) / 1000);
      // The Date header has 1 s resolution; certificates are backdated 60 s, so 30 s is the alarm.
      if (Math.abs(skew) > MAX_CLOCK_SKEW_S) add('clock skew', false, `API server clock is ${skew}s ${skew > 0 ? 'ahead of' : 'behind'} this machine`, 'sync both clocks with NTP; certificates and tokens fail beyond a minute of skew');
      else add('clock skew', true, `${Math.abs(skew)}s`);
    }
    const ns = await getOrNull(c.client, `/api/v1/namespaces/${MESH_NAMESPACE}`);
    const name = ns?.metadata?.labels?.[CLUSTER_NAME_LABEL];
    if (!ns || !name || ns.metadata?.deletionTimestamp) {
      const why = ns?.metadata?.deletionTimestamp ? `namespace ${MESH_NAMESPACE} is being deleted (uninstalled)` : `no ${MESH_NAMESPACE} namespace labelled ${CLUSTER_NAME_LABEL}`;
      add('mesh installed', false, why, `mesh install ${context} --trust-root DIR`);
      return { lines };
    }
    add('mesh installed', true, `cluster ${name}`);
    const crd = await getOrNull(c.client, `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${LINK_PLURAL}.${LINK_GROUP}`);
    add('CRDs present', crd !== null, crd ? `${LINK_PLURAL}.${LINK_GROUP}` : `${LINK_PLURAL}.${LINK_GROUP} is missing`, crd ? undefined : `mesh install ${context} --trust-root DIR`);
    for (const dep of [CONTROLLER_NAME, GATEWAY_NAME]) {
      const d = await getOrNull(c.client, `/apis/apps/v1/namespaces/${MESH_NAMESPACE}/deployments/${dep}`);
      if (!d) {
        add(`${dep} ready`, false, 'Deployment missing', `mesh install ${context} --trust-root DIR`);
        continue;
      }
      const r = deploymentReady(d as Parameters<typeof deploymentReady>[0]);
      add(`${dep} ready`, r.ready, `${r.have}/${r.want} replicas ready`, r.ready ? undefined : `kubectl --context ${context} -n ${MESH_NAMESPACE} describe deployment ${dep}`);
    }
    const roots = await checkTrust(c, context, add, now);
    // Links: spec, credentials, remote API, gateway probe; then the data path from a pod in this cluster.
    let links: Link[] = [];
    const valid: { link: Link; spec: LinkSpec }[] = [];
    if (crd) {
      links = (await c.client.list<Link>(LINKS_PATH)).items;
      for (const l of links) {
        const spec = await checkLink(c, l, add, now());
        if (spec) valid.push({ link: l, spec });
      }
      if (opts.dataPath !== false) await checkDataPath(c, name, valid, add, kubeconfig);
    }
    // Shadows whose Link is gone.
    const targets = new Set(links.map((l) => (l.spec as { targetClusterName?: string } | undefined)?.targetClusterName));
    const shadows = (await c.client.list('/api/v1/services', { labelSelector: `${MIRRORED_LABEL}=true` })).items;
    // A derived Service of an MCS import carries the mirror's label but no cluster: not a shadow.
    const orphans = shadows.filter((s) => !s.metadata?.labels?.[MCS_SERVICE_NAME_LABEL] && !targets.has(s.metadata?.labels?.[CLUSTER_LABEL]));
    add(
      'no shadows without a Link',
      orphans.length === 0,
      orphans.length === 0 ? `${shadows.length} shadow(s), all with a Link` : `orphaned: ${orphans.map((s) => `${s.metadata?.namespace}/${s.metadata?.name} (from ${s.metadata?.labels?.[CLUSTER_LABEL] ?? '?'})`).join(', ')}`,
      orphans.length === 0 ? undefined : 'is the controller running? it removes them; or: mesh unlink / kubectl delete service',
    );
    const table = await getOrNull(c.client, `/api/v1/namespaces/${MESH_NAMESPACE}/configmaps/${OUTBOUND_ROUTES_CONFIGMAP}`);
    const routes = routeVerdict(shadows.filter((s) => targets.has(s.metadata?.labels?.[CLUSTER_LABEL])), table, context);
    add('shadows route only through the controller', routes.ok, routes.detail, routes.hint);
    await checkImports(c.client, context, add);
    // Authorization: policies that do not parse, exports open in a locked namespace, Links refusing their peer.
    await checkAuthz(c, valid.map((v) => ({ name: v.link.metadata?.name ?? '', spec: v.spec })), add);
    // What a Link deleted without `mesh unlink` leaves: credentials here, a link identity for another cluster.
    const leftovers = await checkLeftovers(c, links, add);
    return { lines, facts: { name, context, roots, ...leftovers } };
  } catch (err) {
    add('API requests', false, errorMessage(err), isAuthError(err) ? 'the context lacks permission to read the mesh objects' : undefined);
    return { lines };
  } finally {
    c.client.close();
  }
}

/** With several contexts: do their bundles share a root (they must, to link)? */
export function sharedRootLine(facts: Array<Pick<ClusterFacts, 'name' | 'roots'>>): CheckLine | undefined {
  if (facts.length < 2) return undefined;
  for (let i = 1; i < facts.length; i++) {
    const cmp = compareTrust({ name: facts[0].name, roots: facts[0].roots }, { name: facts[i].name, roots: facts[i].roots });
    if (!cmp.ok) return { cluster: facts.map((f) => f.name).join(','), check: 'shared trust root', ok: false, detail: cmp.explanation, hint: 'install every cluster with the same --trust-root' };
  }
  return { cluster: facts.map((f) => f.name).join(','), check: 'shared trust root', ok: true, detail: 'every cluster trusts a common root' };
}

export async function check(contexts: string[], kubeconfig: string | undefined, opts: CheckOptions = {}): Promise<CheckLine[]> {
  const results = await Promise.all(contexts.map((ctx) => checkContext(ctx, kubeconfig, opts)));
  const lines = results.flatMap((r) => r.lines);
  const facts = results.flatMap((r) => (r.facts ? [r.facts] : []));
  const shared = sharedRootLine(facts);
  if (shared) lines.push(shared);
  const stale = staleIdentitiesLine(facts);
  if (stale) lines.push(stale);
  return lines;
}

export function formatCheck(lines: CheckLine[]): string {
  return lines.map((l) => `${l.ok ? '✔' : '✘'} ${l.cluster}: ${l.check}: ${l.detail}${!l.ok && l.hint ? `\n    hint: ${l.hint}` : ''}`).join('\n') + '\n';
}

const Options = z.object({ kubeconfig: z.string().optional(), output: OutputFormatSchema, dataPath: z.boolean().default(true) });

export function registerCheck(program: Command): void {
  const cmd = program
    .command('check')
    .summary('check the mesh in one or more clusters; exit 1 if anything is wrong')
    .description('Run every check an operator needs on each CONTEXT (default: the current context), one ✔/✘ line each with a hint.')
    .argument('[contexts...]', 'kubeconfig contexts to check')
    .addOption(kubeconfigOption())
    .addOption(outputOption())
    .option('--no-data-path', 'skip the data path check (it runs a short-lived pod per Link and mode in mesh-system)')
    .action(async (contexts: string[], raw: unknown) => {
      const o = parseOptions(Options, raw);
      // '' = the kubeconfig's current context.
      const ctxs = contexts.length > 0 ? contexts : [''];
      const lines = await check(ctxs, o.kubeconfig, { dataPath: o.dataPath });
      process.stdout.write(render(lines, o.output, () => formatCheck(lines)));
      const failed = lines.filter((l) => !l.ok).length;
      if (failed > 0) throw new CliError(`${failed} check(s) failed`, ExitCode.Failure);
    });
  helpText(
    cmd,
    `Per cluster: API reachable, clock skew against this machine, mesh installed, CRDs present, controller
and gateway ready, issuer valid and not within ${ISSUER_MIN_LEFT_DAYS} days of expiry, issuer signed by a root of
the trust bundle; per Link: spec valid, credentials valid (token accepted, not expired), remote API
reachable (from this machine, else as the cluster's controller sees it: each line says which), gateway
probe alive (the controller's probe), and the data path; shadows whose Link is gone; what a Link deleted
without mesh unlink leaves: credentials Secrets no Link names, link RBAC without its ServiceAccount;
authorization: every export's allowed-identities and export-to and every namespace default parse (else the
gateway admits nobody), no export admits every caller where its namespace default is locked, no Link's
allowedIdentities refuses its peer's gateway. With
several contexts: every cluster trusts a common root, and every link ServiceAccount's source still links.

Data path: objects can all be right while traffic cannot pass, so for each Link and each mode that has a
shadow, a short-lived pod in mesh-system (the controller's image) opens one TCP connection to one
endpoint of that shadow: flat, a pod of the other cluster (routes between the pod networks are needed);
gateway, the local gateway, whose tunnel to the other cluster must then stay open ${GATEWAY_HOLD_MS / 1000} s. A
failure is a ✘ with what to fix. --no-data-path skips it (no pods are created).`,
    ['mesh check cluster-a cluster-b', 'mesh check kind-cluster-a -o json', 'mesh check cluster-a --no-data-path'],
  );
}
