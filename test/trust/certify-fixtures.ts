// Helpers shared by the Certify tests (in-process reviewer and real API server).
import assert from 'node:assert/strict';
import { createCsr, generateKeyPair } from '../../src/trust/index.js';
import { IdentityCallError } from '../../src/identity/index.js';

/** A CSR for `identity` with a fresh P-256 key. */
export const csrFor = (identity: string): string => createCsr({ key: generateKeyPair().key, identity });

/** The IdentityCallError a refused Certify rejects with; fails the test if the call succeeded. */
export async function refused(p: Promise<unknown>): Promise<IdentityCallError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof IdentityCallError, String(err));
    return err;
  }
  assert.fail('expected Certify to be refused');
}
