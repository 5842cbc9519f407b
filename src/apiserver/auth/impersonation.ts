// User impersonation (`kubectl --as`, `--as-group`, `--as-uid`), as kube-apiserver's impersonation filter
// does it: the requester needs the `impersonate` verb on each thing it claims to be (users, groups,
// serviceaccounts, uids, userextras/<key>); the request then runs as the impersonated user.
import { AuthRequestError } from './errors.js';
import { evaluate } from './rbac.js';
import { authenticatedGroup, serviceAccountUser, serviceAccountUsernamePrefix } from './tokens.js';
import type { ObjectReader, RequestAttributes, UserInfo } from './types.js';

export type Headers = Record<string, string | string[] | undefined>;

const userHeader = 'impersonate-user';
const groupHeader = 'impersonate-group';
const uidHeader = 'impersonate-uid';
const extraPrefix = 'impersonate-extra-';

function values(h: Headers, name: string): string[] {
  const v = h[name];
  if (v === undefined) return [];
  return (Array.isArray(v) ? v : [v]).flatMap((x) => x.split(',')).map((x) => x.trim()).filter((x) => x !== '');
}

/** True when the request asks to act as someone else. */
export function wantsImpersonation(h: Headers): boolean {
  return Object.keys(h).some((k) => {
    const l = k.toLowerCase();
    return l === userHeader || l === groupHeader || l === uidHeader || l.startsWith(extraPrefix);
  });
}

function check(store: ObjectReader, requester: UserInfo, attrs: Omit<RequestAttributes, 'user' | 'verb' | 'resourceRequest' | 'subresource' | 'path'>): void {
  const full: RequestAttributes = { ...attrs, user: requester, verb: 'impersonate', resourceRequest: true, subresource: '', path: '' };
  if (evaluate(store, full).allowed) return;
  const gr = attrs.apiGroup ? `${attrs.resource}.${attrs.apiGroup}` : attrs.resource;
  const where = attrs.namespace ? `in the namespace "${attrs.namespace}"` : 'at the cluster scope';
  throw new AuthRequestError(
    'Forbidden',
    `${gr} "${attrs.name}" is forbidden: User "${requester.username}" cannot impersonate resource "${attrs.resource}" in API group "${attrs.apiGroup}" ${where}`,
    { name: attrs.name, group: attrs.apiGroup, kind: attrs.resource },
  );
}

/**
 * The user a request runs as: `requester` itself without impersonation headers, else the impersonated
 * user once every claim is authorized. Throws 400 for groups/extra without a user, 403 when not allowed.
 * Header names must be lower case (as Node delivers them).
 */
export function impersonate(store: ObjectReader, requester: UserInfo, h: Headers): UserInfo {
  if (!wantsImpersonation(h)) return requester;
  const users = values(h, userHeader);
  if (users.length !== 1) throw new AuthRequestError('BadRequest', 'requested impersonation without a single Impersonate-User header');
  const username = users[0] as string;
  const groups = values(h, groupHeader);
  const uids = values(h, uidHeader);
  const extra: Record<string, string[]> = {};
  for (const k of Object.keys(h)) {
    if (!k.toLowerCase().startsWith(extraPrefix)) continue;
    const key = decodeURIComponent(k.slice(extraPrefix.length)).toLowerCase();
    extra[key] = values(h, k);
  }

  if (username.startsWith(serviceAccountUsernamePrefix)) {
    const [ns = '', name = ''] = username.slice(serviceAccountUsernamePrefix.length).split(':');
    check(store, requester, { apiGroup: '', resource: 'serviceaccounts', namespace: ns, name });
  } else {
    check(store, requester, { apiGroup: '', resource: 'users', namespace: '', name: username });
  }
  for (const g of groups) check(store, requester, { apiGroup: '', resource: 'groups', namespace: '', name: g });
  for (const u of uids) check(store, requester, { apiGroup: 'authentication.k8s.io', resource: 'uids', namespace: '', name: u });
  for (const [k, vs] of Object.entries(extra)) {
    for (const v of vs) check(store, requester, { apiGroup: 'authentication.k8s.io', resource: `userextras/${k}`, namespace: '', name: v });
  }

  // As kube-apiserver: a ServiceAccount gets its SA groups; every non-anonymous user system:authenticated.
  let base: UserInfo = { username, uid: uids[0] ?? '', groups: [] };
  if (username.startsWith(serviceAccountUsernamePrefix)) {
    const [ns = '', name = ''] = username.slice(serviceAccountUsernamePrefix.length).split(':');
    base = serviceAccountUser(ns, name, uids[0] ?? '');
    base.groups = base.groups.filter((g) => g !== authenticatedGroup);
  }
  const all = [...new Set([...base.groups, ...groups])];
  if (username !== 'system:anonymous' && !all.includes(authenticatedGroup)) all.push(authenticatedGroup);
  return { username, uid: base.uid, groups: all, ...(Object.keys(extra).length ? { extra } : {}) };
}
