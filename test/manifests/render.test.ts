// The rendered manifests: golden files (UPDATE_GOLDEN=1 rewrites them), the Kubernetes OpenAPI schemas
// (kubernetes-models' validators, generated from the upstream OpenAPI spec), and the security and
// least-privilege properties the issue asks for, asserted on the rendered objects.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { repoRoot } from '../helpers/process.js';
import { renderInstall, renderLinkTargetRbac, toYamlStream, renderTemplate, RenderError, type KubeObject } from '../../src/cli/render.js';
import { unknownFields } from './fields.js';

const goldenDir = resolve(repoRoot, 'test/manifests/golden');

function golden(name: string, actual: string): void {
  const path = resolve(goldenDir, name);
  if (process.env.UPDATE_GOLDEN === '1') writeFileSync(path, actual);
  assert.ok(existsSync(path), `test/manifests/golden/${name} is missing (UPDATE_GOLDEN=1 writes it)`);
  assert.equal(actual, readFileSync(path, 'utf8'), `rendered YAML differs from test/manifests/golden/${name} (UPDATE_GOLDEN=1 to accept)`);
}

const base = { clusterName: 'cluster-a', image: 'mesh-federation:0.1.0', version: '0.1.0' };

const cases = [
  { file: 'install-default.yaml', values: { ...base } },
  { file: 'install-ha-nodeport.yaml', values: { ...base, clusterName: 'cluster-b', ha: true, gatewayServiceType: 'NodePort' as const, clusterDomain: 'east.local', trustDomain: 'corp.example' } },
];

for (const c of cases) {
  test(`install manifests render as in golden/${c.file}`, () => {
    // CRDs are the mirror's files (manifests/crds/) with their own tests; golden covers ours.
    golden(c.file, toYamlStream(renderInstall(c.values).filter((o) => o.kind !== 'CustomResourceDefinition')));
  });
}

test('link target RBAC renders as in golden/link-target-rbac.yaml', () => {
  golden('link-target-rbac.yaml', toYamlStream(renderLinkTargetRbac('cluster-a')));
});

interface Model {
  validate(): void;
}
type ModelCtor = new (data: unknown) => Model;

/** kubernetes-models lays out one module per kind: core `v1/Service`, `apps/v1/Deployment`, … */
async function validateAgainstOpenApi(obj: KubeObject): Promise<void> {
  const modulePath = `kubernetes-models/${obj.apiVersion}/${obj.kind}`;
  const mod = (await import(modulePath)) as Record<string, unknown>;
  const Ctor = mod[obj.kind] as ModelCtor | undefined;
  assert.ok(Ctor, `no schema for ${obj.apiVersion} ${obj.kind}`);
  const model = new Ctor(obj);
  try {
    model.validate();
  } catch (err) {
    assert.fail(`${obj.kind}/${obj.metadata.name} does not match the Kubernetes OpenAPI schema: ${(err as Error).message}`);
  }
}

/** Kinds of our own CRDs (ClusterProperty): kubernetes-models has no schema for them; zod checks them below. */
const builtIn = (o: KubeObject) => !String(o.apiVersion).startsWith('about.k8s.io/');

test('every rendered object validates against the Kubernetes OpenAPI schema', async () => {
  const all = [...renderInstall(cases[0].values), ...renderInstall(cases[1].values), ...renderLinkTargetRbac('cluster-a')];
  assert.ok(all.length >= 20);
  for (const obj of all.filter(builtIn)) await validateAgainstOpenApi(obj);
});

test('no rendered object has a field the Kubernetes API does not define (strict field validation)', () => {
  const all = [...renderInstall({ ...base, ha: true, gatewayServiceType: 'NodePort' }), ...renderLinkTargetRbac('cluster-a')].filter(builtIn);
  assert.deepEqual(unknownFields(all, repoRoot), []);
  // And the check sees a misspelling, deep inside a pod template.
  const dep = structuredClone(all.find((o) => o.kind === 'Deployment')) as KubeObject & { spec: { template: { spec: { containers: Record<string, unknown>[] } } } };
  dep.spec.template.spec.containers[0].readinessprobe = {};
  assert.deepEqual(unknownFields([dep], repoRoot), ['Deployment/mesh-controller.spec.template.spec.containers[0].readinessprobe']);
});

test('the schema check itself rejects a broken object (so the test above can fail)', async () => {
  const dep = renderInstall(base).find((o) => o.kind === 'Deployment');
  assert.ok(dep);
  const broken = structuredClone(dep) as KubeObject & { spec: { replicas: unknown } };
  broken.spec.replicas = 'two';
  await assert.rejects(validateAgainstOpenApi(broken), /OpenAPI schema/);
});

type Container = { securityContext: { runAsNonRoot?: boolean; readOnlyRootFilesystem: boolean; allowPrivilegeEscalation: boolean; capabilities: { drop: string[] } }; resources: { requests: object; limits: object }; livenessProbe: { httpGet: { port: string; path: string } }; readinessProbe: { httpGet: { port: string; path: string } }; ports: { name: string; containerPort: number }[]; args: string[]; image: string; env?: { name: string; valueFrom?: { fieldRef?: { fieldPath: string } } }[] };
type Deployment = KubeObject & { spec: { replicas: number; template: { spec: { serviceAccountName: string; securityContext: { runAsNonRoot: boolean; seccompProfile: { type: string } }; containers: Container[]; volumes: { name: string; secret?: { secretName: string }; configMap?: { name: string } }[] } } } };

function find(objs: KubeObject[], kind: string, name: string): KubeObject {
  const o = objs.find((x) => x.kind === kind && x.metadata.name === name);
  assert.ok(o, `${kind}/${name} missing`);
  return o;
}

test('controller and gateway Deployments are hardened, probed and resource-bounded', () => {
  for (const ha of [false, true]) {
    const objs = renderInstall({ ...base, ha });
    for (const [name, adminPort] of [['mesh-controller', 9990], ['mesh-gateway', 4191]] as const) {
      const d = find(objs, 'Deployment', name) as Deployment;
      assert.equal(d.metadata.namespace, 'mesh-system');
      assert.equal(d.spec.replicas, ha ? 2 : 1, `${name} replicas with ha=${ha}`);
      const pod = d.spec.template.spec;
      assert.equal(pod.serviceAccountName, name);
      assert.equal(pod.securityContext.runAsNonRoot, true);
      assert.equal(pod.securityContext.seccompProfile.type, 'RuntimeDefault');
      const [c] = pod.containers;
      assert.equal(c.image, 'mesh-federation:0.1.0');
      assert.equal(c.args[0], name === 'mesh-controller' ? 'controller' : 'gateway');
      assert.equal(c.securityContext.readOnlyRootFilesystem, true);
      assert.equal(c.securityContext.allowPrivilegeEscalation, false);
      assert.deepEqual(c.securityContext.capabilities.drop, ['ALL']);
      assert.ok(Object.keys(c.resources.requests).length > 0 && Object.keys(c.resources.limits).length > 0);
      const admin = c.ports.find((p) => p.name === 'admin');
      assert.equal(admin?.containerPort, adminPort);
      assert.equal(c.livenessProbe.httpGet.port, 'admin');
      assert.equal(c.readinessProbe.httpGet.port, 'admin');
      if (name === 'mesh-controller') {
        assert.equal(c.args.includes('--ha'), ha);
        assert.deepEqual(pod.volumes.map((v) => v.secret?.secretName ?? v.configMap?.name).sort(), ['mesh-issuer', 'mesh-trust-roots']);
        assert.equal(c.ports.find((p) => p.name === 'identity')?.containerPort, 8080);
      } else {
        assert.equal(c.ports.find((p) => p.name === 'tunnel')?.containerPort, 4143);
        // Every pod address (both families when dual-stack) for --host's default; the primary one as before.
        const fieldOf = (env: string) => c.env?.find((e) => e.name === env)?.valueFrom?.fieldRef?.fieldPath;
        assert.equal(fieldOf('POD_IPS'), 'status.podIPs');
        assert.equal(fieldOf('POD_IP'), 'status.podIP');
        assert.ok(!pod.volumes.some((v) => v.secret?.secretName === 'mesh-issuer'), 'the gateway must never mount the issuer key');
      }
    }
    assert.ok(find(objs, 'PodDisruptionBudget', 'mesh-controller'));
    assert.ok(find(objs, 'PodDisruptionBudget', 'mesh-gateway'));
  }
});

// Issue 17 item 7: the admin port (unauthenticated /metrics) was published on the externally reachable
// gateway Service; it has its own ClusterIP Service now.
test('Services: controller 8080/9990, gateway 4143 with the chosen service type, gateway admin 4191 on a ClusterIP Service', () => {
  for (const type of ['LoadBalancer', 'NodePort'] as const) {
    const objs = renderInstall({ ...base, gatewayServiceType: type });
    const gw = find(objs, 'Service', 'mesh-gateway') as KubeObject & { spec: { type: string; ipFamilyPolicy?: string; ports: { name: string; port: number }[] } };
    assert.equal(gw.spec.type, type);
    // Dual-stack clusters get an IPv6 EndpointSlice of the gateway pods (the mirror's IPv6 gateway slices).
    assert.equal(gw.spec.ipFamilyPolicy, 'PreferDualStack');
    assert.deepEqual(gw.spec.ports.map((p) => [p.name, p.port]), [['tunnel', 4143]]);
    const admin = find(objs, 'Service', 'mesh-gateway-admin') as KubeObject & { spec: { type?: string; ports: { name: string; port: number }[] } };
    assert.equal(admin.spec.type, 'ClusterIP');
    assert.deepEqual(admin.spec.ports.map((p) => [p.name, p.port]), [['admin', 4191]]);
    const ctl = find(objs, 'Service', 'mesh-controller') as KubeObject & { spec: { ports: { name: string; port: number }[] } };
    assert.deepEqual(ctl.spec.ports.map((p) => [p.name, p.port]), [['identity', 8080], ['admin', 9990]]);
  }
});

type Rule = { apiGroups: string[]; resources: string[]; verbs: string[]; resourceNames?: string[] };
function rules(objs: KubeObject[], kind: string, name: string): Rule[] {
  return (find(objs, kind, name) as KubeObject & { rules: Rule[] }).rules;
}
const WRITE = ['create', 'update', 'patch', 'delete', 'deletecollection'];

test('RBAC is least privilege: no wildcards, secrets only in mesh-system, gateway read-only', () => {
  const objs = [...renderInstall(base), ...renderLinkTargetRbac('cluster-a')];
  for (const o of objs.filter((x) => x.kind === 'ClusterRole' || x.kind === 'Role')) {
    for (const r of (o as KubeObject & { rules: Rule[] }).rules) {
      for (const f of [r.apiGroups, r.resources, r.verbs]) assert.ok(!f.includes('*'), `${o.kind}/${o.metadata.name} has a wildcard`);
    }
  }
  const ctlCluster = rules(objs, 'ClusterRole', 'mesh-controller');
  assert.ok(!ctlCluster.some((r) => r.resources.includes('secrets')), 'controller must not read Secrets cluster-wide');
  assert.ok(ctlCluster.some((r) => r.resources.includes('tokenreviews') && r.verbs.join() === 'create'));
  const ctlNs = rules(objs, 'Role', 'mesh-controller');
  assert.ok(ctlNs.some((r) => r.resources.includes('leases')));
  assert.ok(ctlNs.some((r) => r.resources.includes('links/status')));
  assert.ok(ctlNs.some((r) => r.resources.includes('secrets') && r.verbs.includes('update')));
  assert.ok(!ctlNs.some((r) => r.resources.includes('secrets') && (r.verbs.includes('create') || r.verbs.includes('delete'))));
  // Issue 17 item 2: only the controller writes the outbound route table, and only that ConfigMap by name.
  const cmWrites = ctlNs.filter((r) => r.resources.includes('configmaps') && r.verbs.some((v) => v === 'update' || v === 'patch'));
  assert.deepEqual(cmWrites.map((r) => r.resourceNames), [['mesh-gateway-routes']]);
  assert.ok(!ctlNs.some((r) => r.resources.includes('configmaps') && r.verbs.includes('delete')));
  for (const r of [...rules(objs, 'ClusterRole', 'mesh-gateway'), ...rules(objs, 'Role', 'mesh-gateway')]) {
    assert.ok(!r.verbs.some((v) => WRITE.includes(v)), `gateway rule ${JSON.stringify(r)} writes`);
  }
  // mesh-dns only reads what clusterset.local is made of.
  const dns = rules(objs, 'ClusterRole', 'mesh-dns');
  assert.deepEqual(dns.map((r) => r.resources).flat().sort(), ['customresourcedefinitions', 'endpointslices', 'serviceimports']);
  for (const r of dns) assert.deepEqual(r.verbs, ['get', 'list', 'watch']);
});

test('link target RBAC: read Services/EndpointSlices (and list/watch ServiceExports/ServiceImports), token for and deletion of its own ServiceAccount only', () => {
  const objs = renderLinkTargetRbac('cluster-a');
  const sa = find(objs, 'ServiceAccount', 'mesh-link-cluster-a');
  assert.equal(sa.metadata.namespace, 'mesh-system');
  const cr = rules(objs, 'ClusterRole', 'mesh-link-cluster-a');
  assert.deepEqual(cr.map((r) => r.resources).flat().sort(), ['endpointslices', 'serviceexports', 'serviceimports', 'services']);
  for (const r of cr) assert.deepEqual(r.verbs, r.resources.includes('serviceexports') ? ['list', 'watch'] : ['get', 'list', 'watch']);
  const role = rules(objs, 'Role', 'mesh-link-cluster-a');
  assert.deepEqual(role, [
    { apiGroups: [''], resources: ['serviceaccounts/token'], resourceNames: ['mesh-link-cluster-a'], verbs: ['create'] },
    // The source's controller removes it when the Link is deleted (issue 17 item 7).
    { apiGroups: [''], resources: ['serviceaccounts'], resourceNames: ['mesh-link-cluster-a'], verbs: ['delete'] },
  ]);
});

test('bad values are refused with a clear message, not rendered', () => {
  assert.throws(() => renderInstall({ ...base, clusterName: 'Cluster_A' }), /DNS label/);
  assert.throws(() => renderInstall({ ...base, image: 'a b' }), /image/);
  assert.throws(() => renderLinkTargetRbac('../etc'), /DNS label/);
  assert.throws(() => renderTemplate('kind: X\nmetadata: {name: "{{nope}}"}\napiVersion: v1\n', {}, 'x.yaml'), (e: unknown) => e instanceof RenderError && /no value for \{\{nope\}\}/.test(e.message));
  assert.throws(() => renderTemplate('just: text\n', {}, 'y.yaml'), /not a Kubernetes object/);
});
