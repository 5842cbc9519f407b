// GET pods/{name}/log: the container's log as text/plain, followed with ?follow=true.
import { ApiError, badRequest, notFound } from '../errors.js';
import { grKey } from '../resources.js';
import type { Obj } from '../store.js';
import type { ResourceRequest, ServerDeps, UpgradeRequest } from './context.js';
import type { PodLogOptions } from './pod-streams.js';
import { queryBool } from './paths.js';

function intParam(q: URLSearchParams, name: string, min: number): number | undefined {
  const v = q.get(name);
  if (v === null || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw badRequest(`${name}: Invalid value: "${v}": must be an integer of at least ${min}`);
  return n;
}

/** The container a request names, or the pod's only one; 400 as kube-apiserver words it otherwise. */
export function containerOf(pod: Obj, asked: string | null): string {
  const spec = pod['spec'] as { containers?: Array<{ name?: string }> } | undefined;
  const names = (spec?.containers ?? []).map((c) => c.name ?? '');
  if (asked) {
    if (!names.includes(asked)) throw badRequest(`container ${asked} is not valid for pod ${pod.metadata.name}`);
    return asked;
  }
  if (names.length === 1) return names[0] as string;
  throw badRequest(`a container name must be specified for pod ${pod.metadata.name}, choose one of: [${names.join(' ')}]`);
}

export function podOf(r: UpgradeRequest): Obj {
  const name = r.target.name ?? '';
  const pod = r.deps.rest.store.get(grKey('', 'pods'), r.ns, name);
  if (!pod) throw notFound('pods', '', name);
  return pod;
}

export function podStreamsOf(r: UpgradeRequest, pod: Obj): NonNullable<ServerDeps['podStreams']> {
  const ps = r.deps.podStreams;
  if (!ps) throw badRequest(`pod ${pod.metadata.name} does not have a host assigned (no kubelet serves this API server)`);
  return ps;
}

export async function servePodLog(r: ResourceRequest): Promise<void> {
  if (r.verb !== 'get') throw new ApiError('MethodNotAllowed', 'pods/log accepts GET only');
  r.req.resume();
  const pod = podOf(r);
  const q = r.query;
  const o: PodLogOptions = {
    container: containerOf(pod, q.get('container')),
    follow: queryBool(q, 'follow'),
    previous: queryBool(q, 'previous'),
    timestamps: queryBool(q, 'timestamps'),
  };
  const tail = intParam(q, 'tailLines', 0);
  const since = intParam(q, 'sinceSeconds', 1);
  const limit = intParam(q, 'limitBytes', 1);
  if (tail !== undefined) o.tailLines = tail;
  if (since !== undefined) o.sinceSeconds = since;
  if (limit !== undefined) o.limitBytes = limit;
  const ac = new AbortController();
  r.res.on('close', () => ac.abort());
  const stream = await podStreamsOf(r, pod).log(pod, o, ac.signal);
  r.res.writeHead(200, { 'Content-Type': 'text/plain', 'Transfer-Encoding': 'chunked', 'Cache-Control': 'no-cache, private' });
  r.res.flushHeaders();
  await new Promise<void>((resolve) => {
    stream.on('data', (c: Buffer) => r.res.write(c));
    stream.on('end', () => {
      r.res.end();
      resolve();
    });
    stream.on('error', () => {
      r.res.destroy();
      resolve();
    });
    r.res.on('close', () => {
      stream.destroy();
      resolve();
    });
  });
}
