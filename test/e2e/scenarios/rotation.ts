// Issue 17 item 1: a full root rotation, as `mesh trust rotate --help` describes it, across three clusters
// under a steady request loop: no request may fail (the same strictness as the issuer rotation of
// scenario 7), and every Link stays GatewayReachable=True throughout (its transition time unchanged).
import assert from 'node:assert/strict';
import type { ClientReport } from '../../../src/apps/index.js';
import { eventually } from '../../../src/demo/index.js';
import { join } from 'node:path';
import { TrustBundle, createIssuer, createRoot, readRoot, writeRoot } from '../../../src/trust/index.js';
import { clusterName, describe, traffic, url, waitShadow, type ScenarioContext } from './context.js';
import { rolloutRestart } from './failures.js';

const NS = '/api/v1/namespaces/mesh-system';
const LINKS = '/apis/multicluster.mesh.io/v1alpha1/namespaces/mesh-system/links';

type Cond = { type: string; status: string; lastTransitionTime?: string };

/** GatewayReachable of every Link in `context`, as `link=status@transitionTime`. */
async function gatewayConditions(ctx: ScenarioContext, context: string): Promise<string[]> {
  const links = await (await ctx.env.client(context)).list<{ metadata: { name: string }; status?: { conditions?: Cond[] } }>(LINKS);
  return links.items.map((l) => {
    const c = l.status?.conditions?.find((x) => x.type === 'GatewayReachable');
    return `${l.metadata.name}=${c?.status ?? '?'}@${c?.lastTransitionTime ?? '?'}`;
  }).sort();
}

/** Runs `fn` while rounds of requests (bounded: 100 each, 50 ms apart, at most 40 rounds) go to every target; returns
 * them all. About 20 a second: the losses of issue 17 item 1 lasted tens of milliseconds around each drain. */
async function underSteadyLoad(ctx: ScenarioContext, targets: string[], fn: () => Promise<void>): Promise<ClientReport[]> {
  let done = false;
  const reports: ClientReport[] = [];
  const loop = (async () => {
    for (let round = 0; round < 40 && !done; round++) {
      reports.push(...(await Promise.all(targets.map((t) => traffic(ctx, { url: t, count: 100, intervalMs: 50 })))));
    }
  })();
  try {
    await fn();
  } finally {
    done = true;
    await loop;
  }
  return reports;
}

async function putBundle(ctx: ScenarioContext, context: string, bundle: TrustBundle): Promise<void> {
  await (await ctx.env.client(context)).patch(`${NS}/configmaps/mesh-trust-roots`, { data: { 'ca-bundle.crt': bundle.pem() } });
}

export async function rootRotation(ctx: ScenarioContext, contexts: string[], linked: string[]): Promise<void> {
  const oldRoot = await readRoot(ctx.trustRoot!);
  const newRoot = createRoot({ trustDomain: oldRoot.trustDomain });
  const targets = linked.map((c) => url('web', clusterName(c)));
  for (const c of linked) await waitShadow(ctx, `web-${clusterName(c)}`, 'ready');
  const before = await gatewayConditions(ctx, ctx.a);
  assert.ok(before.every((c) => c.includes('=True@')), `every Link GatewayReachable=True before: ${before.join(', ')}`);
  const rollGateways = () => Promise.all(contexts.map((c) => rolloutRestart(ctx, c, 'mesh-gateway')));
  const reports = await underSteadyLoad(ctx, targets, async () => {
    // 1. Both roots in every bundle; gateways roll (the controllers watch the ConfigMap themselves).
    const both = TrustBundle.fromPem(oldRoot.certPem).with(newRoot.certPem);
    for (const c of contexts) await putBundle(ctx, c, both);
    await rollGateways();
    // 2. Every cluster's issuer under the new root; gateways roll for leaves from it.
    for (const c of contexts) {
      const issuer = createIssuer({ root: newRoot, clusterName: clusterName(c) });
      const b64 = (s: string) => Buffer.from(s).toString('base64');
      await (await ctx.env.client(c)).patch(`${NS}/secrets/mesh-issuer`, { data: { 'tls.crt': b64(issuer.certPem), 'tls.key': b64(issuer.keyPem), 'ca.crt': b64(both.pem()) } });
    }
    await rollGateways();
    // 3. The old root goes.
    const onlyNew = both.without(oldRoot.certPem);
    for (const c of contexts) await putBundle(ctx, c, onlyNew);
    await rollGateways();
  });
  // The clusters now trust only the new root: later scenarios that make test certificates (the MCS
  // scenario's gateway probe) need it, so the context points at it (beside the old one, which stays).
  const rotated = join(ctx.trustRoot!, 'rotated');
  await writeRoot(rotated, newRoot, { overwrite: true });
  ctx.trustRoot = rotated;
  const total = reports.reduce((n, r) => n + r.summary.total, 0);
  const failed = reports.filter((r) => r.summary.ok !== r.summary.total);
  assert.ok(total > 0, 'requests were sent during the rotation');
  assert.deepEqual(failed.map((r) => `${describe(r)}; failed at ${r.results.filter((x) => !x.ok).map((x) => `${x.at} (${x.error ?? '?'})`).join(', ')}`), [], `no failed request during the root rotation (${total} sent)`);
  ctx.log(`  root rotation: ${total} requests to ${targets.length} clusters while it ran, none failed`);
  assert.deepEqual(await gatewayConditions(ctx, ctx.a), before, 'GatewayReachable never changed during the rotation');
  await eventually('traffic after the rotation', async () => {
    const r = await Promise.all(targets.map((t) => traffic(ctx, { url: t, count: 3 })));
    return r.every((x) => x.summary.ok === x.summary.total) ? r : undefined;
  }, 30_000, 1_000);
}
