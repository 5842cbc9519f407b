import { test } from 'node:test';
import assert from 'node:assert/strict';
import { linkInfo, linksTable } from '../../src/cli/cmd-links.js';
import type { Link } from '../../src/mirror/index.js';

test('mesh links shows why a remote Service is not mirrored (regression: a missing namespace showed only "0 services")', () => {
  const link: Link = {
    apiVersion: 'multicluster.mesh.io/v1alpha1',
    kind: 'Link',
    metadata: { name: 'cluster-b', namespace: 'mesh-system' },
    spec: { targetClusterName: 'cluster-b', gateway: { addresses: ['10.255.0.11'], port: 4143 } },
    status: {
      conditions: [{ type: 'Ready', status: 'False', reason: 'ServiceProblems', message: '1 service not mirrored', lastTransitionTime: '2026-11-21T00:00:00Z' }],
      mirroredServices: {
        count: 1,
        services: [
          { namespace: 'demo', name: 'web', shadow: 'web-cluster-b', mode: 'gateway' },
          { namespace: 'shop', name: 'cart', shadow: 'cart-cluster-b', mode: 'gateway', problem: 'namespace shop does not exist here (set spec.createNamespaces to create it)' },
        ],
      },
    },
  } as Link;
  const info = linkInfo(link);
  assert.deepEqual(info.problems, [{ service: 'shop/cart', problem: 'namespace shop does not exist here (set spec.createNamespaces to create it)' }]);
  const table = linksTable([info]);
  assert.match(table, /cluster-b\s+cluster-b\s+gateway\s+False\s+1\s+Ready=False/);
  assert.match(table, /problems:\n {2}cluster-b: shop\/cart not mirrored: namespace shop does not exist here/);
});
