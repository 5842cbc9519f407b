// The README's "Multi-Cluster Services API" walk-through, run as written: the ```sh block that follows
// "The end-to-end suite runs this block as written" in that section is read from README.md at test time and each line runs in bash with the real `mesh` (this checkout's
// bin/mesh.js on PATH) and the real kubectl, KUBECONFIG set to the environment's and the README's context
// names replaced by the environment's. Every line must have a check below (exit status and what the reader
// is told to look at), and every check must find its line, so neither can drift from the other. What the
// walk-through changes in the shared clusters (a Link b → a, the `web` export label that `mesh unexport`
// also removes) is put back afterwards.
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEMO_NS, eventually, meshBin, mustMesh, repoRoot, runCommand, type CommandResult } from '../../../src/demo/index.js';
import { EXPORT_LABEL } from '../../../src/api/index.js';
import { clusterName, type ScenarioContext } from './context.js';
import { getImport } from './mcs.js';

const SECTION = '## Multi-Cluster Services API';

/** The paragraph that introduces the walk-through says this; the ```sh block right after it is the one run. */
export const MARKER = 'The end-to-end suite runs this block as written';

/** The lines of the walk-through's ```sh block (after MARKER in the MCS section), comment-only lines left out. */
export function walkthroughLines(readme: string): string[] {
  const at = readme.indexOf(`\n${SECTION}\n`);
  if (at < 0) throw new Error(`README.md has no "${SECTION}" section`);
  const end = readme.indexOf('\n## ', at + SECTION.length + 1);
  const section = readme.slice(at, end < 0 ? undefined : end);
  const mark = section.indexOf(MARKER);
  if (mark < 0) throw new Error(`README.md's "${SECTION}" section does not say "${MARKER}" before its walk-through`);
  const m = /\n```sh\n([\s\S]*?)\n```/.exec(section.slice(mark));
  if (!m?.[1]) throw new Error(`README.md's "${SECTION}" section has no \`\`\`sh block after "${MARKER}"`);
  return m[1].split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
}

interface Run extends CommandResult { line: string; vars: Record<string, string>; bin: string }
interface Check { match: RegExp; check(r: Run, ctx: ScenarioContext): Promise<void> }

const ok = (r: Run) => assert.equal(r.code, 0, `\`${r.line}\` exited ${r.code}: ${r.stderr.trim().split('\n').slice(-5).join(' | ')}`);

/** Runs the line again until `good` holds of its output (what the reader sees once the controller caught up). */
async function until(ctx: ScenarioContext, r: Run, what: string, good: (out: string) => boolean): Promise<void> {
  ok(r);
  let last = r.stdout;
  await eventually(`\`${r.line}\` to show ${what}`, async () => {
    if (good(last)) return true;
    const again = await sh(ctx, r.line, r.vars, r.bin);
    ok({ ...r, ...again });
    last = again.stdout;
    return good(last);
  }, 30_000, 1_000).catch((err: unknown) => { throw new Error(`${err instanceof Error ? err.message : String(err)}; last output:\n${last}`); });
}

const CHECKS: Check[] = [
  { match: /^mesh link \S+ \S+ --both\b/, async check(r, ctx) {
    ok(r);
    for (const [x, to] of [[ctx.a, ctx.b], [ctx.b, ctx.a]] as const) assert.ok(await (await ctx.env.client(x)).get(`/apis/multicluster.mesh.io/v1alpha1/namespaces/mesh-system/links/${clusterName(to)}`), `Link ${x} → ${to}`);
  } },
  { match: /^mesh export web -n demo --context \S+\s*(#|$)/, async check(r, ctx) {
    ok(r);
    assert.match(r.stdout, /ServiceExport/, r.stdout);
    assert.ok(await (await ctx.env.client(ctx.b)).get(`/apis/multicluster.x-k8s.io/v1beta1/namespaces/${DEMO_NS}/serviceexports/web`));
  } },
  { match: /get svcex web\b/, async check(r, ctx) {
    assert.match(r.stdout.split('\n')[0] ?? '', /^NAME\s+VALID\s+READY\s+CONFLICT\s+AGE$/, r.stdout);
    await until(ctx, r, 'web True True False', (out) => /^web\s+True\s+True\s+False\s/m.test(out));
  } },
  { match: /get svcim web -o yaml/, async check(r, ctx) {
    const B = clusterName(ctx.b);
    await until(ctx, r, `type ClusterSetIP, one VIP, port 8080/TCP, cluster ${B}`, (out) => /^\s+type: ClusterSetIP$/m.test(out) && /^\s+ips:\n\s+- \d+\.\d+\.\d+\.\d+$/m.test(out)
      && /port: 8080/.test(out) && /protocol: TCP/.test(out) && new RegExp(`^\\s+(- )?cluster: ${B}$`, 'm').test(out));
  } },
  { match: /^mesh imports \S+/, async check(r, ctx) {
    const vip = (await getImport(await ctx.env.client(ctx.a), 'web'))?.spec?.ips?.[0] ?? '<no VIP>';
    await until(ctx, r, `web with ${vip} and ${clusterName(ctx.b)}`, (out) => out.split('\n').some((l) => /^demo\/web\b|^\s*demo\s+web\b/.test(l) && l.includes(vip) && l.includes(clusterName(ctx.b))));
  } },
  { match: /get endpointslices -l multicluster\.kubernetes\.io\/service-name=web/, async check(r, ctx) {
    await until(ctx, r, 'a slice with endpoints', (out) => /^NAME\s+ADDRESSTYPE\s+PORTS\s+ENDPOINTS/m.test(out) && /^\S+\s+IPv4\s+\S+\s+\d+\.\d+\.\d+\.\d+/m.test(out));
  } },
  { match: /^VIP=\$\(/, async check(r, ctx) {
    ok(r);
    assert.equal(r.vars.VIP, (await getImport(await ctx.env.client(ctx.a), 'web'))?.spec?.ips?.[0], 'VIP is the import\'s spec.ips[0]');
  } },
  { match: /-n demo run client --image=nicolaka\/netshoot/, async check(r) { ok(r); } },
  { match: /-n demo wait --for=condition=Ready pod\/client/, async check(r) { ok(r); } },
  { match: /-n demo exec client -- curl .*\$VIP:8080/, async check(r, ctx) {
    ok(r);
    assert.match(r.stdout, new RegExp(`"cluster":"${clusterName(ctx.b)}"`), `the curl to the VIP is answered by ${ctx.b}: ${r.stdout}`);
  } },
  { match: /-n demo exec client -- dig \+short web\.demo\.svc\.clusterset\.local/, async check(r) {
    ok(r);
    assert.equal(r.stdout.trim(), r.vars.VIP, `the clusterset name resolves to the VIP in the pod: ${r.stdout}${r.stderr}`);
  } },
  { match: /^mesh check \S+ \S+/, async check(r, ctx) {
    // The shared sandbox has more than the README's two clusters: its Links to cluster-c belong to other
    // scenarios (cluster-a's flat Link to c cannot mirror c's gateway-label exports, and check says so).
    // Every check about the walk-through's own clusters and Links passes; a ✘ elsewhere is the only excuse
    // for a non-zero exit.
    const others = [ctx.c].filter((x): x is string => !!x).map(clusterName);
    const failed = r.stdout.split('\n').filter((l) => l.startsWith('✘'));
    const ours = failed.filter((l) => !others.some((o) => l.includes(`: link ${o}:`)));
    assert.deepEqual(ours, [], `mesh check: ${r.stdout}`);
    assert.equal(r.code, failed.length ? 1 : 0, `mesh check's exit status says whether a check failed: ${r.stderr}`);
    assert.match(r.stdout, new RegExp(`✔ ${clusterName(ctx.b)}: no MCS export conflicts`), r.stdout);
    assert.match(r.stdout, new RegExp(`✔ ${clusterName(ctx.a)}: every MCS import has ready endpoints: [1-9]`), r.stdout);
  } },
  { match: /^mesh unexport web -n demo --context \S+/, async check(r, ctx) {
    ok(r);
    for (const x of [ctx.a, ctx.b]) await eventually(`no ServiceImport web in ${x}`, async () => (await getImport(await ctx.env.client(x), 'web')) === undefined, 30_000);
  } },
  { match: /-n demo delete pod client/, async check(r) { ok(r); } },
];

/** One line in bash (set -e), with the variables earlier lines set; returns the variables it sets. */
async function sh(ctx: ScenarioContext, line: string, vars: Record<string, string>, bin: string): Promise<CommandResult & { set?: [string, string] }> {
  const assign = /^([A-Z_][A-Z0-9_]*)=/.exec(line)?.[1];
  const script = `set -eo pipefail\n${line}\n${assign ? `printf '\\n%s' "$${assign}" >&3` : ''}`;
  const r = await runCommand('bash', ['-c', assign ? `exec 3>&1; ${script}` : script], { env: { ...vars, KUBECONFIG: ctx.env.kubeconfig, PATH: `${bin}:${process.env.PATH ?? ''}`, MESH_LOG_LEVEL: 'warn' }, timeoutMs: 180_000 });
  if (!assign) return r;
  const value = r.stdout.slice(r.stdout.lastIndexOf('\n') + 1);
  return { ...r, set: [assign, value] };
}

/** Replaces the README's cluster names by the environment's contexts (the same in the sandbox). */
const substitute = (ctx: ScenarioContext, line: string) => line.replace(/\bcluster-a\b/g, ctx.a).replace(/\bcluster-b\b/g, ctx.b);

/** The walk-through's lines against the checks: lines no check covers, checks no line matches. */
export function coverage(lines: string[]): { unchecked: string[]; unused: string[] } {
  return {
    unchecked: lines.filter((l) => !CHECKS.some((c) => c.match.test(l))),
    unused: CHECKS.filter((c) => !lines.some((l) => c.match.test(l))).map((c) => String(c.match)),
  };
}

export const readmeLines = () => walkthroughLines(readFileSync(join(repoRoot, 'README.md'), 'utf8'));

export async function readmeWalkthrough(ctx: ScenarioContext): Promise<void> {
  const lines = readmeLines();
  const { unchecked, unused } = coverage(lines);
  assert.deepEqual(unchecked, [], 'every line of the walk-through has a check here (add one when the README grows)');
  assert.deepEqual(unused, [], 'every check finds its line in the README');
  const b = await ctx.env.client(ctx.b);
  const web = await b.get<{ metadata: { labels?: Record<string, string> } }>(`/api/v1/namespaces/${DEMO_NS}/services/web`);
  const label = web.metadata.labels?.[EXPORT_LABEL];
  const a = await ctx.env.client(ctx.a);
  const linkAB = `/apis/multicluster.mesh.io/v1alpha1/namespaces/mesh-system/links/${clusterName(ctx.b)}`;
  const specBefore = (await a.get<{ spec: unknown }>(linkAB)).spec;
  const hadLink = await (await ctx.env.client(ctx.b)).get(`/apis/multicluster.mesh.io/v1alpha1/namespaces/mesh-system/links/${clusterName(ctx.a)}`).then(() => true, () => false);
  const dir = mkdtempSync(join(tmpdir(), 'mesh-e2e-readme-'));
  writeFileSync(join(dir, 'mesh'), `#!/bin/sh\nexec "${process.execPath}" "${meshBin}" "$@"\n`);
  chmodSync(join(dir, 'mesh'), 0o755);
  const vars: Record<string, string> = {};
  try {
    for (const raw of lines) {
      const line = substitute(ctx, raw);
      ctx.log(`    $ ${line}`);
      const r = await sh(ctx, line, vars, dir);
      if (r.set) vars[r.set[0]] = r.set[1];
      await CHECKS.find((c) => c.match.test(raw))!.check({ ...r, line, vars: { ...vars }, bin: dir }, ctx);
    }
    // `mesh link --both` over the runner's Link a → b (made with explicit addresses) leaves it as it was.
    assert.deepEqual((await a.get<{ spec: unknown }>(linkAB)).spec, specBefore, `the Link ${ctx.a} → ${ctx.b} after the walk-through`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await runCommand('kubectl', ['--kubeconfig', ctx.env.kubeconfig, '--context', ctx.a, '-n', DEMO_NS, 'delete', 'pod', 'client', '--ignore-not-found', '--grace-period=1'], { timeoutMs: 60_000 });
    await b.delete(`/apis/multicluster.x-k8s.io/v1beta1/namespaces/${DEMO_NS}/serviceexports/web`).catch(() => undefined);
    // `mesh unexport` ends the label export too; the shadow scenarios need it back as it was.
    if (label) await b.patch(`/api/v1/namespaces/${DEMO_NS}/services/web`, { metadata: { labels: { [EXPORT_LABEL]: label } } });
    if (!hadLink) await mustMesh(['unlink', ctx.b, ctx.a, '--wait-timeout', '60s'], ctx.env.kubeconfig, 90_000);
  }
}
