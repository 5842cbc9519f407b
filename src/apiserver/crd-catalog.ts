// The CRDs the server serves: their parsed definitions, the registry entries they add, and the status a
// CRD gets when it is written.
import { invalid } from './errors.js';
import type { JsonObject } from './patch.js';
import { grKey, type Registry, type ResourceDef } from './resources.js';
import { parseCrd, type CrdInfo } from './crd.js';
import { stamp } from './rest-meta.js';
import type { Obj } from './store.js';

export const CRD_GR = grKey('apiextensions.k8s.io', 'customresourcedefinitions');

export class CrdCatalog {
  private readonly infos = new Map<string, CrdInfo>();

  constructor(private readonly registry: Registry) {}

  /** Serves a CRD's resource (again, after an update). */
  register(info: CrdInfo): void {
    const served = info.versions.filter((v) => v.served);
    const storage = info.versions.find((v) => v.storage);
    const ordered = [...served].sort((a, b) => (a === storage ? -1 : b === storage ? 1 : 0)).map((v) => v.name);
    this.registry.add({
      group: info.group,
      versions: ordered,
      resource: info.plural,
      singular: info.singular,
      kind: info.kind,
      namespaced: info.namespaced,
      shortNames: info.shortNames,
      categories: info.categories,
      verbs: ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'],
      subresources: info.versions.some((v) => v.status) ? ['status'] : [],
      custom: true,
      printerColumns: Object.fromEntries(info.versions.map((v) => [v.name, v.columns])),
      listKind: info.listKind,
    });
    this.infos.set(grKey(info.group, info.plural), info);
  }

  /** The OpenAPI v3 schema of one served version of a custom resource. */
  schemaOf(gr: string, version: string): JsonObject | undefined {
    return this.infos.get(gr)?.versions.find((x) => x.name === version)?.schema;
  }

  /** Every CRD served, for OpenAPI. */
  all(): CrdInfo[] {
    return [...this.infos.values()];
  }

  /** Stops serving the resource of a deleted CRD; returns what it served, if anything. */
  unregister(crd: Obj): CrdInfo | undefined {
    const spec = crd['spec'] as JsonObject;
    const info = this.infos.get(grKey(String(spec['group']), String((spec['names'] as JsonObject)['plural'])));
    if (!info) return undefined;
    this.registry.remove(info.group, info.plural);
    this.infos.delete(grKey(info.group, info.plural));
    return info;
  }
}

/** Validates a CRD write (names are immutable) and sets the status kube-apiserver's controllers would. */
export function admitCrd(def: ResourceDef, obj: Obj, prev: Obj | undefined): void {
  const info = parseCrd(obj);
  if (prev) {
    const old = parseCrd(prev);
    if (old.group !== info.group || old.plural !== info.plural || old.namespaced !== info.namespaced) throw invalid(def.kind, def.group, obj.metadata.name, [{ reason: 'FieldValueInvalid', message: 'Invalid value: field is immutable', field: 'spec' }]);
  }
  obj['status'] = {
    conditions: [
      { type: 'NamesAccepted', status: 'True', reason: 'NoConflicts', message: 'no conflicts found', lastTransitionTime: stamp() },
      { type: 'Established', status: 'True', reason: 'InitialNamesAccepted', message: 'the initial names have been accepted', lastTransitionTime: stamp() },
    ],
    acceptedNames: { plural: info.plural, singular: info.singular, kind: info.kind, listKind: info.listKind, ...(info.shortNames.length ? { shortNames: info.shortNames } : {}), ...(info.categories.length ? { categories: info.categories } : {}) },
    storedVersions: info.versions.filter((v) => v.storage).map((v) => v.name),
  };
}
