// Renders the YAML files in manifests/ with a handful of values. `mesh install` applies exactly what this
// returns, so the sandbox, kind and the golden tests all exercise the same files.
//
// Templating is deliberately tiny: a string scalar may contain `{{name}}`; a scalar that is exactly one
// placeholder takes the value's type (so `replicas: "{{controllerReplicas}}"` becomes a number); a list
// item whose placeholder renders to "" is dropped (optional flags such as --ha). The files stay valid YAML.
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import { z } from 'zod';
import { DEFAULT_CLUSTER_DOMAIN, DEFAULT_TRUST_DOMAIN, dnsLabelSchema, dnsSubdomainSchema } from '../api/index.js';

/** The manifests/ folder of this checkout or image (dist/src/cli/render.js → ../../../manifests). */
export const manifestsDir = fileURLToPath(new URL('../../../manifests/', import.meta.url));

/** A Kubernetes object as rendered: enough shape to apply and to name it in messages. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string>; [k: string]: unknown };
  [k: string]: unknown;
}

export const ClusterNameSchema = dnsLabelSchema;
export const GatewayServiceTypeSchema = z.enum(['LoadBalancer', 'NodePort']);
export type GatewayServiceType = z.infer<typeof GatewayServiceTypeSchema>;

export const InstallValuesSchema = z.object({
  clusterName: dnsLabelSchema,
  clusterDomain: dnsSubdomainSchema.default(DEFAULT_CLUSTER_DOMAIN),
  trustDomain: dnsSubdomainSchema.default(DEFAULT_TRUST_DOMAIN),
  ha: z.boolean().default(false),
  gatewayServiceType: GatewayServiceTypeSchema.default('LoadBalancer'),
  image: z.string().min(1).regex(/^[^\s"]+$/, 'must be an image reference without spaces or quotes'),
  version: z.string().min(1),
});
export type InstallValues = z.infer<typeof InstallValuesSchema>;
export type InstallValuesInput = z.input<typeof InstallValuesSchema>;

export class RenderError extends Error {
  readonly code = 'ERR_RENDER';
  constructor(message: string) {
    super(message);
    this.name = 'RenderError';
  }
}

type Vars = Record<string, string | number>;
const PLACEHOLDER = /\{\{([A-Za-z][A-Za-z0-9]*)\}\}/g;
const WHOLE = /^\{\{([A-Za-z][A-Za-z0-9]*)\}\}$/;

function substitute(value: unknown, vars: Vars, where: string): unknown {
  if (typeof value === 'string') {
    const whole = WHOLE.exec(value);
    if (whole) {
      const v = vars[whole[1]];
      if (v === undefined) throw new RenderError(`${where}: no value for {{${whole[1]}}}`);
      return v;
    }
    return value.replace(PLACEHOLDER, (_m, name: string) => {
      const v = vars[name];
      if (v === undefined) throw new RenderError(`${where}: no value for {{${name}}}`);
      return String(v);
    });
  }
  if (Array.isArray(value)) {
    // Only an item that was a placeholder and rendered to "" is dropped; a literal "" (the core API group) stays.
    return value.filter((v) => !(typeof v === 'string' && v !== '' && substitute(v, vars, where) === '')).map((v) => substitute(v, vars, where));
  }
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = substitute(v, vars, where);
    return out;
  }
  return value;
}

/** Renders one multi-document YAML text; `where` names it in errors. */
export function renderTemplate(text: string, vars: Vars, where: string): KubeObject[] {
  const docs = parseAllDocuments(text);
  const out: KubeObject[] = [];
  for (const doc of docs) {
    if (doc.errors.length > 0) throw new RenderError(`${where}: ${doc.errors[0].message}`);
    const raw: unknown = doc.toJS();
    if (raw === null || raw === undefined) continue;
    const obj = substitute(raw, vars, where);
    out.push(checkObject(obj, where));
  }
  return out;
}

const ObjectShape = z.looseObject({
  apiVersion: z.string().min(1),
  kind: z.string().min(1),
  metadata: z.looseObject({ name: z.string().min(1), namespace: z.string().optional() }),
});

function checkObject(obj: unknown, where: string): KubeObject {
  const r = ObjectShape.safeParse(obj);
  if (!r.success) throw new RenderError(`${where}: not a Kubernetes object: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  return r.data as KubeObject;
}

function readTemplate(dir: string, file: string): string {
  return readFileSync(join(dir, file), 'utf8');
}

/** Files applied by `mesh install`, in order (CRDs first so Links can be stored). */
export const INSTALL_FILES = ['namespace.yaml', 'rbac-controller.yaml', 'rbac-gateway.yaml', 'controller.yaml', 'gateway.yaml', 'dns.yaml'] as const;

export function installVars(values: InstallValues): Vars {
  return {
    clusterName: values.clusterName,
    clusterDomain: values.clusterDomain,
    trustDomain: values.trustDomain,
    image: values.image,
    version: values.version,
    controllerReplicas: values.ha ? 2 : 1,
    gatewayReplicas: values.ha ? 2 : 1,
    dnsReplicas: values.ha ? 2 : 1,
    haFlag: values.ha ? '--ha' : '',
    gatewayServiceType: values.gatewayServiceType,
  };
}

/** CRD files (owned by the mirror's folder manifests/crds/); none yet is not an error here. */
export function renderCrds(dir = manifestsDir): KubeObject[] {
  const crdDir = join(dir, 'crds');
  if (!existsSync(crdDir)) return [];
  const files = readdirSync(crdDir).filter((f) => f.endsWith('.yaml') || f.endsWith('.yml')).sort();
  return files.flatMap((f) => renderTemplate(readTemplate(crdDir, f), {}, `crds/${f}`));
}

/** Everything `mesh install` applies from manifests/, in apply order. */
export function renderInstall(input: InstallValuesInput, dir = manifestsDir): KubeObject[] {
  const values = InstallValuesSchema.parse(input);
  const vars = installVars(values);
  return [...renderCrds(dir), ...INSTALL_FILES.flatMap((f) => renderTemplate(readTemplate(dir, f), vars, f))];
}

/** The target-side identity for `mesh link SOURCE TARGET`: ServiceAccount mesh-link-<source> + RBAC. */
export function renderLinkTargetRbac(source: string, dir = manifestsDir): KubeObject[] {
  const name = ClusterNameSchema.parse(source);
  return renderTemplate(readTemplate(dir, 'link-target-rbac.yaml'), { source: name }, 'link-target-rbac.yaml');
}

/** Multi-document YAML, `---` between documents, as kubectl prints it. */
export function toYamlStream(objects: readonly unknown[]): string {
  return objects.map((o) => stringify(o, { lineWidth: 0 })).join('---\n');
}
