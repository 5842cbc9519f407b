// The seam between the API server's REST core (storage, routing, watch) and its security module
// (authentication, service-account tokens, RBAC). The core calls these; src/apiserver/auth implements them.

/** A Kubernetes object as stored: plain JSON with metadata. */
export interface StoredObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    uid: string;
    resourceVersion: string;
    [key: string]: unknown;
  };
  [key: string]: unknown;
}

/** The resource a request addresses, as RBAC sees it. `group` is '' for the core group. */
export interface GroupResource {
  group: string;
  resource: string;
}

/** Read access to the store, for the security module (ServiceAccounts, Secrets, Roles, Bindings). */
export interface ObjectReader {
  get(gr: GroupResource, namespace: string | undefined, name: string): StoredObject | undefined;
  list(gr: GroupResource, namespace?: string): StoredObject[];
}

/** Who made a request: the `user.info` Kubernetes puts on every request. */
export interface UserInfo {
  username: string;
  uid: string;
  groups: string[];
  extra?: Record<string, string[]>;
}

/** The attributes RBAC decides on (the same fields as a SubjectAccessReview's spec). */
export interface RequestAttributes {
  user: UserInfo;
  /** get, list, watch, create, update, patch, delete, deletecollection; or an HTTP verb for non-resource URLs. */
  verb: string;
  resourceRequest: boolean;
  apiGroup: string;
  resource: string;
  subresource: string;
  namespace: string;
  name: string;
  /** The URL path, used for non-resource requests (/api, /version, /healthz ...). */
  path: string;
}

export interface Decision {
  allowed: boolean;
  /** Why: the binding that allowed it, or what was missing. Shown in 403 messages. */
  reason: string;
}

export interface Authenticator {
  /** The user a bearer token proves, or undefined when it proves nothing (expired, unknown, revoked). */
  authenticate(bearerToken: string): UserInfo | undefined;
}

export interface Authorizer {
  authorize(attrs: RequestAttributes): Decision;
}

/**
 * Requests the security module answers itself (they are not stored objects). Each returns the response
 * object, or throws an ApiError-like error the core turns into a Status.
 */
export interface AuthHandlers {
  /** POST /api/v1/namespaces/{ns}/serviceaccounts/{name}/token (TokenRequest). */
  tokenRequest(namespace: string, serviceAccount: string, body: unknown, user: UserInfo): StoredObject;
  /** POST /apis/authentication.k8s.io/v1/tokenreviews */
  tokenReview(body: unknown, user: UserInfo): StoredObject;
  /** POST /apis/authentication.k8s.io/v1/selfsubjectreviews (kubectl auth whoami) */
  selfSubjectReview(body: unknown, user: UserInfo): StoredObject;
  /** POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews (kubectl auth can-i) */
  selfSubjectAccessReview(body: unknown, user: UserInfo): StoredObject;
  /** POST /apis/authorization.k8s.io/v1/subjectaccessreviews */
  subjectAccessReview(body: unknown, user: UserInfo): StoredObject;
  /** POST /apis/authorization.k8s.io/v1/selfsubjectrulesreviews (kubectl auth can-i --list). Optional, additive. */
  selfSubjectRulesReview?(body: unknown, user: UserInfo): StoredObject;
}

export interface Security {
  authenticator: Authenticator;
  authorizer: Authorizer;
  handlers: AuthHandlers;
  /** Objects the server seeds at first start when absent (cluster-admin, system:basic-user ... roles). */
  bootstrapObjects(): StoredObject[];
  /**
   * Optional admission for writes (create/update/patch/apply, after defaulting, before storing): for the
   * four RBAC resources it validates fields (throws 422 Invalid) and prevents privilege escalation as
   * Kubernetes does (throws 403 Forbidden unless `user` holds the permissions, or `escalate`/`bind`).
   * Other resources pass. `old` is the stored object on update, undefined on create.
   */
  admit?(user: UserInfo, gr: GroupResource, obj: StoredObject, old: StoredObject | undefined): void;
  /**
   * Optional impersonation (`kubectl --as/--as-group/--as-uid`): call after authenticate with the request's
   * headers (Node's lower-case names). Returns the user the request runs as (the authenticated one when
   * there are no Impersonate-* headers); throws 403 Forbidden / 400 BadRequest (status/reason like ApiError).
   */
  impersonate?(user: UserInfo, headers: Record<string, string | string[] | undefined>): UserInfo;
}

export interface SecurityOptions {
  store: ObjectReader;
  /** The admin bearer token written into the admin kubeconfig; its user is in `system:masters`. */
  adminToken: string;
  /** `iss` of the service-account tokens this server signs. */
  issuer: string;
  /** PEM private key (EC P-256) used to sign service-account tokens; kept in the data dir. */
  signingKeyPem: string;
  /** Audiences a token gets when a TokenRequest names none. */
  defaultAudiences: string[];
  now?: () => Date;
}
