// src/demo: the two-cluster demo (`mesh demo`) as library steps that the end-to-end suite reuses.
export { DemoError, type DemoErrorCode } from './errors.js';
export { runCommand, runMesh, mustMesh, meshBin, repoRoot, type CommandResult } from './run.js';
export { SandboxEnvironment, KindEnvironment, BaseEnvironment, parseReport, AGENT, type Environment, type TrafficRequest, type SandboxClusterInfo } from './environment.js';
export { setUpClusters, chooseNetwork, type Clusters, type NetworkChoice } from './sandbox.js';
export { demoApps, trafficAgent, collectionOf } from './apps.js';
export { DEMO_NS, DEFAULT_IMAGE, demoTargets, shadowHost, type Target } from './names.js';
export {
  installMesh, deployDemoApps, deployTrafficAgent, exportService, link, waitForShadows, shadowInfo, sendTraffic, gatewayFacts, eventually,
  type Progress, type ShadowInfo, type TargetResult, type GatewayFacts,
} from './steps.js';
export { renderReport, summarize, type DemoFacts } from './report.js';
export { runDemo, type DemoOptions, type RunningDemo } from './demo.js';
