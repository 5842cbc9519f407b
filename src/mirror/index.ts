// src/mirror: the service-mirror controller and the Link resource. Other components import only this file.
export { runController, controllerOptionsSchema, type ControllerOptions } from './main.js';
export { MirrorController, ShadowConflictError, type MirrorControllerOptions } from './controller.js';
export { desiredShadow, desiredShadows, diff, exportMode, ownedBy, recordedPorts, copyLabels, type DesiredShadow, type DesiredInput, type GatewayEndpoint, type Plan } from './desired.js';
export {
  linkSpecSchema,
  parseLinkSpec,
  matchesSelector,
  selectorString,
  durationMs,
  DEFAULT_GATEWAY_SELECTOR,
  DEFAULT_FLAT_SELECTOR,
  type Link,
  type LinkSpec,
  type LinkStatus,
  type Condition,
  type LabelSelector,
  type MirroredServiceStatus,
} from './link.js';
export { shadowName, podServiceName, fitName, remoteFqName } from './names.js';
export { PortAllocator, parsePortRange, portKey, PortsExhaustedError, PortRangeError } from './ports.js';
export { probeOnce, GatewayProber, type ProbeCredentials, type ProbeResult } from './probe.js';
export * from './types.js';
