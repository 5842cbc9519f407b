// Scenarios 1–4: traffic by shadow name through the gateway (HTTP, gRPC, raw TCP), flat mode and its
// routes, the gateway path with separate networks, and StatefulSet per-pod names in both modes.
import assert from 'node:assert/strict';
import { shadowHost } from '../../../src/demo/index.js';
import { allFrom, clusterName, describe, gatewayMetric, noneOk, podIPs, shadow, traffic, url, type Scenario } from './context.js';

export const gatewayMode: Scenario = {
  id: 1,
  name: 'gateway mode: HTTP, gRPC and raw TCP by shadow name, answered by cluster-b, spread across its pods',
  async run(ctx, step) {
    const B = clusterName(ctx.b);
    for (const [svc, mode] of [['web', 'gateway'], ['grpc', 'gateway'], ['tcp', 'gateway']] as const) {
      const s = await shadow(ctx, `${svc}-${B}`);
      assert.equal(s?.mode, mode, `shadow ${svc}-${B} mode`);
      const gws = await podIPs(ctx, ctx.a, 'app.kubernetes.io/name=mesh-gateway', 'mesh-system');
      assert.deepEqual(s.addresses.sort(), gws.map((g) => g.ip).sort(), `shadow ${svc}-${B} endpoints are ${ctx.a}'s gateway pods`);
    }
    await step('HTTP', async () => {
      const r = await traffic(ctx, { url: url('web', B), count: 20 });
      allFrom(r, B, 'HTTP through the gateway');
      const webPods = await podIPs(ctx, ctx.b, 'app=web');
      assert.ok(Object.keys(r.summary.byPod).length >= Math.min(2, webPods.length), `requests spread across ${B}'s web pods: ${describe(r)}`);
      for (const p of Object.keys(r.summary.byPod)) assert.ok(webPods.some((w) => w.name === p), `${p} is a web pod of ${B}`);
    });
    await step('gRPC', async () => {
      const r = await traffic(ctx, { grpc: `${shadowHost('grpc', B)}:9090`, count: 10 });
      allFrom(r, B, 'gRPC through the gateway');
      assert.ok(Object.keys(r.summary.byPod).length >= 2, `gRPC spread across pods: ${describe(r)}`);
    });
    await step('raw TCP', async () => {
      const r = await traffic(ctx, { tcp: `${shadowHost('tcp', B)}:7070`, count: 5 });
      allFrom(r, B, 'raw TCP through the gateway');
    });
  },
};

export const flatMode: Scenario = {
  id: 2,
  name: 'flat mode (isolated network): fails before `route --flat`, works after; the gateway carries none of it',
  skip: (ctx) => (ctx.env.network === 'loopback' ? 'the loopback network has no separate pod networks, so flat routes change nothing; flat mode is checked in the isolated network (root)' : undefined),
  async run(ctx, step) {
    const B = clusterName(ctx.b);
    const s = await shadow(ctx, `web-flat-${B}`);
    assert.equal(s?.mode, 'flat');
    const podsB = await podIPs(ctx, ctx.b, 'app=web');
    assert.deepEqual(s.addresses.sort(), podsB.map((p) => p.ip).sort(), 'flat shadow endpoints are the remote pod IPs');
    await ctx.env.flatRoute(ctx.a, ctx.b, true);
    await step('without routes: flat fails fast', async () => {
      noneOk(await traffic(ctx, { url: url('web-flat', B), count: 2, timeoutMs: 2_000 }), 'flat traffic without routes');
    });
    await ctx.env.flatRoute(ctx.a, ctx.b, false);
    await step('with routes: flat works and the gateways see none of it', async () => {
      const before = await gatewayMetric(ctx, ctx.b, 'gateway_streams_opened_total', { direction: 'inbound' });
      const r = await traffic(ctx, { url: url('web-flat', B), count: 10 });
      allFrom(r, B, 'flat traffic with routes');
      const after = await gatewayMetric(ctx, ctx.b, 'gateway_streams_opened_total', { direction: 'inbound' });
      assert.equal(after, before, `${B}'s gateway opened ${after - before} inbound tunnels during flat traffic`);
    });
  },
};

export const separateNetworks: Scenario = {
  id: 3,
  name: 'hierarchical mode in the isolated network: only the gateway address crosses, no flat routes needed',
  skip: (ctx) => (ctx.env.network === 'loopback' ? 'needs separate networks (isolated mode, root)' : undefined),
  async run(ctx, step) {
    const B = clusterName(ctx.b);
    await ctx.env.flatRoute(ctx.a, ctx.b, true);
    try {
      const [pod] = await podIPs(ctx, ctx.b, 'app=web');
      assert.ok(pod);
      await step(`${B}'s pod IPs are unreachable from ${ctx.a}`, async () => {
        noneOk(await traffic(ctx, { url: `http://${pod.ip}:8080/`, count: 1, timeoutMs: 2_000 }), `direct request to ${B} pod ${pod.ip}`);
      });
      await step('the gateway path works', async () => {
        allFrom(await traffic(ctx, { url: url('web', B), count: 10 }), B, 'gateway traffic without flat routes');
      });
    } finally {
      await ctx.env.flatRoute(ctx.a, ctx.b, false);
    }
  },
};

export const statefulSet: Scenario = {
  id: 4,
  name: 'StatefulSet per-pod names across clusters (db-0.db-cluster-b…, db-flat-0.db-flat-cluster-b…), gateway and flat',
  async run(ctx, step) {
    const B = clusterName(ctx.b);
    for (const [svc, mode] of [['db', 'gateway'], ['db-flat', 'flat']] as const) {
      await step(`${mode}: ${svc}`, async () => {
        for (const pod of [`${svc}-0`, `${svc}-1`]) {
          const r = await traffic(ctx, { url: `http://${pod}.${shadowHost(svc, B)}:8080/`, count: 3 });
          allFrom(r, B, `${pod}.${svc}-${B} (${mode})`);
          assert.deepEqual(Object.keys(r.summary.byPod), [pod], `${pod} by name reaches ${pod}: ${describe(r)}`);
        }
      });
    }
  },
};
