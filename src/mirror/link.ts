// The Link resource as the mirror's informers hold it. Its spec schema, status shapes and selector helpers
// are the contract in src/api.
import type { KubeObject } from '../kube/index.js';
import type { LinkStatus } from '../api/index.js';

export {
  linkSpecSchema,
  parseLinkSpec,
  matchesSelector,
  selectorString,
  durationMs,
  DEFAULT_GATEWAY_SELECTOR,
  DEFAULT_FLAT_SELECTOR,
  type LinkSpec,
  type LinkStatus,
  type LinkCondition as Condition,
  type LabelSelector,
  type MirroredServiceStatus,
} from '../api/index.js';

export interface Link extends KubeObject {
  spec?: unknown;
  status?: LinkStatus;
}
