// Scenario 13 (issue 15): export scope and authorization at the exporting gateway, on three clusters.
// cluster-c is linked to cluster-b too; `mesh export web --to cluster-a` leaves cluster-c without the shadow,
// and cluster-c's gateway asking for web by name is refused (403, export-to) while cluster-a's passes. Then
// `mesh authz web --set cluster:cluster-a` with web exported to both: cluster-c's requests through its own
// gateway fail, cluster-a's pass, and cluster-b's gateway counts the denials by rule source. The per-SA
// refusal (frontend passes, other is refused) is scenario 15's, which has the caller pods.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as api from '../../../src/api/index.js';
import { DEMO_NS, deployTrafficAgent, link, mustMesh } from '../../../src/demo/index.js';
import { readRoot } from '../../../src/trust/index.js';
import { allFrom, clusterName, gatewayMetric, noneOk, probeGateway, traffic, url, waitShadow, type Scenario, type ScenarioContext } from './context.js';
import { writeLeaf } from './security.js';

/** The gateway address of `target` as other clusters reach it (the Link from ctx.a names it). */
async function gatewayOf(ctx: ScenarioContext, target: string): Promise<{ host: string; port: number }> {
  const a = await ctx.env.client(ctx.a);
  const l = await a.get<{ spec: { gateway?: { addresses?: string[]; port?: number } } }>(`/apis/multicluster.mesh.io/v1alpha1/namespaces/mesh-system/links/${clusterName(target)}`);
  const host = l.spec.gateway?.addresses?.[0];
  assert.ok(host && l.spec.gateway?.port, `Link ${clusterName(target)} in ${ctx.a} names a gateway address`);
  return { host, port: l.spec.gateway.port };
}

const WEB = 'web';

export const authz: Scenario = {
  id: 13,
  name: 'authorization: export-to hides the shadow in an unlisted cluster and its gateway is refused by name; cluster: rules refuse other clusters',
  skip: (ctx) => (!ctx.c ? 'needs a third context (--context-c)' : !ctx.trustRoot ? 'needs the shared trust root directory (--trust-root) to make a gateway certificate' : undefined),
  async run(ctx, step) {
    const B = clusterName(ctx.b);
    const A = clusterName(ctx.a);
    const C = clusterName(ctx.c!);
    const kc = ctx.env.kubeconfig;
    const dir = mkdtempSync(join(tmpdir(), 'mesh-e2e-authz-'));
    const exported = `${WEB}.${DEMO_NS}.svc.cluster.local:8080`;
    try {
      // cluster-c's clients: the traffic agent (its own apps are not needed here).
      await deployTrafficAgent(ctx.env, ctx.c!, C, { progress: ctx.log });
      await link(ctx.env, ctx.c!, ctx.b, { progress: ctx.log });
      await waitShadow(ctx, `${WEB}-${B}`, 'ready', 60_000, ctx.c!);
      const root = await readRoot(ctx.trustRoot!);
      const ca = join(ctx.trustRoot!, 'root.crt');
      const gwB = await gatewayOf(ctx, ctx.b);

      await step(`mesh export ${WEB} --to ${A}: ${C} loses the shadow, ${A} keeps it`, async () => {
        await mustMesh(['export', WEB, '-n', DEMO_NS, '--context', ctx.b, '--label', '--to', A], kc);
        await waitShadow(ctx, `${WEB}-${B}`, 'gone', 60_000, ctx.c!);
        allFrom(await traffic(ctx, { url: url(WEB, B), count: 6 }), B, `${WEB}-${B} from ${A}`);
      });

      await step(`${C}'s gateway asking for ${WEB} by name is refused (403, export-to); ${A}'s passes`, async () => {
        const before = await gatewayMetric(ctx, ctx.b, 'gateway_authz_denied_total', { source: 'export-to' });
        const asC = await probeGateway(ctx, ctx.c!, { ...gwB, ca, ...writeLeaf(dir, 'gw-c', root, C), authorities: [exported] });
        assert.ok(asC.connected, `${C}'s gateway identity completes the handshake: ${JSON.stringify(asC)}`);
        assert.equal(asC.results[0]?.status, 403, `${C} must be refused: ${JSON.stringify(asC.results[0])}`);
        assert.equal(asC.results[0]?.reason, 'FORBIDDEN');
        const asA = await probeGateway(ctx, ctx.a, { ...gwB, ca, ...writeLeaf(dir, 'gw-a', root, A), authorities: [exported] });
        assert.equal(asA.results[0]?.status, 200, `${A} passes: ${JSON.stringify(asA.results[0])}`);
        assert.ok((await gatewayMetric(ctx, ctx.b, 'gateway_authz_denied_total', { source: 'export-to' })) > before, `${B}'s gateway counts the export-to denial`);
      });

      await step(`allowed-identities cluster:${A} (exported to both): ${C}'s requests through its gateway fail, ${A}'s pass`, async () => {
        await mustMesh(['export', WEB, '-n', DEMO_NS, '--context', ctx.b, '--label', '--to', `${A},${C}`], kc);
        await mustMesh(['authz', WEB, '-n', DEMO_NS, '--context', ctx.b, '--set', `cluster:${A}`], kc);
        await waitShadow(ctx, `${WEB}-${B}`, 'ready', 60_000, ctx.c!);
        const before = await gatewayMetric(ctx, ctx.b, 'gateway_authz_denied_total', { source: 'service' });
        noneOk(await traffic(ctx, { url: url(WEB, B), count: 4 }, ctx.c!), `${WEB}-${B} from ${C}`);
        allFrom(await traffic(ctx, { url: url(WEB, B), count: 6 }), B, `${WEB}-${B} from ${A}`);
        assert.ok((await gatewayMetric(ctx, ctx.b, 'gateway_authz_denied_total', { source: 'service' })) > before, `${B}'s gateway counts the service-rule denials`);
      });

    } finally {
      // Leave the clusters as the next scenario expects them: web exported to all, no list, c not linked to b.
      await mustMesh(['authz', WEB, '-n', DEMO_NS, '--context', ctx.b, '--clear'], kc).catch((e: Error) => ctx.log(`  cleanup: ${e.message}`));
      const b = await ctx.env.client(ctx.b);
      await b.patch(`/api/v1/namespaces/${DEMO_NS}/services/${WEB}`, { metadata: { annotations: { [api.EXPORT_TO_ANNOTATION]: null } } }).catch((e: Error) => ctx.log(`  cleanup: ${e.message}`));
      await mustMesh(['unlink', ctx.c!, ctx.b, '--wait-timeout', '60s'], kc, 90_000).catch((e: Error) => ctx.log(`  cleanup: ${e.message}`));
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
