// `mesh check`: Services that claim to be gateway shadows but that the controller did not make. The gateway
// routes only by the controller's table (ConfigMap mesh-gateway-routes, issue 17 item 2), so such a Service
// routes nothing; it is still worth a ✘: someone forged the mirror's labels, or the controller is behind.
import { HEADLESS_PARENT_LABEL, MODE_ANNOTATION, OUTBOUND_ROUTES_CONFIGMAP, OUTBOUND_ROUTES_KEY, PORT_MAP_ANNOTATION, parseOutboundRoutes, parsePortMap } from '../api/index.js';
import { z } from 'zod';
import type { KubeObject } from '../kube/index.js';

export interface RouteVerdict {
  ok: boolean;
  detail: string;
  hint?: string;
}

/** Pure: each gateway-mode shadow's port map against the published table. */
export function routeVerdict(shadows: KubeObject[], table: KubeObject | null, context: string): RouteVerdict {
  const data = z.record(z.string(), z.string()).optional().safeParse(table?.data);
  const parsed = table ? parseOutboundRoutes(data.success ? data.data?.[OUTBOUND_ROUTES_KEY] : undefined) : { ok: true as const, routes: [] };
  if (!parsed.ok) return { ok: false, detail: `ConfigMap ${OUTBOUND_ROUTES_CONFIGMAP}: ${parsed.message}`, hint: 'only the controller writes it: restart it to publish it again' };
  const published = new Set(parsed.routes.map((r) => `${r.origin?.namespace}/${r.origin?.name}|${r.outboundPort}`));
  const unrouted: string[] = [];
  for (const s of shadows) {
    const m = s.metadata ?? {};
    if (m.labels?.[HEADLESS_PARENT_LABEL] || (m.annotations?.[MODE_ANNOTATION] ?? 'gateway') !== 'gateway') continue;
    const map = parsePortMap(m.annotations?.[PORT_MAP_ANNOTATION] ?? '[]');
    const entries = map.ok ? map.entries.filter((e) => e.protocol === 'TCP') : [];
    if (!map.ok || entries.some((e) => !published.has(`${m.namespace}/${m.name}|${e.outboundPort}`))) unrouted.push(`${m.namespace}/${m.name}`);
  }
  if (unrouted.length === 0) return { ok: true, detail: `${parsed.routes.length} outbound route(s) published by the controller` };
  const shown = unrouted.slice(0, 10).join(', ') + (unrouted.length > 10 ? ` and ${unrouted.length - 10} more` : '');
  return {
    ok: false,
    detail: `not in the controller's route table (they route nothing): ${shown}`,
    hint: `a Service the controller did not make carries the mirror's labels (see Events with reason ImpostorShadow: kubectl --context ${context || '<context>'} get events -A --field-selector reason=ImpostorShadow), or the controller is behind: is it running?`,
  };
}
