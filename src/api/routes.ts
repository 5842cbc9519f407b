// The outbound route table: which local gateway port tunnels to which remote service port. The controller
// computes it from what it made (its own shadows, and later ServiceImports) and publishes it as one
// ConfigMap in mesh-system that only the controller's ServiceAccount may write; the gateway reads nothing
// else for outbound routing. A Service's labels and annotations never route traffic: anyone who may create
// a Service may write those (issue 17 item 2).
import { z } from 'zod';
import { dnsLabelSchema, portSchema } from './link.js';

/** ConfigMap `mesh-system/mesh-gateway-routes`, key `routes.json`. */
export const OUTBOUND_ROUTES_CONFIGMAP = 'mesh-gateway-routes';
export const OUTBOUND_ROUTES_KEY = 'routes.json';
/** A ConfigMap holds at most 1 MiB; a route is ~200 bytes, and the port range (2,000 by default) bounds the count. */
export const MAX_OUTBOUND_ROUTES = 4096;

/** What a route was made for, so a person (and `mesh check`) can trace it: a shadow Service or a ServiceImport. */
export const routeOriginSchema = z.object({
  kind: z.enum(['Service', 'ServiceImport']),
  namespace: dnsLabelSchema,
  name: z.string().min(1).max(253),
});
export type RouteOrigin = z.infer<typeof routeOriginSchema>;

/** One outbound listener: tunnels to <hostname.>service.namespace.svc.<remote domain>:port in remoteCluster. */
export const outboundRouteSchema = z.object({
  outboundPort: portSchema,
  remoteCluster: z.string().min(1).max(253),
  namespace: z.string().min(1).max(63),
  service: z.string().min(1).max(63),
  port: portSchema,
  /** A remote pod's hostname: this route reaches that one pod of a headless Service. */
  hostname: z.string().min(1).max(63).optional(),
  /** The local object the route serves (absent in static route files). */
  origin: routeOriginSchema.optional(),
});
export type OutboundRoute = z.infer<typeof outboundRouteSchema>;

/** The ConfigMap's `routes.json`: every outbound port at most once, sorted by port. */
export const outboundRoutesSchema = z
  .object({ routes: z.array(outboundRouteSchema).max(MAX_OUTBOUND_ROUTES) })
  .superRefine((t, ctx) => {
    const seen = new Set<number>();
    for (const [i, r] of t.routes.entries()) {
      if (seen.has(r.outboundPort)) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['routes', i, 'outboundPort'], message: `outbound port ${r.outboundPort} appears twice` });
      seen.add(r.outboundPort);
    }
  });
export type OutboundRoutes = z.infer<typeof outboundRoutesSchema>;

export type ParsedRoutes = { ok: true; routes: OutboundRoute[] } | { ok: false; message: string };

/** Parses the ConfigMap's `routes.json`; never throws (a bad table is reported and routes nothing). */
export function parseOutboundRoutes(raw: string | undefined): ParsedRoutes {
  if (raw === undefined) return { ok: false, message: `no ${OUTBOUND_ROUTES_KEY}` };
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch (err) {
    return { ok: false, message: `${OUTBOUND_ROUTES_KEY} is not JSON: ${(err as Error).message}` };
  }
  const r = outboundRoutesSchema.safeParse(json);
  if (!r.success) return { ok: false, message: r.error.issues.slice(0, 5).map((i) => `${i.path.join('.')}: ${i.message}`).join('; ') };
  return { ok: true, routes: r.data.routes };
}

/** The one text form the controller writes (stable order, so an unchanged table is an unchanged object). */
export function formatOutboundRoutes(routes: OutboundRoute[]): string {
  const sorted = [...routes].sort((a, b) => a.outboundPort - b.outboundPort);
  return JSON.stringify({ routes: sorted } satisfies OutboundRoutes);
}
