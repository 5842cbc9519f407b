// The route table's pure core (src/mirror/routes.ts): only entries the mirror made get a route.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { computeRoutes, type RouteFacts } from '../../src/mirror/routes.js';
import { portKey } from '../../src/mirror/ports.js';
import { derivedServiceName } from '../../src/api/index.js';
import type { Service } from '../../src/mirror/types.js';

const shadow = (ns: string, name: string, map: Array<{ port: number; outboundPort: number; hostname?: string }>, cluster = 'east'): Service => ({
  metadata: { namespace: ns, name, uid: `${ns}-${name}`, labels: { 'mirror.mesh.io/mirrored-service': 'true', 'mirror.mesh.io/cluster-name': cluster }, annotations: { 'mirror.mesh.io/gateway-port-map': JSON.stringify(map.map((e) => ({ ...e, protocol: 'TCP' }))) } },
});

function facts(over: Partial<RouteFacts>, held: Record<string, number>): RouteFacts {
  return { clusters: [], shadows: [], derived: [], published: [], ports: { get: (k) => held[k] }, ...over };
}

const web = shadow('shop', 'web-east', [{ port: 80, outboundPort: 14000 }, { port: 80, outboundPort: 14001, hostname: 'web-0' }]);
const held = { [portKey('shop/web-east', 80, 'TCP')]: 14000, [portKey('shop/web-east', 80, 'TCP', 'web-0')]: 14001 };
const origin = { kind: 'Service', namespace: 'shop', name: 'web-east' } as const;
const exported = new Map([['shop/web-east', { namespace: 'shop', name: 'web' }]]);

test('computeRoutes: a shadow of an exported Service routes the ports the allocator gave it', () => {
  const { routes, impostors } = computeRoutes(facts({ clusters: [{ cluster: 'east', exported }], shadows: [web] }, held));
  assert.deepEqual(routes, [
    { outboundPort: 14000, remoteCluster: 'east', namespace: 'shop', service: 'web', port: 80, origin },
    { outboundPort: 14001, remoteCluster: 'east', namespace: 'shop', service: 'web', port: 80, hostname: 'web-0', origin },
  ]);
  assert.deepEqual(impostors, []);
});

test('computeRoutes: a forged Service (no exported counterpart, or ports the allocator gave elsewhere) routes nothing', () => {
  const evil = shadow('attacker', 'db', [{ port: 5432, outboundPort: 14000 }]);
  // Same name as a real shadow's key would have, but a port the allocator never gave it.
  const twin = shadow('shop', 'web-east', [{ port: 80, outboundPort: 14999 }]);
  const r = computeRoutes(facts({ clusters: [{ cluster: 'east', exported }], shadows: [evil, twin] }, held));
  assert.deepEqual(r.routes, []);
  assert.deepEqual(r.impostors.map((i) => i.service.metadata?.name), ['db']);
  assert.match(r.impostors[0]!.message, /attacker\/db carries the mirror's labels for cluster east/);
});

test('computeRoutes: while the remote cache has not synced, the published routes the allocator still backs stay; nothing is called an impostor', () => {
  const published = [
    { outboundPort: 14000, remoteCluster: 'east', namespace: 'shop', service: 'web', port: 80, origin },
    { outboundPort: 14002, remoteCluster: 'east', namespace: 'attacker', service: 'x', port: 1, origin: { kind: 'Service' as const, namespace: 'attacker', name: 'db' } },
  ];
  const evil = shadow('attacker', 'db', [{ port: 1, outboundPort: 14002 }]);
  const r = computeRoutes(facts({ clusters: [{ cluster: 'east', exported: undefined }], shadows: [web, evil], published }, held));
  assert.deepEqual(r.routes, [published[0]]);
  assert.deepEqual(r.impostors, []);
});

test('computeRoutes: a shadow of a cluster no Link routes through is left alone', () => {
  assert.deepEqual(computeRoutes(facts({ shadows: [web] }, held)), { routes: [], impostors: [] });
});

test('computeRoutes: an MCS derived Service routes each entry to its own cluster, only at the ports the allocator gave it', () => {
  const d = derivedServiceName('api');
  const derived: Service = {
    metadata: {
      namespace: 'shop',
      name: d,
      labels: { 'mirror.mesh.io/mirrored-service': 'true', 'multicluster.kubernetes.io/service-name': 'api' },
      annotations: {
        'mirror.mesh.io/gateway-port-map': JSON.stringify([
          { port: 8080, protocol: 'TCP', outboundPort: 14100, cluster: 'east' },
          { port: 8080, protocol: 'TCP', outboundPort: 14101, cluster: 'west' },
          { port: 9090, protocol: 'TCP', outboundPort: 14102, cluster: 'east' },
        ]),
      },
    },
  };
  // 9090 was never allocated to this import (a forged entry); west has no Link.
  const h = { [portKey(`shop/${d}`, 8080, 'TCP', '@east')]: 14100, [portKey(`shop/${d}`, 8080, 'TCP', '@west')]: 14101 };
  const r = computeRoutes(facts({ clusters: [{ cluster: 'east', exported: new Map() }], derived: [derived] }, h));
  assert.deepEqual(r.routes, [{ outboundPort: 14100, remoteCluster: 'east', namespace: 'shop', service: 'api', port: 8080, origin: { kind: 'ServiceImport', namespace: 'shop', name: 'api' } }]);
  assert.deepEqual(r.impostors, []);
  // A Service posing as the derived Service under another name routes nothing.
  const other = { ...derived, metadata: { ...derived.metadata, name: 'mcsfake' } };
  assert.deepEqual(computeRoutes(facts({ clusters: [{ cluster: 'east', exported: new Map() }], derived: [other] }, h)).routes, []);
});
