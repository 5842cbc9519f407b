// Service-account tokens and bearer authentication, against the in-memory store (no server needed).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createPublicKey, generateKeyPairSync, sign } from 'node:crypto';
import {
  createSecurity,
  issueLegacySecretToken,
  issueServiceAccountToken,
  loadSigningKey,
  type Security,
  type StoredObject,
} from '../../src/apiserver/auth/index.js';
import { Clock, MemoryStore, decodeJwt, gr, serviceAccount, signingKeyPem } from './auth-fixtures.js';

const issuer = 'https://kubernetes.default.svc.cluster.local';
const apiAudience = 'https://kubernetes.default.svc.cluster.local';

function setup() {
  const store = new MemoryStore();
  const clock = new Clock();
  const pem = signingKeyPem();
  const security = createSecurity({ store, adminToken: 'admin-token-0123456789', issuer, signingKeyPem: pem, defaultAudiences: [apiAudience], now: clock.now });
  const sa = serviceAccount(store, 'team-a', 'builder');
  return { store, clock, pem, security, sa };
}

function requestToken(security: Security, ns: string, name: string, spec: Record<string, unknown> = {}): string {
  const res = security.handlers.tokenRequest(ns, name, { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec }, { username: 'admin', uid: '', groups: [] });
  return (res.status as { token: string }).token;
}

test('the admin token authenticates as "admin" in system:masters; a near miss does not', () => {
  const { security } = setup();
  const u = security.authenticator.authenticate('admin-token-0123456789');
  assert.equal(u?.username, 'admin');
  assert.ok(u?.groups.includes('system:masters'));
  assert.ok(u?.groups.includes('system:authenticated'));
  assert.equal(security.authenticator.authenticate('admin-token-012345678'), undefined);
  assert.equal(security.authenticator.authenticate('admin-token-0123456789 '), undefined);
});

test('a TokenRequest token carries the claims kube-apiserver puts in one, signed ES256 with a kid', () => {
  const { security, sa, pem, clock } = setup();
  const token = requestToken(security, 'team-a', 'builder', { audiences: ['identity.mesh.io'], expirationSeconds: 1200 });
  const { header, claims } = decodeJwt(token);
  const kid = createHash('sha256').update(createPublicKey(pem).export({ type: 'spki', format: 'der' })).digest('base64url');
  assert.deepEqual(header, { alg: 'ES256', kid });
  const iat = clock.now().getTime() / 1000;
  assert.equal(claims.iss, issuer);
  assert.equal(claims.sub, 'system:serviceaccount:team-a:builder');
  assert.deepEqual(claims.aud, ['identity.mesh.io']);
  assert.equal(claims.iat, iat);
  assert.equal(claims.nbf, iat);
  assert.equal(claims.exp, iat + 1200);
  assert.match(String(claims.jti), /^[0-9a-f-]{36}$/);
  assert.deepEqual(claims['kubernetes.io'], { namespace: 'team-a', serviceaccount: { name: 'builder', uid: sa.metadata.uid } });
});

test('a service-account token authenticates as system:serviceaccount:<ns>:<name> with the SA groups', () => {
  const { security, sa } = setup();
  const token = requestToken(security, 'team-a', 'builder');
  const u = security.authenticator.authenticate(token);
  assert.ok(u, 'token should authenticate');
  assert.equal(u.username, 'system:serviceaccount:team-a:builder');
  assert.equal(u.uid, sa.metadata.uid);
  assert.deepEqual(u.groups, ['system:serviceaccounts', 'system:serviceaccounts:team-a', 'system:authenticated']);
  assert.match(u.extra?.['authentication.kubernetes.io/credential-id']?.[0] ?? '', /^JTI=/);
});

test('a token stops working at exp (clock injected), not a second before', () => {
  const { security, clock } = setup();
  const token = requestToken(security, 'team-a', 'builder', { expirationSeconds: 600 });
  clock.advance(599);
  assert.ok(security.authenticator.authenticate(token));
  clock.advance(1);
  assert.equal(security.authenticator.authenticate(token), undefined);
  const review = security.handlers.tokenReview({ spec: { token } }, { username: 'admin', uid: '', groups: [] });
  assert.deepEqual(review.status, { authenticated: false, user: {}, error: 'service account token has expired' });
});

test('deleting the ServiceAccount revokes its tokens; re-creating it (new uid) does not bring them back', () => {
  const { security, store } = setup();
  const token = requestToken(security, 'team-a', 'builder');
  assert.ok(security.authenticator.authenticate(token));
  store.delete(gr.sa, 'team-a', 'builder');
  assert.equal(security.authenticator.authenticate(token), undefined);
  serviceAccount(store, 'team-a', 'builder');
  assert.equal(security.authenticator.authenticate(token), undefined);
  const review = security.handlers.tokenReview({ spec: { token } }, { username: 'admin', uid: '', groups: [] });
  assert.match(String((review.status as { error: string }).error), /service account UID \(.+\) does not match claim/);
});

test('a ServiceAccount or Pod being deleted vouches for its tokens until 60 s after its deletionTimestamp', () => {
  const { security, store, sa, clock } = setup();
  const token = requestToken(security, 'team-a', 'builder');
  store.put(gr.sa, { ...sa, metadata: { ...sa.metadata, deletionTimestamp: clock.now().toISOString() } });
  clock.advance(60);
  assert.ok(security.authenticator.authenticate(token), 'within the grace period');
  clock.advance(1);
  assert.equal(security.authenticator.authenticate(token), undefined);

  const pod = store.put(gr.pods, { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web-1', namespace: 'team-a' } });
  store.put(gr.sa, { ...sa, metadata: { ...sa.metadata } });
  const bound = requestToken(security, 'team-a', 'builder', { boundObjectRef: { kind: 'Pod', name: 'web-1' } });
  // Graceful termination: deletionTimestamp = now + 30 s grace; API access continues until 60 s after it.
  store.put(gr.pods, { ...pod, metadata: { ...pod.metadata, deletionTimestamp: new Date(clock.now().getTime() + 30_000).toISOString() } });
  clock.advance(89);
  assert.ok(security.authenticator.authenticate(bound));
  clock.advance(2);
  assert.equal(security.authenticator.authenticate(bound), undefined);
});

test('a token for another audience does not authenticate to the API server', () => {
  const { security } = setup();
  const token = requestToken(security, 'team-a', 'builder', { audiences: ['identity.mesh.io'] });
  assert.equal(security.authenticator.authenticate(token), undefined);
});

test('forged and malformed tokens are refused: other key, tampered payload, alg none, garbage, oversize', () => {
  const { security, sa, clock } = setup();
  const good = requestToken(security, 'team-a', 'builder');
  const [h, p, s] = good.split('.') as [string, string, string];
  const otherKey = loadSigningKey(signingKeyPem());
  const forged = issueServiceAccountToken({ key: otherKey, issuer, now: clock.now }, { serviceAccount: sa, audiences: [apiAudience], expirationSeconds: 3600 });
  const claims = decodeJwt(good).claims;
  const tampered = `${h}.${Buffer.from(JSON.stringify({ ...claims, sub: 'system:serviceaccount:kube-system:admin' })).toString('base64url')}.${s}`;
  const none = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${p}.`;
  // HS256 "signed" with the public key: the classic algorithm-confusion attack.
  const hs = `${Buffer.from('{"alg":"HS256"}').toString('base64url')}.${p}.${s}`;
  const rsaKey = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey;
  const rsInput = `${Buffer.from('{"alg":"RS256"}').toString('base64url')}.${p}`;
  const rs = `${rsInput}.${sign('sha256', Buffer.from(rsInput), rsaKey).toString('base64url')}`;
  for (const bad of [forged.token, tampered, none, hs, rs, '', 'garbage', 'a.b.c', '...', `${h}.${p}`, `${h}.${p}.${s}.x`, 'é.é.é', 'x'.repeat(100_000), `${h}.${p}.${s}`.replace(/.$/, '')]) {
    assert.equal(security.authenticator.authenticate(bad), undefined, `should refuse ${bad.slice(0, 60)}`);
  }
  assert.ok(security.authenticator.authenticate(good));
});

test('a token bound to a Pod dies with the Pod and names it in extra', () => {
  const { security, store } = setup();
  const pod = store.put(gr.pods, { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web-0', namespace: 'team-a' } });
  const token = requestToken(security, 'team-a', 'builder', { boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: 'web-0', uid: pod.metadata.uid } });
  assert.deepEqual(decodeJwt(token).claims['kubernetes.io'], {
    namespace: 'team-a',
    serviceaccount: { name: 'builder', uid: store.get(gr.sa, 'team-a', 'builder')?.metadata.uid },
    pod: { name: 'web-0', uid: pod.metadata.uid },
  });
  const u = security.authenticator.authenticate(token);
  assert.deepEqual(u?.extra?.['authentication.kubernetes.io/pod-name'], ['web-0']);
  store.delete(gr.pods, 'team-a', 'web-0');
  assert.equal(security.authenticator.authenticate(token), undefined);
});

test('a legacy Secret token works while its Secret holds it and stops when the Secret goes', () => {
  const { security, store, sa, pem } = setup();
  const token = issueLegacySecretToken(loadSigningKey(pem), sa, 'builder-token');
  const secret = (data: Record<string, string>): StoredObject =>
    store.put(gr.secrets, {
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'kubernetes.io/service-account-token',
      metadata: { name: 'builder-token', namespace: 'team-a', annotations: { 'kubernetes.io/service-account.name': 'builder' } },
      data,
    });
  assert.equal(security.authenticator.authenticate(token), undefined, 'no Secret yet');
  secret({ token: Buffer.from('something else').toString('base64') });
  assert.equal(security.authenticator.authenticate(token), undefined, 'Secret holds another token');
  secret({ token: Buffer.from(token).toString('base64') });
  assert.equal(security.authenticator.authenticate(token)?.username, 'system:serviceaccount:team-a:builder');
  store.delete(gr.secrets, 'team-a', 'builder-token');
  assert.equal(security.authenticator.authenticate(token), undefined);
});

test('createSecurity refuses a signing key that is not EC P-256, and an empty admin token', () => {
  const store = new MemoryStore();
  const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  assert.throws(() => createSecurity({ store, adminToken: 'x', issuer, signingKeyPem: rsa, defaultAudiences: [] }), /EC P-256/);
  assert.throws(() => createSecurity({ store, adminToken: '', issuer, signingKeyPem: signingKeyPem(), defaultAudiences: [] }), /adminToken/);
});

test('random and mutated bearer tokens never authenticate and never throw', () => {
  const { security } = setup();
  const good = requestToken(security, 'team-a', 'builder');
  let x = 0x2545f491;
  const rnd = () => ((x ^= x << 13), (x ^= x >>> 17), (x ^= x << 5), x >>> 0);
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ ';
  for (let i = 0; i < 3000; i++) {
    let token: string;
    if (i % 2 === 0) {
      const chars = good.split('');
      const at = rnd() % chars.length;
      chars[at] = alphabet[rnd() % alphabet.length] as string;
      token = chars.join('');
      if (token === good) continue;
    } else {
      token = Array.from({ length: rnd() % 300 }, () => alphabet[rnd() % alphabet.length]).join('');
    }
    const u = security.authenticator.authenticate(token);
    // A change in the base64url padding bits of the last char can still decode to the same signature.
    if (u) assert.equal(Buffer.from(token.split('.')[2] ?? '', 'base64url').equals(Buffer.from(good.split('.')[2] ?? '', 'base64url')), true, token);
  }
});
