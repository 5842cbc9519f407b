// `mesh app <name>`: the demo apps, run as pods in the sandbox and in real clusters from the same image.
// Servers run until SIGTERM/SIGINT and log one JSON "listening" line (with the port) on stderr; the
// client prints its results on stdout (text or `-o json`).
import { Command, Option } from 'commander';
import { z } from 'zod';
import { createLogger } from '../log/index.js';
import { bindHost, ClientUsageError, runClient, startGrpcEcho, startHttpEcho, startTcpEcho, startTrafficAgent, type RequestResult, type RunningApp } from '../apps/index.js';
import { CliError, ExitCode } from './errors.js';
import { OUTCOME_EXIT, parseHostPort, probeConnect, writeTerminationMessage } from './connect-probe.js';

const serverFlags = z.object({
  port: z.coerce.number().int().min(0).max(65535),
  host: z.union([z.ipv4(), z.ipv6()]).optional(),
});

const clientFlags = z.object({
  url: z.string().optional(),
  grpc: z.string().optional(),
  tcp: z.string().optional(),
  count: z.coerce.number().int().min(1).max(100_000),
  intervalMs: z.coerce.number().int().min(0).max(60_000),
  timeoutMs: z.coerce.number().int().min(1).max(120_000),
  dns: z.string().optional(),
  output: z.enum(['text', 'json']),
});

const connectFlags = z.object({
  timeoutMs: z.coerce.number().int().min(1).max(120_000),
  holdMs: z.coerce.number().int().min(0).max(60_000),
});

function flagError(err: z.ZodError): CliError {
  const i = err.issues[0];
  const flag = String(i?.path[0] ?? '').replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
  return new CliError(`invalid flag --${flag}: ${i?.message ?? 'invalid'}`, ExitCode.Usage);
}

async function serveUntilSignal(name: string, start: (host: string, port: number) => Promise<RunningApp>, raw: Record<string, unknown>): Promise<void> {
  const parsed = serverFlags.safeParse(raw);
  if (!parsed.success) throw flagError(parsed.error);
  const host = bindHost(parsed.data.host);
  let app: RunningApp;
  try {
    app = await start(host, parsed.data.port);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const hint = err.code === 'EADDRINUSE' ? `port ${parsed.data.port} is taken on ${host}; pick another with --port` : err.code === 'EADDRNOTAVAIL' ? `${host} is not an address of this host (check POD_IP or --host)` : undefined;
    throw new CliError(`${name} could not listen on ${host}:${parsed.data.port}: ${err.message}`, ExitCode.Failure, hint);
  }
  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
      void app.close().finally(resolve);
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
}

function serverCommand(app: Command, name: string, defaultPort: string, description: string, start: (host: string, port: number) => Promise<RunningApp>): void {
  app
    .command(name)
    .description(description)
    .option('--port <port>', 'port to listen on (0 = any free port)', defaultPort)
    .option('--host <ip>', 'address to bind (default: POD_IP, else all addresses)')
    .addHelpText('after', `\nIdentity comes from env CLUSTER_NAME, POD_NAME, POD_NAMESPACE, POD_IP. Runs until SIGTERM.\nExample:\n  CLUSTER_NAME=cluster-a mesh app ${name} --port ${defaultPort}`)
    .action((raw: Record<string, unknown>) => serveUntilSignal(name, start, raw));
}

function resultLine(r: RequestResult): string {
  const who = r.cluster || r.pod ? ` ${r.cluster ?? '?'}/${r.pod ?? '?'}` : '';
  const caller = r.callerIdentity ? ` caller ${r.callerIdentity}${r.callerCluster ? ` (${r.callerCluster})` : ''}` : '';
  return r.ok ? `${r.seq} ok ${r.latencyMs.toFixed(1)}ms ${r.address ?? ''}${who}${caller}` : `${r.seq} error ${r.latencyMs.toFixed(1)}ms ${r.error ?? ''}`;
}

export function registerApp(program: Command): void {
  const app = program.command('app').description('Demo apps (http-echo, grpc-echo, tcp-echo) and a traffic client');
  const log = (name: string) => createLogger(`app-${name}`);
  serverCommand(app, 'http-echo', '8080', 'HTTP/1.1 + h2c server: GET / answers JSON {cluster, namespace, pod, podIP, path, method, headers, protocol, and callerIdentity/callerCluster from a PROXY v2 header}; /healthz, /delay?ms=, /bytes?n=', (host, port) =>
    startHttpEcho({ host, port, logger: log('http-echo') }),
  );
  serverCommand(app, 'grpc-echo', '9090', 'gRPC server mesh.demo.v1.Echo (Echo, ServerStream, Chat) + grpc.health.v1.Health; replies carry cluster/pod', (host, port) =>
    startGrpcEcho({ host, port, logger: log('grpc-echo') }),
  );
  serverCommand(app, 'traffic-agent', '8081', 'The traffic client as a server: POST /run {url|grpc|tcp, count, intervalMs, timeoutMs} runs it from this pod and answers the report', (host, port) =>
    startTrafficAgent({ host, port, logger: log('traffic-agent') }),
  );
  serverCommand(app, 'tcp-echo', '7070', 'TCP echo; a first line "WHO" is answered with a JSON line {cluster, namespace, pod, podIP}; half-close aware', (host, port) =>
    startTcpEcho({ host, port, logger: log('tcp-echo') }),
  );

  app
    .command('connect')
    .description('Open one TCP connection to HOST:PORT and say by the exit code how it went (what mesh check runs in a short-lived pod)')
    .argument('<address>', 'host:port ([v6]:port)')
    .option('--timeout-ms <ms>', 'how long to wait for the connection', '5000')
    .option('--hold-ms <ms>', 'the connection must also stay open this long (a gateway closes it when its tunnel fails)', '0')
    .addHelpText('after', `\nPrints one JSON line {outcome, message, ms}.\nExit codes: 0 connected, 10 refused, 11 no route, 12 timed out, 13 closed by the peer, 14 reset, 15 other error, 2 usage.\nExample:\n  mesh app connect 10.2.0.5:8080 --hold-ms 0`)
    .action(async (address: string, raw: Record<string, unknown>) => {
      const f = connectFlags.safeParse(raw);
      if (!f.success) throw flagError(f.error);
      const hp = parseHostPort(address);
      if (!hp) throw new CliError(`address ${JSON.stringify(address)} is not host:port`, ExitCode.Usage);
      const r = await probeConnect(hp.host, hp.port, f.data);
      process.stdout.write(JSON.stringify(r) + '\n');
      writeTerminationMessage(r.message);
      if (r.outcome !== 'connected') throw new CliError(r.message, OUTCOME_EXIT[r.outcome]);
    });

  app
    .command('client')
    .description('Send N requests to an echo app and report per request ok/error, latency and which cluster/pod answered')
    .option('--url <url>', 'HTTP URL, e.g. http://web.demo.svc.cluster.local:8080/')
    .option('--grpc <host:port>', 'grpc-echo address')
    .option('--tcp <host:port>', 'tcp-echo address')
    .option('--count <n>', 'number of requests', '1')
    .option('--interval-ms <ms>', 'pause between requests', '0')
    .option('--timeout-ms <ms>', 'per-request timeout (DNS + connect + answer)', '5000')
    .option('--dns <ip:port>', 'cluster DNS server (default: env MESH_CLUSTER_DNS, else the system resolver)')
    .addOption(new Option('-o, --output <format>', 'output format').choices(['text', 'json']).default('text'))
    .addHelpText(
      'after',
      `\nEach request uses a new connection. Names resolve through MESH_CLUSTER_DNS when set (search suffixes from MESH_DNS_SEARCH).\nExit codes: 0 every request succeeded, 1 some failed, 2 usage error.\nExample:\n  mesh app client --url http://web-cluster-b.demo.svc.cluster.local:8080/ --count 10 --interval-ms 100 -o json`,
    )
    .action(async (raw: Record<string, unknown>) => {
      const parsed = clientFlags.safeParse(raw);
      if (!parsed.success) throw flagError(parsed.error);
      const f = parsed.data;
      const text = f.output === 'text';
      let report;
      try {
        report = await runClient({
          ...(f.url ? { url: f.url } : {}),
          ...(f.grpc ? { grpc: f.grpc } : {}),
          ...(f.tcp ? { tcp: f.tcp } : {}),
          count: f.count,
          intervalMs: f.intervalMs,
          timeoutMs: f.timeoutMs,
          ...(f.dns ? { dnsServer: f.dns } : {}),
          ...(text ? { onResult: (r: RequestResult) => process.stdout.write(resultLine(r) + '\n') } : {}),
        });
      } catch (err) {
        if (err instanceof ClientUsageError) throw new CliError(err.message, ExitCode.Usage, 'give exactly one of --url http://host:port/path, --grpc host:port, --tcp host:port');
        throw err;
      }
      const s = report.summary;
      if (text) {
        const clusters = Object.entries(s.byCluster).map(([k, v]) => `${k}=${v}`).join(' ');
        process.stdout.write(`summary: ${s.ok}/${s.total} ok, ${s.failed} failed, p50 ${s.latencyMs.p50.toFixed(1)}ms p99 ${s.latencyMs.p99.toFixed(1)}ms${clusters ? `, clusters: ${clusters}` : ''}\n`);
      } else {
        process.stdout.write(JSON.stringify(report) + '\n');
      }
      if (s.failed > 0) throw new CliError(`${s.failed} of ${s.total} requests to ${s.target} failed`, ExitCode.Failure);
    });
}
