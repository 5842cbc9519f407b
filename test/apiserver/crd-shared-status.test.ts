// In-process: a spec update of a custom resource carries the stored status over, and pruning or defaulting
// that status by the schema (after a schema change) must not modify the stored version (watch history and
// its cached event lines still show it as it was written).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Obj } from '../../src/apiserver/store.js';
import { adminWrite, inProcessRest } from './in-process.js';

const ctx = adminWrite();

test('a spec update prunes and defaults the carried-over status of a custom resource without modifying the stored version', () => {
  const { store, rest } = inProcessRest();
  const crdDef = rest.registry.get('apiextensions.k8s.io', 'customresourcedefinitions');
  assert.ok(crdDef);
  const schema = {
    type: 'object',
    properties: {
      spec: { type: 'object', properties: { size: { type: 'integer' } } },
      status: { type: 'object', properties: { phase: { type: 'string', default: 'Pending' }, ready: { type: 'boolean' } } },
    },
  };
  rest.create(crdDef, 'v1', '', {
    metadata: { name: 'gadgets.example.mesh.io' },
    spec: { group: 'example.mesh.io', scope: 'Namespaced', names: { plural: 'gadgets', kind: 'Gadget' }, versions: [{ name: 'v1', served: true, storage: true, subresources: { status: {} }, schema: { openAPIV3Schema: schema } }] },
  }, ctx);
  const def = rest.registry.get('example.mesh.io', 'gadgets');
  assert.ok(def);
  const created = rest.create(def, 'v1', 'default', { metadata: { name: 'g' }, spec: { size: 1 } }, ctx);
  // A version stored under an older schema: a status field the schema no longer has, none of the defaulted one.
  const legacy: Obj = { ...created, metadata: { ...created.metadata, resourceVersion: String(store.next()) }, status: { ready: true, legacy: { x: 1 } } };
  store.put('gadgets.example.mesh.io', legacy, 'MODIFIED');
  const frozen = JSON.stringify(legacy);
  const updated = rest.update(def, 'v1', 'default', 'g', { apiVersion: 'example.mesh.io/v1', kind: 'Gadget', metadata: { name: 'g' }, spec: { size: 2 } }, ctx);
  assert.equal(JSON.stringify(legacy), frozen, 'the stored version is untouched');
  assert.deepEqual(updated['status'], { ready: true, phase: 'Pending' }, 'the new version is pruned and defaulted');
});
