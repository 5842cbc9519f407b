// Demo apps run as pods (`mesh app <name>`), in the sandbox and in real clusters from the same image:
// http-echo, grpc-echo, tcp-echo report which cluster/pod answered; `client` drives traffic at them.
export { startHttpEcho, headerSubset, HTTP_ECHO_LIMITS, type HttpEchoOptions } from './http-echo.js';
export { startGrpcEcho, echoClient, healthClient, loadEchoProtos, ECHO_PROTO, HEALTH_PROTO, ECHO_SERVICE, GRPC_ECHO_LIMITS, type EchoClient, type HealthClient, type EchoReply, type EchoRequest, type StreamRequest, type GrpcEchoOptions } from './grpc-echo.js';
export { startTcpEcho, classifyStart, type TcpEchoOptions } from './tcp-echo.js';
export { runClient, summarize, makeResolver, ClientOptionsSchema, ClientUsageError, type ClientOptions, type ClientReport, type ClientSummary, type RequestResult } from './client.js';
export { identityFromEnv, bindHost, type AppIdentity, type RunningApp } from './identity.js';
export { startTrafficAgent, AGENT_LIMITS, type TrafficAgentOptions } from './agent.js';
