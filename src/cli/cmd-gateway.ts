// `mesh gateway`: the east-west gateway (one process per replica). Flags are validated by the gateway's
// zod schema; SIGTERM drains (stop accepting, let tunnels finish up to --drain-timeout-ms).
import { Command } from 'commander';
import { GatewayOptionsSchema, runGateway, GatewayError, HEAP_GROWTH_DEFAULTS } from '../gateway/index.js';
import {
  DEFAULT_CLUSTER_DOMAIN, DEFAULT_OUTBOUND_PORTS, DEFAULT_TRUST_DOMAIN, GATEWAY_ADMIN_PORT, GATEWAY_TUNNEL_PORT, MESH_NAMESPACE,
} from '../api/index.js';
import { CliError, ExitCode } from './errors.js';

export function registerGateway(program: Command): void {
  program
    .command('gateway')
    .description('Run the east-west gateway: mTLS tunnel port (inbound), outbound listeners for shadow Services, admin port')
    .requiredOption('--cluster-name <name>', "this cluster's name")
    .option('--cluster-domain <domain>', "this cluster's DNS domain (targets are <svc>.<ns>.svc.<domain>)", DEFAULT_CLUSTER_DOMAIN)
    .option('--trust-domain <domain>', 'SPIFFE trust domain', DEFAULT_TRUST_DOMAIN)
    .option('--namespace <ns>', 'mesh namespace (Links)', MESH_NAMESPACE)
    .option('--host <addrs>', 'comma-separated addresses every port listens on, IPv4 and IPv6 (default: $POD_IPS, the pod\'s addresses of every family, else $POD_IP, else 0.0.0.0); an entry that is not an IP address or repeats one stops the gateway (exit 2)')
    .option('--tunnel-port <port>', 'mTLS tunnel port (inbound)', String(GATEWAY_TUNNEL_PORT))
    .option('--admin-port <port>', 'admin port: /live, /ready, /metrics', String(GATEWAY_ADMIN_PORT))
    .option('--outbound-ports <range>', 'ports the mirror may allocate for shadows (same value as the controller)', DEFAULT_OUTBOUND_PORTS)
    .option('--transport <connect|tls-pipe>', 'transport for Links that do not set spec.gateway.transport', 'connect')
    .option('--pool-size <n>', 'warm HTTP/2 connections per remote gateway')
    .option('--pipe-warm <n>', 'pre-handshaked tls-pipe connections kept per remote gateway')
    .option('--max-connections <n>', 'inbound TLS connection limit')
    .option('--max-tunnels <n>', 'open tunnel limit (each direction)')
    .option('--handshake-timeout-ms <ms>', 'TLS handshake deadline')
    .option('--connect-timeout-ms <ms>', 'deadline to reach a target or a remote gateway')
    .option('--idle-timeout-ms <ms>', 'close a tunnel after this long without bytes either way')
    .option('--keepalive-ms <ms>', 'HTTP/2 transport: PING a pooled connection after this long without a byte from the remote gateway; 0 = never (default 30000)')
    .option('--keepalive-timeout-ms <ms>', 'HTTP/2 transport: replace a pooled connection whose PING is not answered within this long (default 10000)')
    .option('--drain-timeout-ms <ms>', 'on SIGTERM, how long tunnels may finish')
    .option('--drain-grace-seconds <s>', 'on SIGTERM, keep accepting this long (while /ready is 503) before stopping (default 5)')
    .option('--outlier-failures <n>', 'failures in a row (refused or timed-out dials, lost sessions, reset or unanswered tunnel requests) that eject a remote gateway address (default 3; the last address is never ejected)')
    .option('--outlier-ejection-ms <ms>', 'first ejection of a remote gateway address; doubles with each repeat (default 5000)')
    .option('--outlier-max-ejection-ms <ms>', 'longest ejection (default 60000)')
    .option('--workers <n>', 'data-plane processes sharing the ports (default: the CPUs this process may use, within its cgroup quota; 1 = a single process)')
    .option('--heap-growing-percent <n>', `V8 old-generation growth (--heap-growing-percent) while bytes flow fast: fewer full GCs under bulk traffic (default ${HEAP_GROWTH_DEFAULTS.busyPercent}; 0 = V8's own always)`)
    .option('--allowed-identities <list>', 'comma-separated peers allowed to connect at all, by certificate id and issuer cluster, in the syntax of mirror.mesh.io/allowed-identities (cluster:<name>, SPIFFE ids, spiffe://td/ns/<ns>/*, a bare trust domain); an entry that does not parse stops the gateway (exit 2)')
    .option('--allow-direct-workloads', "let any identity of the trust domain open tunnels (default: only the gateways of linked clusters; workloads go through their own cluster's gateway)")
    .option('--cert <file>', 'certificate chain (PEM), for static setups (with --key, --bundle)')
    .option('--key <file>', 'private key (PEM)')
    .option('--bundle <file>', 'trust bundle (PEM)')
    .option('--identity-addr <host:port>', 'Identity service to get (and renew) the certificate from')
    .option('--identity-token <file>', 'ServiceAccount token file for the Identity service')
    .option('--trust-bundle <file>', 'trust roots (PEM), re-read on renewal')
    .option('--routes <file>', 'static routes (YAML/JSON: exported, outbound, remotes) instead of watching Kubernetes')
    .option('--kubeconfig <file>', 'kubeconfig (default: KUBECONFIG, in-cluster, ~/.kube/config)')
    .option('--context <name>', 'kubeconfig context')
    .addHelpText('after', `
Examples:
  mesh gateway --cluster-name cluster-a --identity-addr mesh-controller.mesh-system.svc.cluster.local:8080 \\
    --identity-token /var/run/secrets/mesh.io/identity/token --trust-bundle /var/run/mesh/trust-roots/ca-bundle.crt
  mesh gateway --cluster-name cluster-a --cert gw.crt --key gw.key --bundle roots.crt --kubeconfig ./kubeconfig

Targets reachable through the tunnel port: only Services labelled mirror.mesh.io/exported=true|gateway, only
their declared ports. Only the gateways of linked clusters may open tunnels (a Link here targets that
cluster, or \`mesh link\` granted it a link ServiceAccount here); --allow-direct-workloads also admits
workloads connecting straight here. A Service may narrow who connects with the annotation
mirror.mesh.io/allowed-identities: cluster:cluster-a,spiffe://mesh.local/ns/web/sa/frontend,spiffe://mesh.local/ns/ops/*
(through a gateway the caller is the client pod its gateway attests; see \`mesh authz\`)

Runs until SIGTERM (drains first). Exit codes: 0 stopped, 1 failure, 2 usage error.`)
    .action(async (flags: Record<string, unknown>) => {
      const parsed = GatewayOptionsSchema.safeParse(flags);
      if (!parsed.success) {
        const i = parsed.error.issues[0];
        throw new CliError(`--${String(i?.path[0] ?? '').replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}: ${i?.message}`, ExitCode.Usage);
      }
      let running;
      try {
        running = await runGateway(parsed.data);
      } catch (err) {
        if (err instanceof GatewayError) throw new CliError(err.message, err.code === 'USAGE' ? ExitCode.Usage : ExitCode.Failure);
        if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') throw new CliError((err as Error).message, ExitCode.Failure, 'another process holds the port; pick another with --tunnel-port/--admin-port');
        throw err;
      }
      await new Promise<void>((resolve) => {
        const done = () => {
          process.off('SIGTERM', done);
          process.off('SIGINT', done);
          void running.stop().finally(resolve);
        };
        process.on('SIGTERM', done);
        process.on('SIGINT', done);
      });
    });
}
