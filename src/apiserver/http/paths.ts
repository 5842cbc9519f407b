// Kubernetes REST paths: /api/v1/…, /apis/<group>/<version>/… → what the request names, and its verb.

export interface ResourcePath {
  group: string;
  version: string;
  namespace?: string;
  resource: string;
  name?: string;
  subresource?: string;
  /** For `pods/{name}/proxy/{path}`: the path to ask the pod for. */
  proxyPath?: string;
  watchPath: boolean;
}

export interface DiscoveryPath {
  discovery: 'api' | 'apis' | 'group' | 'list';
  group: string;
  version: string;
}

export function parsePath(segs: string[]): ResourcePath | DiscoveryPath | undefined {
  let group = '';
  let version: string;
  let rest: string[];
  if (segs[0] === 'api') {
    if (segs.length === 1) return { discovery: 'api', group: '', version: '' };
    version = segs[1];
    rest = segs.slice(2);
  } else if (segs[0] === 'apis') {
    if (segs.length === 1) return { discovery: 'apis', group: '', version: '' };
    group = segs[1];
    if (segs.length === 2) return { discovery: 'group', group, version: '' };
    version = segs[2];
    rest = segs.slice(3);
  } else return undefined;
  if (rest.length === 0) return { discovery: 'list', group, version };
  let watchPath = false;
  if (rest[0] === 'watch') {
    watchPath = true;
    rest = rest.slice(1);
  }
  let namespace: string | undefined;
  if (rest[0] === 'namespaces' && rest.length >= 2) {
    if (rest.length === 2 || (rest.length === 3 && (rest[2] === 'status' || rest[2] === 'finalize'))) {
      return { group, version, resource: 'namespaces', name: rest[1], ...(rest[2] ? { subresource: rest[2] } : {}), watchPath, namespace: rest[1] };
    }
    namespace = rest[1];
    rest = rest.slice(2);
  }
  // pods/{name}/proxy/{path...}: the one subresource with a path of its own.
  if (rest.length >= 3 && rest[0] === 'pods' && rest[2] === 'proxy' && namespace !== undefined) {
    return { group, version, resource: 'pods', name: rest[1], subresource: 'proxy', proxyPath: '/' + rest.slice(3).join('/'), namespace, watchPath };
  }
  if (rest.length === 0 || rest.length > 3) return undefined;
  return { group, version, resource: rest[0], ...(rest[1] !== undefined ? { name: rest[1] } : {}), ...(rest[2] !== undefined ? { subresource: rest[2] } : {}), ...(namespace !== undefined ? { namespace } : {}), watchPath };
}

export function verbOf(method: string, p: ResourcePath, watch: boolean): string {
  switch (method) {
    case 'GET':
    case 'HEAD':
      if (watch) return 'watch';
      return p.name !== undefined ? 'get' : 'list';
    case 'POST':
      return 'create';
    case 'PUT':
      return 'update';
    case 'PATCH':
      return 'patch';
    case 'DELETE':
      return p.name !== undefined ? 'delete' : 'deletecollection';
    default:
      return method.toLowerCase();
  }
}

/** A boolean query parameter as Go's strconv.ParseBool reads it (the python client sends `True`). */
export function queryBool(q: URLSearchParams, name: string): boolean {
  return ['1', 't', 'T', 'true', 'TRUE', 'True'].includes(q.get(name) ?? '');
}
