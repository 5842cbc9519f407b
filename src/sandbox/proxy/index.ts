// The sandbox's Service proxy (kube-proxy's job): ClusterIP / NodePort / LoadBalancer → ready endpoints.
// Internal to the sandbox component; the sandbox wires it to its informers.
export { ServiceProxy, ServiceProxyOptionsSchema, ProxyError, backendsFor, type ServiceProxyOptions } from './proxy.js';
export { proxyServiceFromObjects, proxyServicesFromObjects } from './from-objects.js';
export type { ProxyServiceInput, ProxyService, ProxyServicePort, ProxyEndpoint, ProxyServiceStatus, ProxyServiceStats } from './types.js';
