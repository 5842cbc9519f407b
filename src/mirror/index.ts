// src/mirror: the service-mirror controller. Other components import only this file; the names, labels and
// the Link schema the mirror shares with them are in src/api.
export { runController, controllerOptionsSchema, type ControllerOptions } from './main.js';
export { MirrorController, type MirrorControllerOptions } from './controller.js';
export { desiredShadow, diff, exportMode, ownedBy, sameOwner, serviceDiffers, recordedPorts, copyLabels, type DesiredShadow, type DesiredInput, type GatewayEndpoint, type Plan } from './desired.js';
export { computeLinkStatus, mirroredServices, type StatusInput, type MirrorFacts, type ShadowProblem } from './status.js';
export { encodeKey, decodeKey, type MirrorKey } from './keys.js';
export { shadowName, podServiceName, fitName, remoteFqName } from './names.js';
export { PortAllocator, claimPorts, parsePortRange, portKey, PortsExhaustedError, PortRangeError, type PortClaim, type PortView } from './ports.js';
export { probeOnce, GatewayProber, type ProbeCredentials, type ProbeResult } from './probe.js';
export type { Link, Secret, Service, EndpointSlice, Endpoint, ServicePort } from './types.js';
// cmd-link still reads these two through the mirror; they are src/api's (import them from there).
export { parseLinkSpec, type LinkStatus } from '../api/index.js';
