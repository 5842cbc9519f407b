// Checks every kind shares: object names, labels, annotations, owner references, finalizers, ports.
import { isObject, type Json, type JsonObject } from './patch.js';
import type { StatusCause } from './errors.js';
import type { ResourceDef } from './resources.js';

export const dns1123Label = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const dns1035Label = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
export const dns1123Subdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export const validPort = (p: unknown): p is number => typeof p === 'number' && Number.isInteger(p) && p >= 1 && p <= 65535;

export function nameCauses(def: ResourceDef, name: string): StatusCause[] {
  const field = 'metadata.name';
  if (!name) return [{ reason: 'FieldValueRequired', message: 'Required value: name or generateName is required', field }];
  if (def.group === 'rbac.authorization.k8s.io') {
    if (name === '.' || name === '..' || /[/%]/.test(name)) return [{ reason: 'FieldValueInvalid', message: `Invalid value: "${name}": may not contain '/' or '%', and may not be '.' or '..'`, field }];
    return [];
  }
  const label = def.resource === 'namespaces' || def.resource === 'services';
  if (label) {
    const re = def.resource === 'services' ? dns1035Label : dns1123Label;
    if (name.length > 63 || !re.test(name)) {
      const what = def.resource === 'services' ? 'a DNS-1035 label' : 'a lowercase RFC 1123 label';
      return [{ reason: 'FieldValueInvalid', message: `Invalid value: "${name}": must be ${what} (at most 63 lowercase alphanumeric characters or '-', starting and ending with an alphanumeric character)`, field }];
    }
    return [];
  }
  if (name.length > 253 || !dns1123Subdomain.test(name)) {
    return [{ reason: 'FieldValueInvalid', message: `Invalid value: "${name}": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character`, field }];
  }
  return [];
}

export function labelCauses(meta: Record<string, unknown>): StatusCause[] {
  const causes: StatusCause[] = [];
  // Owner references feed garbage collection: each must name its owner completely.
  const refs = meta['ownerReferences'];
  if (refs !== undefined && refs !== null) {
    if (!Array.isArray(refs)) causes.push({ reason: 'FieldValueInvalid', message: 'Invalid value: must be a list', field: 'metadata.ownerReferences' });
    else
      refs.forEach((r: unknown, i) => {
        for (const f of ['apiVersion', 'kind', 'name', 'uid']) {
          const v = isObject(r as Json) ? (r as JsonObject)[f] : undefined;
          if (typeof v !== 'string' || v === '') causes.push({ reason: 'FieldValueRequired', message: 'Required value', field: `metadata.ownerReferences[${i}].${f}` });
        }
      });
  }
  const fins = meta['finalizers'];
  if (fins !== undefined && fins !== null && (!Array.isArray(fins) || fins.some((f) => typeof f !== 'string' || f === '')))
    causes.push({ reason: 'FieldValueInvalid', message: 'Invalid value: must be a list of non-empty strings', field: 'metadata.finalizers' });
  for (const f of ['labels', 'annotations'] as const) {
    const m = meta[f];
    if (m === undefined || m === null) continue;
    if (!isObject(m as Json)) {
      causes.push({ reason: 'FieldValueInvalid', message: 'Invalid value: must be a map of strings', field: `metadata.${f}` });
      continue;
    }
    for (const [k, v] of Object.entries(m as JsonObject)) {
      if (typeof v !== 'string') causes.push({ reason: 'FieldValueInvalid', message: `Invalid value: ${JSON.stringify(v)}: must be a string`, field: `metadata.${f}[${k}]` });
      else if (f === 'labels' && (v.length > 63 || !/^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/.test(v)))
        causes.push({ reason: 'FieldValueInvalid', message: `Invalid value: "${v}": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character`, field: `metadata.labels` });
    }
  }
  return causes;
}
