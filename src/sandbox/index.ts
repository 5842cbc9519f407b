// src/sandbox: whole clusters on one machine (orchestrator, networks, controller manager, kubelet; the
// service proxy lives in proxy/, the demo apps in src/apps). The only door into the component.
export { up, down, cleanup, status, renderStatus, route, execIn, logPath, type UpOptions, type Sandbox, type SandboxStatus, type ClusterStatus, type PodSummary, type ReadyLine } from './orchestrator.js';
export { runCluster, type ClusterRunOptions, type RunningCluster } from './cluster.js';
export { readState, type SandboxState, type ClusterState } from './state.js';
export { planCluster, parseClusterList, parseDomains, NetworkMode, IpAllocator, type ClusterPlan } from './plan.js';
export { isolatedUnsupported } from './netns.js';
export { chooseNetwork, type NetworkChoice } from './network-choice.js';
export { SandboxError, type SandboxErrorCode } from './errors.js';
