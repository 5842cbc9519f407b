// Every scenario in the order that makes sense on one set of clusters: plain traffic first, then what
// changes topology (routes, scaling, links), then failures, security, and the third cluster last
// (authorization links it to cluster-b and unlinks it again).
import type { Scenario } from './context.js';
import { gatewayMode, flatMode, separateNetworks, statefulSet } from './traffic.js';
import { scaling, lifecycle, threeClusters } from './lifecycle.js';
import { failures } from './failures.js';
import { security } from './security.js';
import { hijack } from './hijack.js';
import { mcs } from './mcs.js';
import { mcsReach } from './mcs-reach.js';
import { failover } from './failover.js';
import { authz } from './authz.js';
import { callerIdentity } from './caller.js';
import { mcsHeadless } from './mcs-headless.js';

export const SCENARIOS: Scenario[] = [gatewayMode, flatMode, separateNetworks, statefulSet, security, hijack, scaling, lifecycle, failures, threeClusters, mcs, mcsReach, failover, authz, callerIdentity, mcsHeadless];
export type { Scenario, ScenarioContext } from './context.js';
