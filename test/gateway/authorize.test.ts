// The inbound authorization step, pure and table-driven: which lists apply to which caller, in which
// order, and what a refusal may be labelled with. (Over real mTLS: link-policy.test.ts, refusals.test.ts.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { authorize, callerOf, gatewayAllowRules, indexExports, NO_CLAIM, type AuthenticatedPeer, type InboundPolicy } from '../../src/gateway/index.js';
import type { CallerClaim, VerifiedCaller } from '../../src/api/index.js';

const exports = indexExports([
  { namespace: 'demo', name: 'echo', ports: [{ port: 7, backends: [{ address: '10.0.0.1', port: 7007 }] }] },
  { namespace: 'demo', name: 'ops-only', allowedIdentities: ['spiffe://mesh.local/ns/ops/*'], ports: [{ port: 7, backends: [{ address: '10.0.0.2', port: 7007 }] }] },
]);
const policy = (over: Partial<InboundPolicy> = {}): InboundPolicy => ({
  trustDomain: 'mesh.local',
  clusterDomain: 'cluster.local',
  allowedIdentities: [],
  // The list semantics below; the default "gateways of linked clusters only" has its own cases.
  directWorkloads: true,
  linkedClusters: undefined,
  exports,
  links: new Map([['cluster-a', { cluster: 'cluster-a', clusterDomain: 'cluster.local', addresses: ['192.0.2.1'], port: 4143, allowedIdentities: ['spiffe://mesh.local/ns/mesh-system/sa/mesh-gateway'] }]]),
  ...over,
});
const peer = (uri: string, cluster?: string): AuthenticatedPeer => ({ ...callerOf(uri, cluster), address: '192.0.2.9' });
const GW = 'spiffe://mesh.local/ns/mesh-system/sa/mesh-gateway';
const WEB = 'spiffe://mesh.local/ns/web/sa/frontend';

const cases: Array<{ name: string; authority: string; peer: AuthenticatedPeer; claim?: CallerClaim; policy?: Partial<InboundPolicy>; want: string; service?: string; remoteCluster: string; verified?: VerifiedCaller }> = [
  { name: "a linked cluster's gateway, on its Link's list", authority: 'echo.demo.svc.cluster.local:7', peer: peer(GW, 'cluster-a'), want: 'ok', service: 'echo', remoteCluster: 'cluster-a' },
  { name: "a linked cluster's workload, not on its Link's list", authority: 'echo.demo.svc.cluster.local:7', peer: peer(WEB, 'cluster-a'), want: 'FORBIDDEN', service: 'echo', remoteCluster: 'cluster-a' },
  { name: 'a caller of a cluster without a Link: no Link list applies', authority: 'echo.demo.svc.cluster.local:7', peer: peer(WEB, 'cluster-c'), want: 'ok', service: 'echo', remoteCluster: '' },
  { name: 'caller lists come before existence: unknown Service, refused caller', authority: 'nothing.demo.svc.cluster.local:7', peer: peer(WEB, 'cluster-a'), want: 'FORBIDDEN', remoteCluster: 'cluster-a' },
  { name: 'an allowed caller asking for an unknown Service', authority: 'nothing.demo.svc.cluster.local:7', peer: peer(GW, 'cluster-a'), want: 'UNKNOWN_SERVICE', remoteCluster: 'cluster-a' },
  { name: "the Service's own list after the caller's", authority: 'ops-only.demo.svc.cluster.local:7', peer: peer(GW, 'cluster-a'), want: 'FORBIDDEN', service: 'ops-only', remoteCluster: 'cluster-a' },
  { name: 'the gateway-wide list narrows everyone', authority: 'echo.demo.svc.cluster.local:7', peer: peer(WEB, 'cluster-c'), policy: { allowedIdentities: gatewayAllowRules(['cluster:cluster-a']) }, want: 'FORBIDDEN', service: 'echo', remoteCluster: '' },
  { name: 'a bad authority names no Service (no label from it)', authority: '10.0.0.1:7007', peer: peer(GW, 'cluster-a'), want: 'BAD_AUTHORITY', remoteCluster: 'cluster-a' },
  // Regression (issue 17 item 7): any workload of the trust domain could connect straight to a remote
  // gateway. By default only the gateways of linked clusters may.
  { name: 'default policy: the gateway of a linked cluster', authority: 'echo.demo.svc.cluster.local:7', peer: peer(GW, 'cluster-a'), policy: { directWorkloads: false, linkedClusters: new Set(['cluster-a']) }, want: 'ok', service: 'echo', remoteCluster: 'cluster-a' },
  { name: 'default policy: linked only by its ServiceAccount here (no Link back): admitted, labelled with its cluster', authority: 'echo.demo.svc.cluster.local:7', peer: peer(GW, 'cluster-d'), policy: { directWorkloads: false, linkedClusters: new Set(['cluster-d']) }, want: 'ok', service: 'echo', remoteCluster: 'cluster-d' },
  { name: 'default policy: a workload of a linked cluster goes through its own gateway', authority: 'echo.demo.svc.cluster.local:7', peer: peer(WEB, 'cluster-c'), policy: { directWorkloads: false, linkedClusters: new Set(['cluster-a', 'cluster-c']) }, want: 'FORBIDDEN', service: 'echo', remoteCluster: 'cluster-c' },
  { name: 'default policy: the gateway of a cluster not linked here', authority: 'echo.demo.svc.cluster.local:7', peer: peer(GW, 'cluster-z'), policy: { directWorkloads: false, linkedClusters: new Set(['cluster-a']) }, want: 'FORBIDDEN', service: 'echo', remoteCluster: '' },
  { name: 'default policy: refused before existence (unknown Service, workload caller)', authority: 'nothing.demo.svc.cluster.local:7', peer: peer(WEB, 'cluster-a'), policy: { directWorkloads: false, links: new Map() }, want: 'FORBIDDEN', remoteCluster: '' },
  { name: 'default policy without a linked list (static routes): any cluster\'s gateway', authority: 'echo.demo.svc.cluster.local:7', peer: peer(GW, 'cluster-z'), policy: { directWorkloads: false }, want: 'ok', service: 'echo', remoteCluster: '' },
  { name: 'another trust domain', authority: 'echo.demo.svc.cluster.local:7', peer: peer('spiffe://other.org/ns/web/sa/frontend', 'cluster-c'), want: 'FORBIDDEN', service: 'echo', remoteCluster: '' },
  // Caller attestation (issue 15): claims by the source gateway, verified here.
  ...claimCases(),
];

function claimCases(): typeof cases {
  // No Link list here: the Link's allowedIdentities judge the verified caller (access.ts), not the claim.
  const strict: Partial<InboundPolicy> = { directWorkloads: false, linkedClusters: new Set(['cluster-a', 'cluster-c']), links: new Map() };
  const echo = 'echo.demo.svc.cluster.local:7';
  const claim = (id: string | undefined, cluster: string | undefined): CallerClaim => ({ id, cluster });
  return [
    { name: "claim: a linked gateway speaks for its client pod", authority: echo, peer: peer(GW, 'cluster-a'), claim: claim(WEB, 'cluster-a'), policy: strict, want: 'ok', service: 'echo', remoteCluster: 'cluster-a', verified: { id: WEB, cluster: 'cluster-a', unknown: false } },
    { name: 'claim: unknown-caller is the source gateway itself, flagged unknown', authority: echo, peer: peer(GW, 'cluster-a'), claim: claim('unknown-caller', 'cluster-a'), policy: strict, want: 'ok', service: 'echo', remoteCluster: 'cluster-a', verified: { id: GW, cluster: 'cluster-a', unknown: true } },
    { name: 'claim: none at all from a gateway is the same as unknown-caller', authority: echo, peer: peer(GW, 'cluster-a'), policy: strict, want: 'ok', service: 'echo', remoteCluster: 'cluster-a', verified: { id: GW, cluster: 'cluster-a', unknown: true } },
    { name: 'claim: a gateway of cluster-c speaking for cluster-a', authority: echo, peer: peer(GW, 'cluster-c'), claim: claim(WEB, 'cluster-a'), policy: strict, want: 'FORBIDDEN', service: 'echo', remoteCluster: 'cluster-c' },
    { name: 'claim: a forged claim by a workload certificate (direct workloads allowed)', authority: echo, peer: peer(WEB, 'cluster-a'), claim: claim('spiffe://mesh.local/ns/ops/sa/admin', 'cluster-a'), policy: { links: new Map() }, want: 'FORBIDDEN', service: 'echo', remoteCluster: '' },
    { name: 'claim: a workload claiming another cluster', authority: echo, peer: peer(WEB, 'cluster-a'), claim: claim(WEB, 'cluster-c'), policy: { links: new Map() }, want: 'FORBIDDEN', service: 'echo', remoteCluster: '' },
    { name: 'claim: a workload peer is its own caller', authority: echo, peer: peer(WEB, 'cluster-a'), claim: claim(WEB, 'cluster-a'), policy: { links: new Map() }, want: 'ok', service: 'echo', remoteCluster: '', verified: { id: WEB, cluster: 'cluster-a', unknown: false } },
    { name: 'claim: a workload peer without a claim is itself', authority: echo, peer: peer(WEB, 'cluster-a'), policy: { links: new Map() }, want: 'ok', service: 'echo', remoteCluster: '', verified: { id: WEB, cluster: 'cluster-a', unknown: false } },
    { name: 'claim: an id outside the trust domain', authority: echo, peer: peer(GW, 'cluster-a'), claim: claim('spiffe://other.org/ns/web/sa/frontend', 'cluster-a'), policy: strict, want: 'FORBIDDEN', service: 'echo', remoteCluster: 'cluster-a' },
    { name: 'claim: not a SPIFFE id', authority: echo, peer: peer(GW, 'cluster-a'), claim: claim('frontend', 'cluster-a'), policy: strict, want: 'FORBIDDEN', service: 'echo', remoteCluster: 'cluster-a' },
    { name: 'claim: odd characters', authority: echo, peer: peer(GW, 'cluster-a'), claim: claim('spiffe://mesh.local/ns/web/sa/a b', 'cluster-a'), policy: strict, want: 'FORBIDDEN', service: 'echo', remoteCluster: 'cluster-a' },
    { name: 'claim: an overlong id', authority: echo, peer: peer(GW, 'cluster-a'), claim: claim(`spiffe://mesh.local/ns/web/sa/${'x'.repeat(600)}`, 'cluster-a'), policy: strict, want: 'FORBIDDEN', service: 'echo', remoteCluster: 'cluster-a' },
    { name: 'claim: refused before existence (a forged claim learns nothing about Services)', authority: 'nothing.demo.svc.cluster.local:7', peer: peer(GW, 'cluster-c'), claim: claim(WEB, 'cluster-a'), policy: strict, want: 'FORBIDDEN', remoteCluster: 'cluster-c' },
    { name: "claim: a gateway whose certificate is not the identity the Link names", authority: echo, peer: peer(GW, 'cluster-a'), claim: claim(WEB, 'cluster-a'), policy: { ...strict, links: new Map([['cluster-a', { cluster: 'cluster-a', clusterDomain: 'cluster.local', addresses: ['192.0.2.1'], port: 4143, identity: 'spiffe://mesh.local/ns/mesh-system/sa/other-gw' }]]) }, want: 'FORBIDDEN', service: 'echo', remoteCluster: 'cluster-a' },
    { name: 'claim: a valid claim does not open undeclared ports', authority: 'echo.demo.svc.cluster.local:8', peer: peer(GW, 'cluster-a'), claim: claim(WEB, 'cluster-a'), policy: strict, want: 'UNDECLARED_PORT', service: 'echo', remoteCluster: 'cluster-a' },
    { name: 'claim: a valid claim does not open raw IPs', authority: '10.0.0.1:7007', peer: peer(GW, 'cluster-a'), claim: claim(WEB, 'cluster-a'), policy: strict, want: 'BAD_AUTHORITY', remoteCluster: 'cluster-a' },
    { name: 'claim: a valid claim does not open the API server', authority: 'kubernetes.default.svc.cluster.local:443', peer: peer(GW, 'cluster-a'), claim: claim(WEB, 'cluster-a'), policy: strict, want: 'UNKNOWN_SERVICE', remoteCluster: 'cluster-a' },
    { name: 'claim: a valid claim does not open unexported Services', authority: 'secret.demo.svc.cluster.local:7', peer: peer(GW, 'cluster-a'), claim: claim(WEB, 'cluster-a'), policy: strict, want: 'UNKNOWN_SERVICE', remoteCluster: 'cluster-a' },
    { name: "claim: the Link's list judges the verified caller, not the gateway that carried it", authority: echo, peer: peer(GW, 'cluster-a'), claim: claim(WEB, 'cluster-a'), policy: { directWorkloads: false, linkedClusters: new Set(['cluster-a']) }, want: 'FORBIDDEN', service: 'echo', remoteCluster: 'cluster-a' },
  ];
}

for (const c of cases) {
  test(`authorize: ${c.name}`, () => {
    const a = authorize(c.authority, c.claim ?? NO_CLAIM, c.peer, policy(c.policy));
    if (a.ok) {
      assert.equal(c.want, 'ok');
      assert.equal(a.tunnel.service.name, c.service);
      assert.equal(a.tunnel.remoteCluster, c.remoteCluster);
      assert.ok(a.tunnel.candidates.length > 0);
      if (c.verified) assert.deepEqual(a.tunnel.verified, c.verified);
    } else {
      assert.equal(a.error.code, c.want, a.error.message);
      assert.equal(a.service?.name, c.service);
      assert.equal(a.remoteCluster, c.remoteCluster);
    }
  });
}
