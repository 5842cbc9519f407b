// The REST core without HTTP, for tests that look at what a write does to the stored versions.
import { Rest, type WriteContext } from '../../src/apiserver/rest.js';
import { Registry } from '../../src/apiserver/resources.js';
import { Store } from '../../src/apiserver/store.js';

/** A fresh store and REST core with the `default` namespace. */
export function inProcessRest(): { store: Store; rest: Rest } {
  const store = new Store({ watchWindow: 100 });
  const rest = new Rest(store, new Registry(), '10.96.0.0/16');
  rest.seed({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'default', uid: '', resourceVersion: '' } });
  return { store, rest };
}

/** A cluster admin's write, with the given fieldValidation (none: the default, Warn). */
export const adminWrite = (fieldValidation?: WriteContext['fieldValidation']): WriteContext => ({
  user: { username: 'admin', uid: '', groups: ['system:masters'] },
  manager: 'test',
  dryRun: false,
  warnings: [],
  ...(fieldValidation ? { fieldValidation } : {}),
});
