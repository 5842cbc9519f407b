// The gateway port map: written by the mirror on a gateway-mode shadow, read by the gateway (which outbound
// port tunnels to which remote service port) and by the mirror at start-up (to recover its allocations).
import { z } from 'zod';
import { portSchema } from './link.js';

export const portMapEntrySchema = z.object({
  port: portSchema,
  name: z.string().max(63).optional(),
  // A Service port protocol (TCP, UDP, SCTP); only TCP entries get a gateway listener.
  protocol: z.string().min(1).max(16).default('TCP'),
  outboundPort: portSchema,
  /** A remote pod's hostname: this entry reaches that one pod of a headless Service. */
  hostname: z.string().min(1).max(63).optional(),
  /** On a derived Service (MCS import): the remote cluster this entry tunnels to (a shadow has one, by label). */
  cluster: z.string().min(1).max(63).optional(),
});
export const portMapSchema = z.array(portMapEntrySchema).max(4096);
export type PortMapEntry = z.infer<typeof portMapEntrySchema>;

export type ParsedPortMap = { ok: true; entries: PortMapEntry[] } | { ok: false; message: string };

/** Parses the annotation's JSON; never throws (a bad annotation is a reported problem, not a crash). */
export function parsePortMap(raw: string): ParsedPortMap {
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch (err) {
    return { ok: false, message: `not JSON: ${(err as Error).message}` };
  }
  const r = portMapSchema.safeParse(json);
  if (!r.success) return { ok: false, message: r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ') };
  return { ok: true, entries: r.data };
}

export function formatPortMap(entries: PortMapEntry[]): string {
  return JSON.stringify(entries);
}
