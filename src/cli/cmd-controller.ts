// `mesh controller`: the service-mirror controller (one process per cluster; all Links in it).
import { Command } from 'commander';
import { controllerOptionsSchema, runController, PortRangeError, parsePortRange } from '../mirror/index.js';
import { KubeConfigError } from '../kube/index.js';
import {
  CONTROLLER_ADMIN_PORT, DEFAULT_CLUSTER_DOMAIN, DEFAULT_OUTBOUND_PORTS, DEFAULT_TRUST_DOMAIN, IDENTITY_PORT, MESH_NAMESPACE,
} from '../api/index.js';
import { CliError, ExitCode } from './errors.js';

const int = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n)) throw new CliError(`${v} is not an integer`, ExitCode.Usage);
  return n;
};

export function registerController(program: Command): void {
  program
    .command('controller')
    .description('Run the service-mirror controller: watch Links, mirror exported remote Services into shadow Services')
    .requiredOption('--cluster-name <name>', 'this cluster\'s name (shadows of it elsewhere are <svc>-<name>)')
    .option('--cluster-domain <domain>', 'this cluster\'s DNS domain', DEFAULT_CLUSTER_DOMAIN)
    .option('--trust-domain <domain>', 'SPIFFE trust domain', DEFAULT_TRUST_DOMAIN)
    .option('--namespace <ns>', 'mesh namespace (Links, credentials, Lease)', MESH_NAMESPACE)
    .option('--outbound-ports <range>', 'gateway outbound port range, same value as the gateway\'s', DEFAULT_OUTBOUND_PORTS)
    .option('--admin-port <port>', 'admin port: /healthz, /readyz, /metrics', int, CONTROLLER_ADMIN_PORT)
    .option('--identity-port <port>', 'Identity gRPC service port', int, IDENTITY_PORT)
    .option('--ha', 'run leader election on a Lease (two replicas; only the holder writes)', false)
    .option('--lease-duration-seconds <n>', 'with --ha: how long a dead leader blocks a takeover', int, 15)
    .option('--kubeconfig <file>', 'kubeconfig for the local cluster (default: KUBECONFIG, in-cluster, ~/.kube/config)')
    .option('--context <name>', 'kubeconfig context')
    .option('--cert <file>', 'probe client certificate chain (PEM), with --key and --bundle')
    .option('--key <file>', 'probe client key (PEM)')
    .option('--bundle <file>', 'trust bundle (PEM) to check remote gateways against')
    .option('--issuer-dir <dir>', 'cluster issuer (issuer.crt/issuer.key or tls.crt/tls.key): the controller issues its own probe identity')
    .option('--trust-bundle <file>', 'trust roots (PEM) for --issuer-dir')
    .option('--workers <n>', 'reconcile workers', int, 4)
    .addHelpText('after', `
Example:
  mesh controller --cluster-name cluster-a --kubeconfig ./kubeconfig --admin-port 9990

Runs until SIGTERM. Exit codes: 0 stopped, 1 failure, 2 usage error.`)
    .action(async (flags: Record<string, unknown>) => {
      const parsed = controllerOptionsSchema.safeParse(flags);
      if (!parsed.success) {
        const i = parsed.error.issues[0];
        throw new CliError(`--${String(i?.path[0] ?? '').replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}: ${i?.message}`, ExitCode.Usage);
      }
      try {
        parsePortRange(parsed.data.outboundPorts);
      } catch (err) {
        if (err instanceof PortRangeError) throw new CliError(`--outbound-ports: ${err.message}`, ExitCode.Usage);
        throw err;
      }
      // Signals are handled from the start: a SIGTERM during start-up must still shut down cleanly.
      let stop: (() => Promise<void>) | undefined;
      let stopping = false;
      const done = () => {
        if (stopping) return;
        stopping = true;
        // Graceful: release the Lease, stop watches and servers; then exit even if a retry timer lingers,
        // and never take longer than 10 s (the kubelet's grace period is longer).
        setTimeout(() => process.exit(0), 10_000).unref();
        void (stop ? stop() : Promise.resolve()).finally(() => process.exit(0));
      };
      process.on('SIGTERM', done);
      process.on('SIGINT', done);
      try {
        ({ stop } = await runController(parsed.data));
      } catch (err) {
        process.off('SIGTERM', done);
        process.off('SIGINT', done);
        if (err instanceof KubeConfigError) throw new CliError(err.message, ExitCode.Failure, 'pass --kubeconfig, set KUBECONFIG, or run in a cluster');
        const code = (err as { code?: unknown }).code;
        if (code === 'EADDRINUSE' || code === 'EACCES') throw new CliError(`cannot listen: ${(err as Error).message}`, ExitCode.Failure, 'choose another --admin-port / --identity-port');
        throw err;
      }
      await new Promise<void>(() => undefined); // runs until a signal
    });
}
