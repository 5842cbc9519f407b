// A static route file's remote gateways follow the Link's rules for the same fields (src/api's
// linkGatewaySchema): what a Link would refuse, `mesh gateway --routes` refuses too, naming the field.
// Only the identity may be left out of a file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GATEWAY_TUNNEL_PORT, DEFAULT_CLUSTER_DOMAIN } from '../../src/api/index.js';
import { GatewayError, parseRouteFile } from '../../src/gateway/index.js';

const file = (remote: Record<string, unknown>): string => JSON.stringify({ remotes: [{ cluster: 'cluster-b', addresses: ['127.0.0.1'], ...remote }] });

test('a remote gateway without identity, port or domain: the Link defaults, identity left open', () => {
  const s = parseRouteFile(file({}), 'routes.json');
  assert.deepEqual(s.remotes, [{ cluster: 'cluster-b', clusterDomain: DEFAULT_CLUSTER_DOMAIN, addresses: ['127.0.0.1'], port: GATEWAY_TUNNEL_PORT }]);
  const named = parseRouteFile(file({ identity: 'spiffe://mesh.local/ns/mesh-system/sa/mesh-gateway', addresses: ['gw.b.example', '::1'] }), 'routes.json');
  assert.equal(named.remotes[0]!.identity, 'spiffe://mesh.local/ns/mesh-system/sa/mesh-gateway');
});

const refused: Array<{ what: string; remote: Record<string, unknown>; want: RegExp }> = [
  { what: 'an address that is neither an IP nor a hostname', remote: { addresses: ['10.0.0.1; rm -rf /'] }, want: /remotes\.0\.addresses\.0: must be an IP address or a hostname/ },
  { what: 'an address longer than a DNS name', remote: { addresses: [`${'a'.repeat(254)}`] }, want: /remotes\.0\.addresses\.0:/ },
  { what: 'no address at all', remote: { addresses: [] }, want: /remotes\.0\.addresses:/ },
  { what: 'an identity that is not a SPIFFE id', remote: { identity: 'mesh-gateway' }, want: /remotes\.0\.identity: must be a SPIFFE id/ },
  { what: 'an identity with no path', remote: { identity: 'spiffe://mesh.local' }, want: /remotes\.0\.identity: must be a SPIFFE id/ },
  { what: 'more allowedIdentities than a Link may hold', remote: { allowedIdentities: Array.from({ length: 257 }, (_, i) => `cluster:c${i}`) }, want: /remotes\.0\.allowedIdentities:/ },
  { what: 'an empty allowedIdentities entry', remote: { allowedIdentities: [''] }, want: /remotes\.0\.allowedIdentities\.0:/ },
  { what: 'a port out of range', remote: { port: 70000 }, want: /remotes\.0\.port:/ },
  { what: 'a cluster name that is not a DNS label', remote: { cluster: 'Cluster_B' }, want: /remotes\.0\.cluster: must be a DNS label/ },
  { what: 'a misspelt key', remote: { identiy: 'spiffe://mesh.local/ns/mesh-system/sa/mesh-gateway' }, want: /remotes\.0: .*identiy/ },
];

for (const c of refused) {
  test(`a route file is refused for ${c.what}, naming the field`, () => {
    assert.throws(() => parseRouteFile(file(c.remote), 'routes.json'), (e: unknown) => e instanceof GatewayError && e.code === 'BAD_CONFIG' && c.want.test(e.message));
  });
}
