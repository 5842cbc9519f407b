// GET pods/{name[:port]}/proxy/{path}: the API server fetches the path from the pod over HTTP, as
// kube-apiserver does. Clients outside the cluster network (`mesh gateways` reading gateway /metrics) use
// it instead of dialling pod IPs, which are not routable from outside a cluster.
import http from 'node:http';
import { ApiError, badRequest, notFound, toStatus } from '../errors.js';
import { grKey } from '../resources.js';
import type { ResourceRequest } from './context.js';
import { send } from './respond.js';

interface PodView {
  status?: { podIP?: unknown };
  spec?: { containers?: { ports?: { containerPort?: unknown }[] }[] };
}

export async function servePodProxy(r: ResourceRequest): Promise<void> {
  const { req, res, target: p } = r;
  req.resume();
  if (req.method !== 'GET' && req.method !== 'HEAD') throw new ApiError('MethodNotAllowed', 'pods/proxy accepts GET and HEAD only');
  const m = /^(?:(https?):)?([^:]+)(?::(\d{1,5}))?$/.exec(p.name ?? '');
  if (!m) throw badRequest(`invalid pod proxy name "${p.name ?? ''}": want <pod>, <pod>:<port> or http:<pod>:<port>`);
  if (m[1] === 'https') throw badRequest('pods/proxy: only http is supported');
  const podName = m[2] as string;
  const pod = r.deps.rest.store.get(grKey('', 'pods'), p.namespace, podName) as PodView | undefined;
  if (!pod) throw notFound('pods', '', podName);
  const ip = typeof pod.status?.podIP === 'string' ? pod.status.podIP : '';
  if (!ip) throw new ApiError('ServiceUnavailable', `pod ${podName} has no IP yet`);
  const declared = pod.spec?.containers?.flatMap((c) => c.ports ?? []).map((x) => x.containerPort).find((x) => typeof x === 'number');
  const port = m[3] !== undefined ? Number(m[3]) : typeof declared === 'number' ? declared : 80;
  if (port < 1 || port > 65535) throw badRequest(`invalid port ${port}`);
  await new Promise<void>((resolve) => {
    const upstream = http.request({ host: ip, port, path: (p.proxyPath ?? '/') + r.search, method: req.method, timeout: 10_000, headers: { accept: req.headers['accept'] ?? '*/*' } }, (up) => {
      res.writeHead(up.statusCode ?? 502, { 'Content-Type': up.headers['content-type'] ?? 'application/octet-stream' });
      up.pipe(res);
      up.on('end', resolve);
      up.on('error', () => {
        res.destroy();
        resolve();
      });
    });
    upstream.on('timeout', () => upstream.destroy(new Error('no answer within 10 s')));
    upstream.on('error', (err) => {
      if (!res.headersSent) send(res, 503, JSON.stringify(toStatus(new ApiError('ServiceUnavailable', `error trying to reach pod ${podName} at ${ip}:${port}: ${err.message}`))));
      else res.destroy();
      resolve();
    });
    upstream.end();
  });
}
