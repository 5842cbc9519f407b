// Pure helpers of the link-token renewal: JWT claims, when to renew, writing the token into a kubeconfig.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parse } from 'yaml';
import { decodeJwt, renewAtMs, withToken, kubeconfigToken } from '../../src/mirror/credentials.js';

const jwt = (claims: object) => `e30.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.sig`;

const kubeconfig = `apiVersion: v1
kind: Config
clusters:
  - name: b
    cluster: { server: "https://127.0.0.1:6443", insecure-skip-tls-verify: true }
users:
  - name: other
    user: { token: other-token }
  - name: link
    user: { token: old-token }
contexts:
  - name: b
    context: { cluster: b, user: link }
current-context: b
`;

test('decodeJwt reads claims; garbage gives undefined', () => {
  assert.deepEqual(decodeJwt(jwt({ sub: 'system:serviceaccount:mesh-system:mesh-link-a', exp: 2000, iat: 1000 })), { sub: 'system:serviceaccount:mesh-system:mesh-link-a', exp: 2000, iat: 1000 });
  assert.equal(decodeJwt('not-a-jwt'), undefined);
  assert.equal(decodeJwt('a.%%%.c'), undefined);
});

test('renewal at 2/3 of the lifetime, and at least 60 s before expiry; none without exp', () => {
  assert.equal(renewAtMs({ iat: 0, exp: 3600 }), 2400 * 1000);
  assert.equal(renewAtMs({ iat: 0, exp: 90 }), 30 * 1000, '60 s before expiry wins for short tokens');
  assert.equal(renewAtMs({}), undefined);
});

test('withToken replaces the current user\'s token only', () => {
  const out = parse(withToken(kubeconfig, 'new-token')) as { users: Array<{ name: string; user: { token: string } }> };
  assert.equal(out.users.find((u) => u.name === 'link')?.user.token, 'new-token');
  assert.equal(out.users.find((u) => u.name === 'other')?.user.token, 'other-token');
  assert.equal(kubeconfigToken(withToken(kubeconfig, 'new-token')), 'new-token');
  assert.equal(kubeconfigToken('garbage: ['), undefined);
});
