// Scenario 10 (issue 17 item 2): a Service anyone may create in cluster-a, carrying the mirror's labels and
// a port map that names web-<b>'s outbound port, tried to take that port over (before the fix, traffic for
// web-<b> was answered by another Service's pods). Now the gateway routes only by the controller's table:
// traffic for web-<b> keeps reaching cluster-b's web pods, and the impostor is reported.
import assert from 'node:assert/strict';
import { DEMO_NS, eventually } from '../../../src/demo/index.js';
import { allFrom, clusterName, describe, podIPs, underLoad, url, type Scenario } from './context.js';

interface Svc {
  metadata: { annotations?: Record<string, string> };
}
interface Ev {
  reason: string;
  message: string;
  involvedObject: { kind: string; name: string; namespace?: string };
}

export const hijack: Scenario = {
  id: 11,
  name: "routing hijack: a Service with forged mirror labels naming a shadow's outbound port takes nothing over, and is reported",
  async run(ctx, step) {
    const B = clusterName(ctx.b);
    const a = await ctx.env.client(ctx.a);
    const shadow = await a.get<Svc>(`/api/v1/namespaces/${DEMO_NS}/services/web-${B}`);
    const map = JSON.parse(shadow.metadata.annotations?.['mirror.mesh.io/gateway-port-map'] ?? '[]') as Array<{ port: number; outboundPort: number }>;
    const port = map.find((e) => e.port === 8080)?.outboundPort;
    assert.ok(port, `web-${B} has an outbound port for 8080: ${JSON.stringify(map)}`);
    const impostor = {
      metadata: {
        name: 'hijack',
        namespace: DEMO_NS,
        labels: { 'mirror.mesh.io/mirrored-service': 'true', 'mirror.mesh.io/cluster-name': B },
        annotations: { 'mirror.mesh.io/mode': 'gateway', 'mirror.mesh.io/remote-svc-fq-name': `db.${DEMO_NS}.svc.cluster.local`, 'mirror.mesh.io/gateway-port-map': JSON.stringify([{ port: 8080, protocol: 'TCP', outboundPort: port }]) },
      },
      spec: { ports: [{ port: 8080, protocol: 'TCP' }] },
    };
    try {
      await step(`traffic for web-${B} keeps reaching ${B}'s web pods while the impostor exists`, async () => {
        const load = await underLoad(ctx, { url: url('web', B), count: 40, intervalMs: 50 }, async () => {
          await a.create(`/api/v1/namespaces/${DEMO_NS}/services`, impostor);
        });
        allFrom(load, B, `web-${B} under the hijack attempt`);
        const webPods = await podIPs(ctx, ctx.b, 'app=web');
        for (const p of Object.keys(load.summary.byPod)) assert.ok(webPods.some((w) => w.name === p), `${p} answered for web-${B}, not a web pod of ${B}: ${describe(load)}`);
      });
      await step("the controller's route table still sends that port to web, and names only its own shadow", async () => {
        const cm = await a.get<{ data?: Record<string, string> }>('/api/v1/namespaces/mesh-system/configmaps/mesh-gateway-routes');
        const routes = (JSON.parse(cm.data?.['routes.json'] ?? '{}') as { routes?: Array<{ outboundPort: number; namespace: string; service: string; origin?: { name: string } }> }).routes ?? [];
        const r = routes.find((x) => x.outboundPort === port);
        assert.deepEqual([r?.namespace, r?.service, r?.origin?.name], [DEMO_NS, 'web', `web-${B}`], JSON.stringify(r));
        assert.ok(!routes.some((x) => x.origin?.name === 'hijack'), 'the impostor has no route');
      });
      await step('the impostor is reported: an ImpostorShadow Event on the Link and on the Service', async () => {
        await eventually('ImpostorShadow events', async () => {
          const evs = (await a.list<Ev>('/api/v1/events')).items.filter((e) => e.reason === 'ImpostorShadow' && e.message.includes(`${DEMO_NS}/hijack`));
          return evs.some((e) => e.involvedObject.kind === 'Link' && e.involvedObject.name === B) && evs.some((e) => e.involvedObject.kind === 'Service' && e.involvedObject.name === 'hijack');
        }, 30_000);
      });
    } finally {
      await a.delete(`/api/v1/namespaces/${DEMO_NS}/services/hijack`).catch(() => undefined);
    }
  },
};
