// Protobuf request bodies, as kubectl 1.32 sends them (captured from /usr/bin/kubectl through a
// logging proxy): decoded to the JSON shape and answered by the same handlers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AuthRequestError, createSecurity, type UserInfo } from '../../src/apiserver/auth/index.js';
import { decodeProtobufBody, protobufMagic } from '../../src/apiserver/auth/protobuf.js';
import { Clock, MemoryStore, gr, serviceAccount, signingKeyPem } from './auth-fixtures.js';

const captured = {
  // kubectl auth can-i list pods -n team-a
  canIListPods: 'azhzAAoyChdhdXRob3JpemF0aW9uLms4cy5pby92MRIXU2VsZlN1YmplY3RBY2Nlc3NSZXZpZXcSPAoQCgASABoAIgAqADIAOABCABIeChwKBnRlYW0tYRIEbGlzdBoAIgAqBHBvZHMyADoAGggIABIAGgAgABoAIgA=',
  // kubectl auth can-i get configmaps/foo -n x
  canIGetNamed: 'azhzAAoyChdhdXRob3JpemF0aW9uLms4cy5pby92MRIXU2VsZlN1YmplY3RBY2Nlc3NSZXZpZXcSPwoQCgASABoAIgAqADIAOABCABIhCh8KAXgSA2dldBoAIgAqCmNvbmZpZ21hcHMyADoDZm9vGggIABIAGgAgABoAIgA=',
  // kubectl auth can-i get /version
  canIGetVersion: 'azhzAAoyChdhdXRob3JpemF0aW9uLms4cy5pby92MRIXU2VsZlN1YmplY3RBY2Nlc3NSZXZpZXcSLwoQCgASABoAIgAqADIAOABCABIREg8KCC92ZXJzaW9uEgNnZXQaCAgAEgAaACAAGgAiAA==',
  // kubectl auth whoami
  whoami: 'azhzAAotChhhdXRoZW50aWNhdGlvbi5rOHMuaW8vdjESEVNlbGZTdWJqZWN0UmV2aWV3EhoKEAoAEgAaACIAKgAyADgAQgASBgoECgASABoAIgA=',
  // kubectl create token builder -n team-a --duration 15m --audience a1 --audience a2 --bound-object-kind Pod --bound-object-name p1
  createToken: 'azhzAAooChhhdXRoZW50aWNhdGlvbi5rOHMuaW8vdjESDFRva2VuUmVxdWVzdBI2ChAKABIAGgAiACoAMgA4AEIAEhwKAmExCgJhMhoPCgNQb2QSAnYxGgJwMSIAIIQHGgQKABIAGgAiAA==',
  // kubectl auth can-i --list -n team-a
  canIList: 'azhzAAoxChdhdXRob3JpemF0aW9uLms4cy5pby92MRIWU2VsZlN1YmplY3RSdWxlc1JldmlldxIiChAKABIAGgAiACoAMgA4AEIAEggKBnRlYW0tYRoEGAAiABoAIgA=',
};
const bytes = (b64: string): Buffer => Buffer.from(b64, 'base64');

const admin: UserInfo = { username: 'admin', uid: 'admin', groups: ['system:masters', 'system:authenticated'] };

function setup() {
  const store = new MemoryStore();
  const security = createSecurity({ store, adminToken: 'a', issuer: 'https://api', signingKeyPem: signingKeyPem(), defaultAudiences: ['https://api'], now: new Clock().now });
  for (const o of security.bootstrapObjects()) store.put(o.kind === 'ClusterRole' ? gr.clusterRoles : gr.clusterRoleBindings, o);
  serviceAccount(store, 'team-a', 'builder');
  return { store, security };
}

test('kubectl\'s protobuf bodies decode to the JSON shape of each kind', () => {
  assert.deepEqual(decodeProtobufBody(bytes(captured.canIListPods)).spec, {
    resourceAttributes: { namespace: 'team-a', verb: 'list', group: '', version: '', resource: 'pods', subresource: '', name: '' },
  });
  assert.equal((decodeProtobufBody(bytes(captured.canIGetNamed)).spec as { resourceAttributes: { name: string } }).resourceAttributes.name, 'foo');
  assert.deepEqual(decodeProtobufBody(bytes(captured.canIGetVersion)).spec, { nonResourceAttributes: { path: '/version', verb: 'get' } });
  const tr = decodeProtobufBody(bytes(captured.createToken));
  assert.equal(tr.kind, 'TokenRequest');
  assert.equal(tr.apiVersion, 'authentication.k8s.io/v1');
  assert.deepEqual(tr.spec, { audiences: ['a1', 'a2'], boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: 'p1', uid: '' }, expirationSeconds: 900 });
  assert.deepEqual(decodeProtobufBody(bytes(captured.canIList)).spec, { namespace: 'team-a' });
  assert.equal(decodeProtobufBody(bytes(captured.whoami)).kind, 'SelfSubjectReview');
});

test('handlers answer protobuf bodies like their JSON twins', () => {
  const { security, store } = setup();
  const me: UserInfo = { username: 'system:serviceaccount:team-a:builder', uid: 'u', groups: ['system:authenticated'] };
  assert.equal((security.handlers.selfSubjectAccessReview(bytes(captured.canIListPods), me).status as { allowed: boolean }).allowed, false);
  assert.equal((security.handlers.selfSubjectAccessReview(bytes(captured.canIGetVersion), me).status as { allowed: boolean }).allowed, true);
  assert.equal((security.handlers.selfSubjectAccessReview(bytes(captured.canIListPods), admin).status as { allowed: boolean }).allowed, true);
  assert.deepEqual((security.handlers.selfSubjectReview(bytes(captured.whoami), me).status as { userInfo: { username: string } }).userInfo.username, me.username);
  const rules = security.handlers.selfSubjectRulesReview?.(bytes(captured.canIList), me);
  assert.equal((rules?.spec as { namespace: string }).namespace, 'team-a');
  store.put(gr.pods, { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p1', namespace: 'team-a' } });
  const token = security.handlers.tokenRequest('team-a', 'builder', bytes(captured.createToken), admin);
  assert.deepEqual((token.spec as { audiences: string[]; expirationSeconds: number }).audiences, ['a1', 'a2']);
  assert.equal((token.spec as { expirationSeconds: number }).expirationSeconds, 900);
});

test('broken protobuf is a 400 naming the problem: truncated, no magic, kind not taken here', () => {
  const { security } = setup();
  const whole = bytes(captured.createToken);
  const cases: [Buffer, RegExp][] = [
    [whole.subarray(0, whole.length - 20), /truncated/],
    [Buffer.from('k8s\0\x0a\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff', 'latin1'), /varint|truncated/],
    [Buffer.from('not protobuf at all'), /must be a JSON object|k8s/],
    [bytes(captured.canIListPods), /kind "SelfSubjectAccessReview"|wrong kind/],
  ];
  for (const [body, pattern] of cases) {
    assert.throws(
      () => security.handlers.tokenRequest('team-a', 'builder', body, admin),
      (e: unknown) => e instanceof AuthRequestError && e.status === 400 && pattern.test(e.message),
      `${pattern}`,
    );
  }
});

test('random bytes and mutated kubectl bodies never escape as anything but a 4xx AuthRequestError', () => {
  const { security } = setup();
  const me: UserInfo = { username: 'u', uid: 'u', groups: ['system:authenticated'] };
  // Deterministic pseudo-random bytes (xorshift) so a failure reproduces.
  let x = 0x9e3779b9;
  const rnd = () => ((x ^= x << 13), (x ^= x >>> 17), (x ^= x << 5), (x >>> 0) & 0xff);
  const handlers = [
    (b: Buffer) => security.handlers.tokenRequest('team-a', 'builder', b, admin),
    (b: Buffer) => security.handlers.tokenReview(b, admin),
    (b: Buffer) => security.handlers.selfSubjectAccessReview(b, me),
    (b: Buffer) => security.handlers.selfSubjectReview(b, me),
    (b: Buffer) => security.handlers.subjectAccessReview(b, admin),
  ];
  const seeds = Object.values(captured).map(bytes);
  let refused = 0;
  for (let i = 0; i < 2000; i++) {
    let body: Buffer;
    if (i % 2 === 0) {
      body = Buffer.from(seeds[i % seeds.length] as Buffer);
      for (let k = 0; k < 3; k++) body[4 + (rnd() % (body.length - 4))] = rnd();
    } else {
      body = Buffer.from(Array.from({ length: 4 + (rnd() % 64) }, rnd));
      if (i % 4 === 1) protobufMagic.copy(body);
    }
    try {
      (handlers[i % handlers.length] as (b: Buffer) => unknown)(body);
    } catch (e) {
      assert.ok(e instanceof AuthRequestError && e.status >= 400 && e.status < 500, `unexpected ${String(e)} for ${body.toString('base64')}`);
      refused++;
    }
  }
  assert.ok(refused > 500, `most mutated bodies are refused (${refused})`);
});
