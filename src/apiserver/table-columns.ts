// The columns kubectl shows for built-in kinds, as kube-apiserver's printers define them (NAME, READY,
// STATUS, RESTARTS, AGE, and the `-o wide` ones at priority 1).
import { isObject, type Json, type JsonObject } from './patch.js';
import type { Obj } from './store.js';

export type Col = { name: string; type: string; format?: string; priority?: number; cell: (o: Obj) => Json };

export function age(ts: unknown): string {
  if (typeof ts !== 'string') return '<unknown>';
  const s = Math.max(0, Math.floor((Date.now() - Date.parse(ts)) / 1000));
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 10) return `${m}m${s % 60}s`;
  if (m < 180) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h`;
  return `${Math.floor(h / 24)}d`;
}

export function get(o: Obj | Json, ...path: string[]): Json | undefined {
  let cur: Json | undefined = o as unknown as Json;
  for (const p of path) cur = isObject(cur) ? cur[p] : undefined;
  return cur;
}

const arr = (v: Json | undefined): Json[] => (Array.isArray(v) ? v : []);
const num = (v: Json | undefined): number => (typeof v === 'number' ? v : 0);
const str = (v: Json | undefined, dflt = ''): string => (typeof v === 'string' ? v : dflt);

export const nameCol: Col = { name: 'Name', type: 'string', format: 'name', cell: (o) => o.metadata.name };
export const ageCol: Col = { name: 'Age', type: 'string', cell: (o) => age(o.metadata['creationTimestamp']) };

/** kubectl's pod STATUS: the phase, overridden by container waiting/terminated reasons and Terminating. */
export function podStatusReason(o: Obj): string {
  let reason = str(get(o, 'status', 'reason')) || str(get(o, 'status', 'phase'), 'Pending');
  let running = false;
  for (const c of [...arr(get(o, 'status', 'containerStatuses'))].reverse()) {
    const waiting = get(c, 'state', 'waiting');
    const term = get(c, 'state', 'terminated');
    if (isObject(waiting) && str(waiting['reason'])) reason = str(waiting['reason']);
    else if (isObject(term) && str(term['reason'])) reason = str(term['reason']);
    else if (isObject(term)) reason = term['signal'] ? `Signal:${num(term['signal'])}` : `ExitCode:${num(term['exitCode'])}`;
    else if (get(c, 'ready') === true && isObject(get(c, 'state', 'running'))) running = true;
  }
  if (reason === 'Completed' && running) reason = 'Running';
  if (o.metadata['deletionTimestamp']) reason = 'Terminating';
  return reason;
}

function podRestarts(o: Obj): string {
  let n = 0;
  let last: string | undefined;
  for (const c of arr(get(o, 'status', 'containerStatuses'))) {
    n += num(get(c, 'restartCount'));
    const fin = str(get(c, 'lastState', 'terminated', 'finishedAt'));
    if (fin && (!last || fin > last)) last = fin;
  }
  return n > 0 && last ? `${n} (${age(last)} ago)` : String(n);
}

const podColumns: Col[] = [
  nameCol,
  { name: 'Ready', type: 'string', cell: (o) => { const cs = arr(get(o, 'status', 'containerStatuses')); const total = arr(get(o, 'spec', 'containers')).length; return `${cs.filter((c) => get(c, 'ready') === true).length}/${total}`; } },
  { name: 'Status', type: 'string', cell: podStatusReason },
  { name: 'Restarts', type: 'string', cell: podRestarts },
  ageCol,
  { name: 'IP', type: 'string', priority: 1, cell: (o) => str(get(o, 'status', 'podIP'), '<none>') },
  { name: 'Node', type: 'string', priority: 1, cell: (o) => str(get(o, 'spec', 'nodeName'), '<none>') },
  { name: 'Nominated Node', type: 'string', priority: 1, cell: () => '<none>' },
  { name: 'Readiness Gates', type: 'string', priority: 1, cell: () => '<none>' },
];

function nodeStatus(o: Obj): string {
  const ready = arr(get(o, 'status', 'conditions')).find((c) => get(c, 'type') === 'Ready');
  const s = ready ? (get(ready, 'status') === 'True' ? 'Ready' : 'NotReady') : 'Unknown';
  return get(o, 'spec', 'unschedulable') === true ? `${s},SchedulingDisabled` : s;
}

function nodeRoles(o: Obj): string {
  const labels = (o.metadata['labels'] as Record<string, string> | undefined) ?? {};
  const roles = Object.keys(labels).filter((k) => k.startsWith('node-role.kubernetes.io/')).map((k) => k.slice('node-role.kubernetes.io/'.length)).filter((r) => r);
  if (labels['kubernetes.io/role']) roles.push(labels['kubernetes.io/role']);
  return roles.length ? roles.sort().join(',') : '<none>';
}

const nodeAddress = (o: Obj, type: string): string => str(get(arr(get(o, 'status', 'addresses')).find((a) => get(a, 'type') === type) ?? {}, 'address'), '<none>');

const nodeColumns: Col[] = [
  nameCol,
  { name: 'Status', type: 'string', cell: nodeStatus },
  { name: 'Roles', type: 'string', cell: nodeRoles },
  ageCol,
  { name: 'Version', type: 'string', cell: (o) => str(get(o, 'status', 'nodeInfo', 'kubeletVersion')) },
  { name: 'Internal-IP', type: 'string', priority: 1, cell: (o) => nodeAddress(o, 'InternalIP') },
  { name: 'External-IP', type: 'string', priority: 1, cell: (o) => nodeAddress(o, 'ExternalIP') },
  { name: 'OS-Image', type: 'string', priority: 1, cell: (o) => str(get(o, 'status', 'nodeInfo', 'osImage'), '<unknown>') },
  { name: 'Kernel-Version', type: 'string', priority: 1, cell: (o) => str(get(o, 'status', 'nodeInfo', 'kernelVersion'), '<unknown>') },
  { name: 'Container-Runtime', type: 'string', priority: 1, cell: (o) => str(get(o, 'status', 'nodeInfo', 'containerRuntimeVersion'), '<unknown>') },
];

/** CONTAINERS, IMAGES, SELECTOR of a workload's pod template (`-o wide`). */
function templateColumns(): Col[] {
  const containers = (o: Obj) => arr(get(o, 'spec', 'template', 'spec', 'containers'));
  return [
    { name: 'Containers', type: 'string', priority: 1, cell: (o) => containers(o).map((c) => str(get(c, 'name'))).join(',') },
    { name: 'Images', type: 'string', priority: 1, cell: (o) => containers(o).map((c) => str(get(c, 'image'))).join(',') },
    { name: 'Selector', type: 'string', priority: 1, cell: (o) => Object.entries((get(o, 'spec', 'selector', 'matchLabels') as JsonObject | undefined) ?? {}).map(([k, v]) => `${k}=${String(v)}`).join(',') },
  ];
}

const deploymentColumns: Col[] = [
  nameCol,
  { name: 'Ready', type: 'string', cell: (o) => `${num(get(o, 'status', 'readyReplicas'))}/${num(get(o, 'spec', 'replicas'))}` },
  { name: 'Up-to-date', type: 'integer', cell: (o) => num(get(o, 'status', 'updatedReplicas')) },
  { name: 'Available', type: 'integer', cell: (o) => num(get(o, 'status', 'availableReplicas')) },
  ageCol,
  ...templateColumns(),
];

const replicaSetColumns: Col[] = [
  nameCol,
  { name: 'Desired', type: 'integer', cell: (o) => num(get(o, 'spec', 'replicas')) },
  { name: 'Current', type: 'integer', cell: (o) => num(get(o, 'status', 'replicas')) },
  { name: 'Ready', type: 'integer', cell: (o) => num(get(o, 'status', 'readyReplicas')) },
  ageCol,
  ...templateColumns(),
];

function jobStatus(o: Obj): string {
  const conds = arr(get(o, 'status', 'conditions')).filter((c) => get(c, 'status') === 'True').map((c) => str(get(c, 'type')));
  if (conds.includes('Failed')) return 'Failed';
  if (conds.includes('Complete')) return 'Complete';
  if (get(o, 'spec', 'suspend') === true) return 'Suspended';
  return 'Running';
}

function jobDuration(o: Obj): string {
  const start = str(get(o, 'status', 'startTime'));
  if (!start) return '';
  const end = str(get(o, 'status', 'completionTime'));
  const s = Math.max(0, Math.floor(((end ? Date.parse(end) : Date.now()) - Date.parse(start)) / 1000));
  return s < 120 ? `${s}s` : `${Math.floor(s / 60)}m`;
}

const jobColumns: Col[] = [
  nameCol,
  { name: 'Status', type: 'string', cell: jobStatus },
  { name: 'Completions', type: 'string', cell: (o) => `${num(get(o, 'status', 'succeeded'))}/${typeof get(o, 'spec', 'completions') === 'number' ? num(get(o, 'spec', 'completions')) : 1}` },
  { name: 'Duration', type: 'string', cell: jobDuration },
  ageCol,
  ...templateColumns(),
];

const servicePorts = (o: Obj): string => {
  const ps = arr(get(o, 'spec', 'ports'));
  if (ps.length === 0) return '<none>';
  return ps.map((p) => (isObject(p) ? `${String(p['port'])}${p['nodePort'] ? ':' + String(p['nodePort']) : ''}/${String(p['protocol'] ?? 'TCP')}` : '')).join(',');
};

const endpointsList = (o: Obj): string => {
  const eps = arr(o['subsets'] as Json).flatMap((ss) => {
    if (!isObject(ss)) return [];
    const ips = arr(ss['addresses']).map((a) => (isObject(a) ? String(a['ip']) : ''));
    const ports = arr(ss['ports']).length ? arr(ss['ports']).map((p) => (isObject(p) ? String(p['port']) : '')) : [''];
    return ips.flatMap((ip) => ports.map((p) => (p ? `${ip}:${p}` : ip)));
  });
  return eps.length ? eps.join(',') : '<none>';
};

const dataCount = (o: Obj): number => (isObject(o['data'] as Json) ? Object.keys(o['data'] as JsonObject).length : 0);

/** By `<group>/<resource>`; kinds not here get NAME and AGE. */
export const builtinColumns: Record<string, Col[]> = {
  '/pods': podColumns,
  '/nodes': nodeColumns,
  '/services': [
    nameCol,
    { name: 'Type', type: 'string', cell: (o) => str(get(o, 'spec', 'type'), 'ClusterIP') },
    { name: 'Cluster-IP', type: 'string', cell: (o) => str(get(o, 'spec', 'clusterIP'), '<none>') },
    { name: 'External-IP', type: 'string', cell: (o) => str(get(o, 'spec', 'externalName'), '') || arr(get(o, 'status', 'loadBalancer', 'ingress')).map((i) => str(get(i, 'ip'))).join(',') || '<none>' },
    { name: 'Port(s)', type: 'string', cell: servicePorts },
    ageCol,
    { name: 'Selector', type: 'string', priority: 1, cell: (o) => Object.entries((get(o, 'spec', 'selector') as JsonObject | undefined) ?? {}).map(([k, v]) => `${k}=${String(v)}`).join(',') || '<none>' },
  ],
  '/namespaces': [nameCol, { name: 'Status', type: 'string', cell: (o) => str(get(o, 'status', 'phase'), 'Active') }, ageCol],
  'apps/deployments': deploymentColumns,
  'apps/replicasets': replicaSetColumns,
  'apps/statefulsets': [nameCol, { name: 'Ready', type: 'string', cell: (o) => `${num(get(o, 'status', 'readyReplicas'))}/${num(get(o, 'spec', 'replicas'))}` }, ageCol, ...templateColumns().slice(0, 2)],
  'batch/jobs': jobColumns,
  'discovery.k8s.io/endpointslices': [
    nameCol,
    { name: 'AddressType', type: 'string', cell: (o) => str(o['addressType'] as Json) },
    { name: 'Ports', type: 'string', cell: (o) => arr(o['ports'] as Json).map((p) => (isObject(p) ? String(p['port']) : '')).join(',') || '<unset>' },
    { name: 'Endpoints', type: 'string', cell: (o) => arr(o['endpoints'] as Json).flatMap((e) => (isObject(e) ? arr(e['addresses']) : [])).join(',') || '<unset>' },
    ageCol,
  ],
  '/secrets': [nameCol, { name: 'Type', type: 'string', cell: (o) => str(o['type'] as Json, 'Opaque') }, { name: 'Data', type: 'integer', cell: dataCount }, ageCol],
  '/configmaps': [nameCol, { name: 'Data', type: 'integer', cell: dataCount }, ageCol],
  '/events': [
    { name: 'Last Seen', type: 'string', cell: (o) => age(o['lastTimestamp'] ?? o['eventTime'] ?? o.metadata['creationTimestamp']) },
    { name: 'Type', type: 'string', cell: (o) => str(o['type'] as Json) },
    { name: 'Reason', type: 'string', cell: (o) => str(o['reason'] as Json) },
    { name: 'Object', type: 'string', cell: (o) => `${str(get(o, 'involvedObject', 'kind')).toLowerCase()}/${str(get(o, 'involvedObject', 'name'))}` },
    { name: 'Message', type: 'string', cell: (o) => str(o['message'] as Json) },
    { ...nameCol, priority: 1 },
  ],
  '/endpoints': [nameCol, { name: 'Endpoints', type: 'string', cell: endpointsList }, ageCol],
  'apiextensions.k8s.io/customresourcedefinitions': [nameCol, { name: 'Created At', type: 'date', cell: (o) => str(o.metadata['creationTimestamp'] as Json) }],
  'coordination.k8s.io/leases': [nameCol, { name: 'Holder', type: 'string', cell: (o) => str(get(o, 'spec', 'holderIdentity')) }, ageCol],
};
