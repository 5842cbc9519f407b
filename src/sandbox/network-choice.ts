// Which network a sandbox gets when nobody says: isolated whenever this machine allows it (root and
// iproute2), because only there do clusters reach each other as separate clusters do (through node
// addresses, pods only over flat routes); else loopback. `mesh sandbox up` and `mesh demo` share this rule.
import { SandboxError } from './errors.js';
import { isolatedUnsupported } from './netns.js';
import type { NetworkMode } from './plan.js';

export type NetworkChoice = 'auto' | NetworkMode;

/** The network for `choice`, and why, in words a newcomer understands. An impossible `isolated` throws. */
export function chooseNetwork(choice: NetworkChoice, unsupported: string | undefined = isolatedUnsupported()): { network: NetworkMode; why: string } {
  if (choice === 'loopback') return { network: 'loopback', why: 'asked for with --network loopback' };
  if (choice === 'isolated') {
    if (unsupported) throw new SandboxError('NotRoot', `--network isolated is not possible here: ${unsupported}`, 'run as root, or use --network loopback');
    return { network: 'isolated', why: 'asked for with --network isolated' };
  }
  if (unsupported) return { network: 'loopback', why: `falling back to loopback: the isolated network needs ${unsupported}` };
  return { network: 'isolated', why: 'running as root: each cluster gets its own network namespace, joined only through node addresses' };
}
