// The three-cluster clusterset the MCS reach scenario needs, made from whatever the scenarios before it left
// (prepare: a → b through the gateways with flat routes a ↔ b; scenario 10: a → c flat, b → a): every cluster
// must have both exporters in its clusterset, so b gets a flat Link to c and c a gateway Link to b. What this
// adds (Links and the flat routes of the flat ones) it takes away again; a Link already there in the other
// mode is an error, not something to change under the scenarios that made it.
import assert from 'node:assert/strict';
import { DEMO_NS, deployDemoApps, deployTrafficAgent, link, mustMesh, runCommand, type CommandResult } from '../../../src/demo/index.js';
import { clusterName, type ScenarioContext } from './context.js';

type Mode = 'gateway' | 'flat';

const linkPath = (target: string) => `/apis/multicluster.mesh.io/v1alpha1/namespaces/mesh-system/links/${clusterName(target)}`;

/** The mode of the Link from → to, or undefined when there is none. */
async function linkMode(ctx: ScenarioContext, from: string, to: string): Promise<Mode | undefined> {
  const c = await ctx.env.client(from);
  const l = await c.get<{ spec: { gateway?: unknown } }>(linkPath(to)).catch(() => undefined);
  if (!l) return undefined;
  return l.spec.gateway ? 'gateway' : 'flat';
}

export interface Clusterset {
  /** Removes the Links (and flat routes) this added, newest first. */
  undo(): Promise<void>;
}

/** Links from → to in `mode` unless there is one; records what it added. */
async function ensureLink(ctx: ScenarioContext, from: string, to: string, mode: Mode, added: Array<[string, string, Mode]>): Promise<void> {
  const have = await linkMode(ctx, from, to);
  if (have) {
    assert.equal(have, mode, `the Link ${from} → ${to} left by an earlier scenario is ${have}; this scenario needs ${mode}`);
    return;
  }
  await link(ctx.env, from, to, { progress: ctx.log, mode });
  added.push([from, to, mode]);
  // A flat Link needs the pod networks routed both ways (replies come back pod to pod).
  if (mode === 'flat' && (ctx.env.network === 'isolated' || ctx.env.network === 'docker')) await ctx.env.flatRoute(from, to, false);
}

/**
 * a: {a, b via gateway, c flat}; b: {b, c flat}; c: {c, b via gateway}. Apps and traffic agents are deployed
 * where missing (they stay, like scenario 10's: other scenarios expect them).
 */
export async function clustersetOfThree(ctx: ScenarioContext): Promise<Clusterset> {
  const c = ctx.c!;
  const added: Array<[string, string, Mode]> = [];
  const undo = async () => {
    for (const [from, to, mode] of [...added].reverse()) {
      await mustMesh(['unlink', from, to, '--wait-timeout', '60s'], ctx.env.kubeconfig, 90_000);
      if (mode === 'flat' && (ctx.env.network === 'isolated' || ctx.env.network === 'docker')) await ctx.env.flatRoute(from, to, true);
    }
  };
  try {
    // Both apply the namespace: one cluster at a time (a concurrent update of it is a 409).
    await Promise.all([
      deployDemoApps(ctx.env, c, clusterName(c), { progress: ctx.log }).then(() => deployTrafficAgent(ctx.env, c, clusterName(c), { progress: ctx.log })),
      deployTrafficAgent(ctx.env, ctx.b, clusterName(ctx.b), { progress: ctx.log }),
    ]);
    await ensureLink(ctx, ctx.a, ctx.b, 'gateway', added);
    await ensureLink(ctx, ctx.a, c, 'flat', added);
    await ensureLink(ctx, ctx.b, c, 'flat', added);
    await ensureLink(ctx, c, ctx.b, 'gateway', added);
  } catch (err) {
    await undo().catch((e: unknown) => ctx.log(`  (undoing the clusterset failed too: ${e instanceof Error ? e.message : String(e)})`));
    throw err;
  }
  ctx.log(`clusterset: added ${added.length ? added.map(([f, t, m]) => `${f} → ${t} (${m})`).join(', ') : 'nothing (the Links were there)'}`);
  return { undo };
}

/** The real kubectl against the environment's kubeconfig; never throws on a non-zero exit. */
export function kubectl(ctx: ScenarioContext, context: string, args: string[], timeoutMs = 30_000): Promise<CommandResult> {
  return runCommand('kubectl', ['--kubeconfig', ctx.env.kubeconfig, '--context', context, ...args], { timeoutMs });
}

export async function hasKubectl(): Promise<boolean> {
  return (await runCommand('kubectl', ['version', '--client'], { timeoutMs: 10_000 }).catch(() => ({ code: 1 }))).code === 0;
}

/** A `nicolaka/netshoot` pod (`sleep infinity`) named `name` in the demo namespace of each context, Ready. */
export async function debugPods(ctx: ScenarioContext, contexts: string[], name: string): Promise<() => Promise<void>> {
  const remove = async () => {
    await Promise.all(contexts.map((x) => kubectl(ctx, x, ['-n', DEMO_NS, 'delete', 'pod', name, '--ignore-not-found', '--grace-period=1', '--wait=true'], 60_000)));
  };
  await remove();
  for (const x of contexts) {
    const r = await kubectl(ctx, x, ['-n', DEMO_NS, 'run', name, '--image=nicolaka/netshoot', '--restart=Never', '--', 'sleep', 'infinity']);
    assert.equal(r.code, 0, `kubectl run ${name} in ${x}: ${r.stderr}`);
  }
  for (const x of contexts) {
    const r = await kubectl(ctx, x, ['-n', DEMO_NS, 'wait', '--for=condition=Ready', `pod/${name}`, '--timeout=90s'], 100_000);
    assert.equal(r.code, 0, `pod ${name} Ready in ${x}: ${r.stderr}`);
  }
  return remove;
}

/** `kubectl exec <pod> -- <cmd>` in the demo namespace. */
export function exec(ctx: ScenarioContext, context: string, pod: string, cmd: string[], timeoutMs = 30_000): Promise<CommandResult> {
  return kubectl(ctx, context, ['-n', DEMO_NS, 'exec', pod, '--', ...cmd], timeoutMs);
}
