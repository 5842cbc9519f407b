// The scenario runner as a program (the kind scripts call it; the sandbox test calls the same functions):
//   node dist/test/e2e/run.js --context-a A --context-b B [--context-c C] [--kubeconfig K]
//        [--env sandbox|kind] [--sandbox-dir D] [--scenarios 1,2,…] [--image mesh-federation:<v>]
//        [--trust-root DIR] [--mode gateway|flat] [--dry-run]
// The clusters must already have the mesh installed with one shared root. Exit 0 when no scenario failed.
import { parseArgs } from 'node:util';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { KindEnvironment, SandboxEnvironment, type Environment } from '../../src/demo/index.js';
import { readState } from '../../src/sandbox/index.js';
import { parseScenarioList, prepare, renderResult, runScenario, selected } from './runner.js';
import type { ScenarioContext } from './scenarios/index.js';

const Flags = z.object({
  'context-a': z.string().min(1),
  'context-b': z.string().min(1),
  'context-c': z.string().min(1).optional(),
  kubeconfig: z.string().min(1).optional(),
  env: z.enum(['sandbox', 'kind']).optional(),
  'sandbox-dir': z.string().min(1).optional(),
  scenarios: z.string().optional(),
  image: z.string().min(1).optional(),
  'trust-root': z.string().min(1).optional(),
  mode: z.enum(['gateway', 'flat']).optional(),
  'dry-run': z.boolean().optional(),
  'skip-setup': z.boolean().optional(),
}).refine((f) => (f.env ?? (f['sandbox-dir'] ? 'sandbox' : 'kind')) !== 'sandbox' || f['sandbox-dir'], { message: '--env sandbox needs --sandbox-dir' });

const USAGE = 'usage: run.js --context-a A --context-b B [--context-c C] [--kubeconfig K] [--env sandbox|kind] [--sandbox-dir D] [--scenarios 1,2,…] [--image I] [--trust-root DIR] [--mode gateway|flat] [--dry-run] [--skip-setup]';

export function environmentFrom(f: z.infer<typeof Flags>, print: (l: string) => void): Environment {
  const env = f.env ?? (f['sandbox-dir'] ? 'sandbox' : 'kind');
  if (env === 'sandbox') {
    const st = readState(f['sandbox-dir']!);
    return new SandboxEnvironment(f.kubeconfig ?? join(st.dir, 'kubeconfig'), st.dir, st.mode, st.clusters.map((c) => ({
      name: c.plan.name, api: c.hostApiUrl ?? '', apiFromClusters: c.apiUrl ?? '', node: c.plan.nodeAddress, dns: c.dns ?? '',
      podCIDR: c.plan.podCIDR, serviceCIDR: c.plan.serviceCIDR, ...(c.plan.netns ? { netns: c.plan.netns } : {}),
    })));
  }
  return new KindEnvironment(f.kubeconfig ?? process.env.KUBECONFIG ?? join(homedir(), '.kube', 'config'), f['dry-run'] ?? false, print);
}

export async function main(argv: string[]): Promise<number> {
  const print = (l: string) => process.stdout.write(l + '\n');
  let values: Record<string, unknown>;
  try {
    values = parseArgs({
      args: argv,
      options: {
        'context-a': { type: 'string' }, 'context-b': { type: 'string' }, 'context-c': { type: 'string' }, kubeconfig: { type: 'string' },
        env: { type: 'string' }, 'sandbox-dir': { type: 'string' }, scenarios: { type: 'string' }, image: { type: 'string' },
        'trust-root': { type: 'string' }, mode: { type: 'string' }, 'dry-run': { type: 'boolean' }, 'skip-setup': { type: 'boolean' },
      },
      strict: true,
    }).values;
  } catch (err) {
    process.stderr.write(`run.js: ${err instanceof Error ? err.message : String(err)}\n${USAGE}\n`);
    return 2;
  }
  const f = Flags.safeParse(values);
  if (!f.success) {
    process.stderr.write(`run.js: ${f.error.issues.map((i) => `${i.path.length ? `--${i.path.join('.')}: ` : ''}${i.message}`).join('; ')}\n${USAGE}\n`);
    return 2;
  }
  let ids: number[] | undefined;
  try {
    ids = parseScenarioList(f.data.scenarios);
  } catch (err) {
    process.stderr.write(`run.js: ${err instanceof Error ? err.message : String(err)}\n`);
    return 2;
  }
  const env = environmentFrom(f.data, print);
  const ctx: ScenarioContext = {
    env, a: f.data['context-a'], b: f.data['context-b'], log: print,
    ...(f.data['context-c'] ? { c: f.data['context-c'] } : {}),
    ...(f.data['trust-root'] ? { trustRoot: f.data['trust-root'] } : {}),
  };
  const chosen = selected(ids);
  if (f.data['dry-run']) {
    // No cluster is touched: print the plan and the environment's own commands.
    print(`dry-run: ${env.kind} environment, contexts ${ctx.a} → ${ctx.b}${ctx.c ? ` (+ ${ctx.c})` : ''}`);
    for (const s of chosen) print(`dry-run: scenario ${s.id}. ${s.name}`);
    await env.flatRoute(ctx.a, ctx.b, false);
    await env.stopApiServer(ctx.b);
    await env.startApiServer(ctx.b);
    await env.traffic(ctx.a, { url: 'http://web-cluster-b.demo.svc.cluster.local:8080/', count: 1 });
    return 0;
  }
  try {
    if (!f.data['skip-setup']) await prepare(ctx, { ...(f.data.image ? { image: f.data.image } : {}), ...(f.data.mode ? { mode: f.data.mode } : {}) });
    let failed = 0;
    for (const s of chosen) {
      print(`— scenario ${s.id}: ${s.name}`);
      const r = await runScenario(s, ctx);
      print(renderResult(r));
      if (r.outcome === 'fail') failed++;
    }
    print(failed ? `${failed} scenario(s) failed` : 'all scenarios passed (or were skipped with a reason)');
    return failed ? 1 : 0;
  } finally {
    env.close();
  }
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  main(process.argv.slice(2)).then((code) => { process.exitCode = code; }, (err: unknown) => {
    process.stderr.write(`run.js: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  });
}
