// `mesh dashboard [CONTEXT…]`: the clusterset at a glance in a browser — a local, read-only web server that
// reads the clusters through the kubeconfig (gateway metrics through the API servers' pods/proxy), like
// `linkerd viz dashboard`. The server lives in src/dashboard; this file is flags, the check it shows, and
// the process's life.
import type { Command } from 'commander';
import { spawn } from 'node:child_process';
import { z } from 'zod';
import { DASHBOARD_PORT } from '../api/index.js';
import { DashboardError, isLoopback, startDashboard, type RunChecks } from '../dashboard/index.js';
import { loadKubeConfig, KubeConfigError } from '../kube/index.js';
import { createLogger } from '../log/index.js';
import { CliError, ExitCode } from './errors.js';
import { durationSeconds, helpText, kubeconfigOption, parseOptions } from './common.js';
import { check } from './cmd-check.js';

const LOOPBACK = '127.0.0.1';

const Options = z.object({
  kubeconfig: z.string().optional(),
  port: z.coerce.number().int().min(0).max(65535),
  address: z.string().min(1).regex(/^[0-9a-fA-F.:]+$|^localhost$/, 'must be an IP address (or localhost)').optional(),
  open: z.boolean().default(false),
  interval: z.number().int().min(1).max(60),
  checkInterval: z.number().int().min(10).max(3600),
});

/** Every context of the kubeconfig, when none is named. */
function allContexts(kubeconfig: string | undefined): string[] {
  try {
    return loadKubeConfig({ kubeconfig }).getContexts().map((c) => c.name);
  } catch (err) {
    if (err instanceof KubeConfigError) throw new CliError(err.message, ExitCode.Failure, 'pass --kubeconfig or set KUBECONFIG');
    throw err;
  }
}

/** Opens the URL in the desktop's browser; where there is none, says so (the URL is printed anyway). */
function openBrowser(url: string): void {
  const cmd = process.platform === 'darwin' ? 'open' : process.platform === 'win32' ? 'explorer' : 'xdg-open';
  const child = spawn(cmd, [url], { stdio: 'ignore', detached: true });
  child.on('error', (err) => process.stderr.write(`note: could not open a browser (${cmd}: ${err.message}); open ${url} yourself\n`));
  child.unref();
}

export function registerDashboard(program: Command): void {
  const cmd = program
    .command('dashboard')
    .summary('the clusterset at a glance, in a browser (local, read-only)')
    .description('Serve a read-only web view of the clusters CONTEXT… (default: every context of the kubeconfig) on this machine.')
    .argument('[contexts...]', 'kubeconfig contexts to show (default: all)')
    .addOption(kubeconfigOption())
    .option('--port <port>', 'local port (0: any free port)', String(DASHBOARD_PORT))
    .option('--address <ip>', `address to listen on (default ${LOOPBACK}; anything else exposes the clusterset to whoever reaches it)`)
    .option('--open', 'open the dashboard in the desktop\'s browser')
    .option('--interval <duration>', 'how often to sample the clusters and the gateways\' metrics', durationSeconds, 5)
    .option('--check-interval <duration>', 'how often to run mesh check for the Check page', durationSeconds, 60)
    .action(async (contexts: string[], raw: unknown) => {
      const o = parseOptions(Options, raw);
      const address = o.address ?? LOOPBACK;
      const ctxs = contexts.length > 0 ? contexts : allContexts(o.kubeconfig);
      if (ctxs.length === 0) throw new CliError('the kubeconfig has no contexts', ExitCode.Failure, 'pass --kubeconfig or set KUBECONFIG');
      // The data path check starts pods: the dashboard only reads, so it runs every other check.
      const runChecks: RunChecks = (c) => check(c, o.kubeconfig, { dataPath: false });
      // Said before listening, so it is said even when the address cannot be bound.
      if (!isLoopback(address)) {
        process.stderr.write(`warning: listening on ${address}, not loopback: anyone who can reach this address sees the clusterset (Links, Services, metrics; never Secrets). Prefer the default ${LOOPBACK} and an SSH tunnel.\n`);
      }
      const logger = createLogger('dashboard', { level: process.env.MESH_LOG_LEVEL ?? 'error' });
      let d;
      try {
        d = await startDashboard({ contexts: ctxs, kubeconfig: o.kubeconfig, address, port: o.port, intervalMs: o.interval * 1000, windowMs: 15 * 60_000, checkIntervalMs: o.checkInterval * 1000, runChecks, logger });
      } catch (err) {
        if (err instanceof DashboardError) throw new CliError(err.message, err.code === 'Usage' ? ExitCode.Usage : ExitCode.Failure, err.hint);
        throw err;
      }
      process.stdout.write(`mesh dashboard: ${d.url} (clusters: ${ctxs.join(', ')}; Ctrl-C stops)\n`);
      if (o.open) openBrowser(d.url);
      await new Promise<void>((res) => {
        process.once('SIGINT', () => res());
        process.once('SIGTERM', () => res());
      });
      await d.close();
    });
  helpText(
    cmd,
    `Pages: Overview (every cluster, its Links and their health, exported Services and where they are
imported), Topology (clusters and Links as a graph, coloured by the Link conditions; gateways with
liveness, probe latency and open tunnels), Services (each export, its shadows and MCS ServiceImports,
mode, ready endpoints per cluster, conflicts), Traffic (per Link and per exported Service: request and
byte rates, refusals by reason, latency; sampled from the gateways' /metrics every --interval, last 15
minutes), Identity (trust roots, issuers, expiry, rotation step) and Check (mesh check, without the data
path check, which starts pods). Pages update live (server-sent events); an unreachable cluster is shown
as such and the rest keeps working.

Everything is read through the kubeconfig: the API servers, and the gateways' admin port through the
API server's pods/proxy, so nothing is port-forwarded. Read-only: it writes nothing to the clusters and
never shows Secret data, tokens or the kubeconfig. It listens on ${LOOPBACK} only, unless --address says
otherwise (with a warning); it answers only requests whose Host header is its own address (against DNS
rebinding) and refuses requests from other sites' pages. Logs (stderr) at level error unless
MESH_LOG_LEVEL says otherwise.`,
    ['mesh dashboard', 'mesh dashboard cluster-a cluster-b --open', 'mesh dashboard --port 0', 'mesh dashboard --address 0.0.0.0 --port 8080'],
  );
}
