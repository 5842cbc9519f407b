// Uninstall's part on the user's own objects: what `mesh export` and `mesh authz` wrote on Services and
// Namespaces, and the ServiceExports `mesh export` created. Removed unless --keep-exports; then, from what
// the cluster holds afterwards, every mesh label or annotation still there, said exactly.
import { isNotFound, type KubeClient, type KubeObject } from '../kube/index.js';
import {
  ALLOWED_IDENTITIES_ANNOTATION, DEFAULT_ALLOWED_IDENTITIES_ANNOTATION, EXPORT_LABEL, EXPORT_TO_ANNOTATION, MCS_GROUP, MCS_STORAGE_VERSION,
  MESH_NAMESPACE, MIRRORED_LABEL, RESERVED_PREFIXES, SERVICE_EXPORT_KIND, SERVICE_EXPORT_PLURAL,
} from '../api/index.js';
import type { Progress } from './common.js';
import type { ObjectId } from './kinds.js';
import type { AppliedObject } from './cmd-install.js';

/** The labels and annotations mesh commands write on a user's objects (export --label/--to, authz). */
export const WRITTEN_ON_USER_OBJECTS = {
  Service: { labels: [EXPORT_LABEL], annotations: [EXPORT_TO_ANNOTATION, ALLOWED_IDENTITIES_ANNOTATION] },
  Namespace: { labels: [] as string[], annotations: [DEFAULT_ALLOWED_IDENTITIES_ANNOTATION] },
} as const;

/** The CRD whose objects `mesh export` creates in the user's namespaces. */
export const SERVICE_EXPORT_CRD = `${SERVICE_EXPORT_PLURAL}.${MCS_GROUP}`;

/** One user's object and the mesh keys on it (`label K` / `annotation K`). */
export interface MetadataOnObject {
  kind: 'Service' | 'Namespace' | typeof SERVICE_EXPORT_KIND;
  namespace?: string;
  name: string;
  keys: string[];
}

export interface ExportsCleanup {
  /** Services whose export label was removed (namespace/name). */
  unexported: string[];
  /** Services that keep their export label (--keep-exports). */
  stillExported: string[];
  /** The mesh's labels and annotations removed from the user's objects. */
  metadataRemoved: MetadataOnObject[];
  /** Every mesh label or annotation still on a user's object afterwards (kept, or not written by mesh). */
  metadataLeft: MetadataOnObject[];
  /** ServiceExports kept (--keep-exports), so their CRD stays too. */
  keptServiceExports: string[];
}

type Kind = keyof typeof WRITTEN_ON_USER_OBJECTS;
type RecordFn = (id: ObjectId, result: AppliedObject['result']) => void;

const serviceExportsPath = `/apis/${MCS_GROUP}/${MCS_STORAGE_VERSION}/${SERVICE_EXPORT_PLURAL}`;
const nsName = (o: KubeObject): string => (o.metadata?.namespace ? `${o.metadata.namespace}/${o.metadata.name ?? ''}` : (o.metadata?.name ?? ''));
const isMeshKey = (k: string): boolean => RESERVED_PREFIXES.some((p) => k.startsWith(p));

async function listOrEmpty(client: KubeClient, path: string): Promise<KubeObject[]> {
  try {
    return (await client.list(path)).items;
  } catch (err) {
    if (isNotFound(err)) return [];
    throw err;
  }
}

/** The user's Services (not the mirror's shadows) and Namespaces (not mesh-system, which goes). */
async function userObjects(client: KubeClient): Promise<{ kind: Kind; path: string; o: KubeObject }[]> {
  const services = (await listOrEmpty(client, '/api/v1/services')).filter((s) => s.metadata?.labels?.[MIRRORED_LABEL] !== 'true');
  const namespaces = (await listOrEmpty(client, '/api/v1/namespaces')).filter((n) => n.metadata?.name !== MESH_NAMESPACE);
  return [
    ...services.map((o) => ({ kind: 'Service' as const, path: `/api/v1/namespaces/${o.metadata?.namespace ?? ''}/services/${o.metadata?.name ?? ''}`, o })),
    ...namespaces.map((o) => ({ kind: 'Namespace' as const, path: `/api/v1/namespaces/${o.metadata?.name ?? ''}`, o })),
  ];
}

function meshKeys(o: KubeObject, only?: { labels: readonly string[]; annotations: readonly string[] }): { labels: string[]; annotations: string[] } {
  const labels = Object.keys(o.metadata?.labels ?? {}).filter((k) => (only ? only.labels.includes(k) : isMeshKey(k)));
  const annotations = Object.keys(o.metadata?.annotations ?? {}).filter((k) => (only ? only.annotations.includes(k) : isMeshKey(k)));
  return { labels, annotations };
}

const describeKeys = (k: { labels: string[]; annotations: string[] }): string[] => [...k.labels.map((l) => `label ${l}`), ...k.annotations.map((a) => `annotation ${a}`)];
const nulls = (keys: string[]): Record<string, null> => Object.fromEntries(keys.map((k) => [k, null]));

/** Removes (unless keep) what mesh wrote on the user's objects and its ServiceExports; then reads what is left. */
export async function cleanUserObjects(client: KubeClient, keep: boolean, record: RecordFn, progress: Progress): Promise<ExportsCleanup> {
  const metadataRemoved: MetadataOnObject[] = [];
  const unexported: string[] = [];
  const serviceExports = await listOrEmpty(client, serviceExportsPath);
  if (!keep) {
    for (const { kind, path, o } of await userObjects(client)) {
      const written = meshKeys(o, WRITTEN_ON_USER_OBJECTS[kind]);
      if (written.labels.length + written.annotations.length === 0) continue;
      try {
        await client.patch(path, { metadata: { labels: nulls(written.labels), annotations: nulls(written.annotations) } });
      } catch (err) {
        if (isNotFound(err)) continue;
        throw err;
      }
      const keys = describeKeys(written);
      metadataRemoved.push({ kind, namespace: o.metadata?.namespace, name: o.metadata?.name ?? '', keys });
      if (written.labels.includes(EXPORT_LABEL)) unexported.push(nsName(o));
      progress.ok(`${kind} ${nsName(o)}: ${keys.join(', ')} removed`);
    }
    for (const se of serviceExports) {
      const id = { apiVersion: `${MCS_GROUP}/${MCS_STORAGE_VERSION}`, kind: SERVICE_EXPORT_KIND, name: se.metadata?.name ?? '', namespace: se.metadata?.namespace };
      try {
        await client.delete(`/apis/${MCS_GROUP}/${MCS_STORAGE_VERSION}/namespaces/${id.namespace ?? ''}/${SERVICE_EXPORT_PLURAL}/${id.name}`);
        record(id, 'deleted');
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
  }
  // Read back rather than infer, so "left in place" is what the cluster holds (a user's own mesh keys too).
  const metadataLeft: MetadataOnObject[] = [];
  for (const { kind, o } of await userObjects(client)) {
    const keys = describeKeys(meshKeys(o));
    if (keys.length) metadataLeft.push({ kind, namespace: o.metadata?.namespace, name: o.metadata?.name ?? '', keys });
  }
  const keptServiceExports = keep ? serviceExports.map(nsName) : [];
  if (keep) {
    for (const se of serviceExports) {
      const keys = describeKeys(meshKeys(se));
      if (keys.length) metadataLeft.push({ kind: SERVICE_EXPORT_KIND, namespace: se.metadata?.namespace, name: se.metadata?.name ?? '', keys });
    }
  }
  const stillExported = metadataLeft.filter((m) => m.kind === 'Service' && m.keys.includes(`label ${EXPORT_LABEL}`)).map((m) => `${m.namespace ?? ''}/${m.name}`);
  return { unexported, stillExported, metadataRemoved, metadataLeft, keptServiceExports };
}

/** "left in place" lines for the user's objects: each mesh key still there, with the objects that carry it. */
export function userObjectsLeft(r: ExportsCleanup, keep: boolean): string[] {
  const byKey = new Map<string, { kind: string; names: string[] }>();
  for (const m of r.metadataLeft) {
    for (const key of m.keys) {
      const k = `${key}\u0000${m.kind}`;
      const entry = byKey.get(k) ?? { kind: m.kind, names: [] };
      entry.names.push(m.namespace ? `${m.namespace}/${m.name}` : m.name);
      byKey.set(k, entry);
    }
  }
  const written = (key: string, kind: string): boolean => {
    const w = (WRITTEN_ON_USER_OBJECTS as Record<string, { labels: readonly string[]; annotations: readonly string[] } | undefined>)[kind];
    return !!w && [...w.labels.map((l) => `label ${l}`), ...w.annotations.map((a) => `annotation ${a}`)].includes(key);
  };
  const lines = [...byKey].map(([k, { kind, names }]) => {
    const key = k.split('\u0000')[0];
    // A ServiceExport's keys stay with it; on a Service or Namespace only what mesh wrote is uninstall's to remove.
    const why = kind === SERVICE_EXPORT_KIND || written(key, kind) ? (keep ? '--keep-exports' : 'could not be removed') : 'not written by a mesh command';
    return `the ${key} on ${names.length} ${kind}(s) (${why}): ${names.join(', ')}`;
  });
  if (r.keptServiceExports.length > 0) {
    lines.push(`${r.keptServiceExports.length} ServiceExport(s) and their CRD ${SERVICE_EXPORT_CRD} (--keep-exports): ${r.keptServiceExports.join(', ')}`);
  }
  return lines;
}
