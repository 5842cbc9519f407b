// Fixtures for the security module's unit tests: an in-memory ObjectReader (the seam the REST core
// implements), a fresh P-256 signing key, a settable clock, and builders for the objects RBAC reads.
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import type { GroupResource, ObjectReader, StoredObject } from '../../src/apiserver/auth/index.js';

export class MemoryStore implements ObjectReader {
  private readonly objects = new Map<string, StoredObject>();
  private rv = 0;

  private key(gr: GroupResource, ns: string | undefined, name: string): string {
    return `${gr.group}/${gr.resource}/${ns ?? ''}/${name}`;
  }

  get(gr: GroupResource, namespace: string | undefined, name: string): StoredObject | undefined {
    return this.objects.get(this.key(gr, namespace, name));
  }

  list(gr: GroupResource, namespace?: string): StoredObject[] {
    const prefix = `${gr.group}/${gr.resource}/`;
    return [...this.objects.entries()]
      .filter(([k, o]) => k.startsWith(prefix) && (namespace === undefined || o.metadata.namespace === namespace))
      .map(([, o]) => o);
  }

  /** Stores a copy with a fresh resourceVersion (and a uid if it has none), like a create/update. */
  put(gr: GroupResource, obj: Omit<StoredObject, 'metadata'> & { metadata: Partial<StoredObject['metadata']> & { name: string } }): StoredObject {
    const stored = structuredClone(obj) as StoredObject;
    stored.metadata.uid ||= randomUUID();
    stored.metadata.resourceVersion = String(++this.rv);
    this.objects.set(this.key(gr, stored.metadata.namespace, stored.metadata.name), stored);
    return stored;
  }

  delete(gr: GroupResource, namespace: string | undefined, name: string): void {
    this.objects.delete(this.key(gr, namespace, name));
  }
}

export const gr = {
  sa: { group: '', resource: 'serviceaccounts' },
  pods: { group: '', resource: 'pods' },
  secrets: { group: '', resource: 'secrets' },
  roles: { group: 'rbac.authorization.k8s.io', resource: 'roles' },
  clusterRoles: { group: 'rbac.authorization.k8s.io', resource: 'clusterroles' },
  roleBindings: { group: 'rbac.authorization.k8s.io', resource: 'rolebindings' },
  clusterRoleBindings: { group: 'rbac.authorization.k8s.io', resource: 'clusterrolebindings' },
} satisfies Record<string, GroupResource>;

export function signingKeyPem(): string {
  return generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
}

export class Clock {
  constructor(public t = new Date('2026-01-01T00:00:00Z')) {}
  now = (): Date => this.t;
  advance(seconds: number): void {
    this.t = new Date(this.t.getTime() + seconds * 1000);
  }
}

export function serviceAccount(store: MemoryStore, namespace: string, name: string): StoredObject {
  return store.put(gr.sa, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name, namespace } });
}

type Rule = { verbs: string[]; apiGroups?: string[]; resources?: string[]; resourceNames?: string[]; nonResourceURLs?: string[] };
type Subject = { kind: 'User' | 'Group' | 'ServiceAccount'; name: string; namespace?: string };

export function role(store: MemoryStore, namespace: string, name: string, rules: Rule[]): StoredObject {
  return store.put(gr.roles, { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name, namespace }, rules });
}

export function clusterRole(store: MemoryStore, name: string, rules: Rule[], labels?: Record<string, string>): StoredObject {
  return store.put(gr.clusterRoles, { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name, ...(labels ? { labels } : {}) }, rules });
}

export function roleBinding(store: MemoryStore, namespace: string, name: string, roleRef: { kind: 'Role' | 'ClusterRole'; name: string }, subjects: Subject[]): StoredObject {
  return store.put(gr.roleBindings, {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: { name, namespace },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', ...roleRef },
    subjects,
  });
}

export function clusterRoleBinding(store: MemoryStore, name: string, roleName: string, subjects: Subject[]): StoredObject {
  return store.put(gr.clusterRoleBindings, {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRoleBinding',
    metadata: { name },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: roleName },
    subjects,
  });
}

/** Decodes a JWT's header and payload without checking anything (to assert on what we signed). */
export function decodeJwt(token: string): { header: Record<string, unknown>; claims: Record<string, unknown> } {
  const [h, p] = token.split('.') as [string, string];
  return {
    header: JSON.parse(Buffer.from(h, 'base64url').toString()) as Record<string, unknown>,
    claims: JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>,
  };
}
