// src/sandbox: whole clusters on one machine (orchestrator, networks, controller manager, kubelet; the
// service proxy lives in proxy/, the demo apps in src/apps). The only door into the component.
export { up, down, cleanup, type UpOptions, type Sandbox, type ReadyLine } from './orchestrator.js';
export { status, renderStatus, type SandboxStatus, type ClusterStatus, type PodSummary } from './sandbox-status.js';
export { route, execIn, logPath } from './sandbox-tools.js';
export { runCluster, type ClusterRunOptions, type RunningCluster } from './cluster.js';
export { readState, type SandboxState, type ClusterState } from './state.js';
export { planCluster, serviceCidrs, parseClusterList, parseDomains, NetworkMode, IpAllocator, type ClusterPlan } from './plan.js';
export { isolatedUnsupported } from './netns.js';
export { chooseNetwork, type NetworkChoice } from './network-choice.js';
export { SandboxError, type SandboxErrorCode } from './errors.js';
