// Placeholder until the security module lands: only the admin token authenticates, and it may do
// anything. The auth helper replaces this file with real service-account tokens and RBAC.
import type { Security, SecurityOptions, StoredObject } from './types.js';

export type * from './types.js';

export function createSecurity(options: SecurityOptions): Security {
  const admin = { username: 'admin', uid: 'admin', groups: ['system:masters', 'system:authenticated'] };
  const unsupported = (): StoredObject => {
    throw new Error('not implemented yet');
  };
  return {
    authenticator: { authenticate: (token) => (token === options.adminToken ? admin : undefined) },
    authorizer: { authorize: (attrs) => ({ allowed: attrs.user.groups.includes('system:masters'), reason: 'placeholder' }) },
    handlers: {
      tokenRequest: unsupported,
      tokenReview: unsupported,
      selfSubjectReview: unsupported,
      selfSubjectAccessReview: unsupported,
      subjectAccessReview: unsupported,
    },
    bootstrapObjects: () => [],
  };
}
