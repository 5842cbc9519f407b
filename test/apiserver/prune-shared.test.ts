// In-process: dropping unknown fields never modifies a stored object. A write shares parts of the stored
// version (a spec update carries the stored status; a status write the stored metadata's lists), and a
// stored object may hold fields the schema lacks (a snapshot written before they were dropped): the new
// version loses them, the stored version (watch caches, JSON cache) stays as it was.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Obj } from '../../src/apiserver/store.js';
import { adminWrite, inProcessRest } from './in-process.js';


test('a write drops the unknown fields it carries over from the stored version without modifying that version', () => {
  const { store, rest } = inProcessRest();
  const def = rest.registry.get('apps', 'deployments');
  assert.ok(def);
  const spec = { replicas: 1, selector: { matchLabels: { app: 'a' } }, template: { metadata: { labels: { app: 'a' } }, spec: { containers: [{ name: 'c', image: 'i' }] } } };
  const created = rest.create(def, 'v1', 'default', { metadata: { name: 'a' }, spec }, adminWrite());
  // A version stored before unknown fields were dropped (as a snapshot from an older server holds it).
  const legacy: Obj = { ...created, metadata: { ...created.metadata, resourceVersion: String(store.next()), ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'o', uid: 'u', old: 1 }] }, status: { replicas: 1, legacy: { x: 1 } } };
  store.put('deployments.apps', legacy, 'MODIFIED');
  const frozen = JSON.stringify(legacy);
  const ctxWarn = adminWrite('Warn');
  const updated = rest.update(def, 'v1', 'default', 'a', { metadata: { name: 'a', ownerReferences: legacy.metadata['ownerReferences'] }, spec: { ...spec, replicas: 2 } }, ctxWarn);
  assert.equal(JSON.stringify(legacy), frozen, 'the stored version is untouched');
  assert.equal((updated['status'] as Record<string, unknown>)['legacy'], undefined, 'the new version lacks the unknown status field');
  assert.deepEqual(updated.metadata['ownerReferences'], [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'o', uid: 'u' }]);
  assert.deepEqual(ctxWarn.warnings, ['unknown field "metadata.ownerReferences[0].old"', 'unknown field "status.legacy"']);
  // A status write keeps the stored metadata (shallow copy) and must not modify its lists either.
  const v2 = store.get('deployments.apps', 'default', 'a');
  assert.ok(v2);
  const legacy2: Obj = { ...v2, metadata: { ...v2.metadata, resourceVersion: String(store.next()), ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'o', uid: 'u', old: 2 }] } };
  store.put('deployments.apps', legacy2, 'MODIFIED');
  const frozen2 = JSON.stringify(legacy2);
  const st = rest.update(def, 'v1', 'default', 'a', { ...legacy2, status: { replicas: 2 } }, adminWrite('Ignore'), 'status');
  assert.equal(JSON.stringify(legacy2), frozen2, 'the stored version is untouched by a status write');
  assert.deepEqual(st.metadata['ownerReferences'], [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'o', uid: 'u' }]);
  assert.equal(store.get('deployments.apps', 'default', 'a')?.metadata.resourceVersion, st.metadata.resourceVersion);
});
