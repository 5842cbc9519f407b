// The demo's workloads as Kubernetes objects: in the exporting cluster an HTTP echo, a gRPC echo, a raw
// TCP echo and a StatefulSet behind a headless Service; in the client cluster the traffic agent.
import { PROXY_PROTOCOL_ANNOTATION } from '../api/index.js';
import { DEMO_NS } from './names.js';

type Obj = Record<string, unknown> & { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> } };

function withAnnotations(o: Obj, annotations: Record<string, string>): Obj {
  return { ...o, metadata: { ...o.metadata, annotations: { ...o.metadata.annotations, ...annotations } } };
}

const podEnv = (cluster: string) => [
  { name: 'CLUSTER_NAME', value: cluster },
  { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
  { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
  { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
];

function podTemplate(app: string, cluster: string, image: string, args: string[], port: number, http: boolean) {
  return {
    metadata: { labels: { app } },
    spec: {
      containers: [{
        name: app,
        image,
        args,
        env: podEnv(cluster),
        ports: [{ name: 'p', containerPort: port }],
        readinessProbe: { ...(http ? { httpGet: { path: '/healthz', port } } : { tcpSocket: { port } }), periodSeconds: 1 },
      }],
    },
  };
}

function deployment(name: string, replicas: number, cluster: string, image: string, args: string[], port: number, http: boolean): Obj {
  return {
    apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name, namespace: DEMO_NS },
    spec: { replicas, selector: { matchLabels: { app: name } }, template: podTemplate(name, cluster, image, args, port, http) },
  };
}

function service(name: string, app: string, port: number, portName: string, extra: Record<string, unknown> = {}): Obj {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: DEMO_NS }, spec: { selector: { app }, ports: [{ name: portName, port, targetPort: port }], ...extra } };
}

/** A StatefulSet of 2 HTTP echo pods behind its governing headless Service (same name). */
function statefulSet(name: string, cluster: string, image: string): Obj[] {
  return [
    service(name, name, 8080, 'http', { clusterIP: 'None' }),
    {
      apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name, namespace: DEMO_NS },
      spec: { serviceName: name, replicas: 2, selector: { matchLabels: { app: name } }, template: podTemplate(name, cluster, image, ['app', 'http-echo', '--port', '8080'], 8080, true) },
    },
  ];
}

export const namespace = (): Obj => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: DEMO_NS } });

/** The exporting cluster's apps. Ports: web 8080 (HTTP), grpc 9090, tcp 7070, db 8080 (HTTP, per pod). */
export function demoApps(cluster: string, image: string, replicas = 2): Obj[] {
  return [
    namespace(),
    deployment('web', replicas, cluster, image, ['app', 'http-echo', '--port', '8080'], 8080, true),
    // The gateway tells web who calls it (PROXY v2 with the caller's SPIFFE id and cluster; issue 15).
    withAnnotations(service('web', 'web', 8080, 'http'), { [PROXY_PROTOCOL_ANNOTATION]: 'v2' }),
    // The same pods behind a second Service, exported flat (pod-to-pod, no gateway).
    service('web-flat', 'web', 8080, 'http'),
    deployment('grpc', replicas, cluster, image, ['app', 'grpc-echo', '--port', '9090'], 9090, false),
    service('grpc', 'grpc', 9090, 'grpc'),
    deployment('tcp', 1, cluster, image, ['app', 'tcp-echo', '--port', '7070'], 7070, false),
    service('tcp', 'tcp', 7070, 'tcp'),
    ...statefulSet('db', cluster, image),
    // A second StatefulSet, exported flat: per-pod names that resolve to the remote pod IPs. (Pods get
    // per-pod names only under their governing Service, so the flat one needs its own StatefulSet.)
    ...statefulSet('db-flat', cluster, image),
  ];
}

/** The traffic agent: the traffic client as a pod, reached through a NodePort Service. */
export function trafficAgent(cluster: string, image: string): Obj[] {
  return [
    namespace(),
    deployment('traffic-agent', 1, cluster, image, ['app', 'traffic-agent', '--port', '8081'], 8081, true),
    service('traffic-agent', 'traffic-agent', 8081, 'http', { type: 'NodePort' }),
  ];
}

/** Collection path of an object (only the kinds above). */
export function collectionOf(o: Obj): string {
  const ns = o.metadata.namespace;
  switch (o.kind) {
    case 'Namespace': return '/api/v1/namespaces';
    case 'Service': return `/api/v1/namespaces/${ns}/services`;
    case 'Deployment': return `/apis/apps/v1/namespaces/${ns}/deployments`;
    case 'StatefulSet': return `/apis/apps/v1/namespaces/${ns}/statefulsets`;
    default: throw new Error(`no collection for kind ${o.kind}`);
  }
}
