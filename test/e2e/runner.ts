// The scenario runner's library: prepare clusters that already have the mesh installed with one shared root
// (apps in B, the traffic agent in A, the link A → B), then run the chosen scenarios and report each plainly.
import { DEMO_NS, deployDemoApps, deployTrafficAgent, demoTargets, link, waitForShadows, type Environment } from '../../src/demo/index.js';
import { SCENARIOS, type Scenario, type ScenarioContext } from './scenarios/index.js';
import { clusterName } from './scenarios/context.js';

export interface ScenarioResult {
  id: number;
  name: string;
  outcome: 'pass' | 'fail' | 'skip';
  detail?: string;
  ms: number;
}

export async function prepare(ctx: ScenarioContext, o: { image?: string; mode?: 'gateway' | 'flat' } = {}): Promise<void> {
  const { env, a, b } = ctx;
  const B = clusterName(b);
  await Promise.all([
    deployDemoApps(env, b, B, { progress: ctx.log, ...(o.image ? { image: o.image } : {}) }),
    deployTrafficAgent(env, a, clusterName(a), { progress: ctx.log, ...(o.image ? { image: o.image } : {}) }),
  ]);
  await link(env, a, b, { progress: ctx.log, ...(o.mode ? { mode: o.mode } : {}) });
  if (env.network === 'isolated' || env.network === 'docker') await env.flatRoute(a, b, false);
  await waitForShadows(env, a, demoTargets(B));
  ctx.log(`prepared: apps in ${b}/${DEMO_NS}, traffic agent in ${a}, ${a} linked to ${b}`);
}

/** Parses "1,2,5-7" into scenario ids; undefined = all. */
export function parseScenarioList(s: string | undefined): number[] | undefined {
  if (!s) return undefined;
  const out = new Set<number>();
  for (const part of s.split(',').map((x) => x.trim()).filter(Boolean)) {
    const m = part.match(/^(\d+)(?:-(\d+))?$/);
    if (!m) throw new Error(`--scenarios: "${part}" is not a number or range`);
    for (let i = Number(m[1]); i <= Number(m[2] ?? m[1]); i++) out.add(i);
  }
  for (const id of out) if (!SCENARIOS.some((x) => x.id === id)) throw new Error(`--scenarios: no scenario ${id} (have ${SCENARIOS.map((x) => x.id).sort().join(',')})`);
  return [...out];
}

export function selected(ids?: number[]): Scenario[] {
  return ids ? SCENARIOS.filter((s) => ids.includes(s.id)) : SCENARIOS;
}

/** Runs one scenario; `step` logs each sub-check and names it in a failure. */
export async function runScenario(s: Scenario, ctx: ScenarioContext): Promise<ScenarioResult> {
  const t0 = Date.now();
  const why = s.skip?.(ctx);
  if (why) return { id: s.id, name: s.name, outcome: 'skip', detail: why, ms: 0 };
  try {
    await s.run(ctx, async (name, fn) => {
      try {
        await fn();
        ctx.log(`  ✔ ${name}`);
      } catch (err) {
        ctx.log(`  ✖ ${name}`);
        throw new Error(`${name}: ${err instanceof Error ? err.message : String(err)}`);
      }
    });
    return { id: s.id, name: s.name, outcome: 'pass', ms: Date.now() - t0 };
  } catch (err) {
    return { id: s.id, name: s.name, outcome: 'fail', detail: err instanceof Error ? err.message : String(err), ms: Date.now() - t0 };
  }
}

export function renderResult(r: ScenarioResult): string {
  const head = { pass: 'PASS', fail: 'FAIL', skip: 'SKIP' }[r.outcome];
  return `${head} ${r.id}. ${r.name}${r.outcome === 'skip' ? ` — ${r.detail ?? ''}` : ` (${(r.ms / 1000).toFixed(1)} s)`}${r.outcome === 'fail' ? `\n     ${r.detail ?? ''}` : ''}`;
}

export type { Environment };
