// `mesh sandbox …`: whole clusters on one machine (no Docker). `up` stays in the foreground; `down`,
// `status`, `logs`, `route` and `exec` work on the state `up` keeps in the sandbox directory.
import { Command, Option } from 'commander';
import { existsSync, readFileSync, statSync, createReadStream, watch } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';
import { z } from 'zod';
import { DEFAULT_CLUSTER_DOMAIN } from '../api/index.js';
import { createLogger } from '../log/index.js';
import {
  up, down, status, renderStatus, route, execIn, logPath, chooseNetwork,
  parseClusterList, parseDomains, serviceCidrs, SandboxError, type NetworkMode,
} from '../sandbox/index.js';
import { CliError, ExitCode } from './errors.js';
import { detachUp } from './sandbox-detach.js';

const repoRoot = resolve(fileURLToPath(new URL('../../..', import.meta.url)));
const meshBin = resolve(repoRoot, 'bin/mesh.js');

const EXIT_HELP = '\nExit codes: 0 ok, 1 failure, 2 usage error.\n';

function asCli(err: unknown): never {
  if (err instanceof SandboxError) {
    const usage = err.code === 'BadFlag' || err.code === 'UnknownCluster';
    throw new CliError(err.message, usage ? ExitCode.Usage : ExitCode.Failure, err.hint);
  }
  throw err;
}

const UpFlags = z.object({
  clusters: z.string(),
  network: z.enum(['auto', 'loopback', 'isolated']),
  dir: z.string().min(1),
  clusterDomain: z.string().min(1),
  flatRoutes: z.boolean().default(false),
  dualStack: z.boolean().default(false),
  detach: z.boolean().default(false),
});

/** The first line `up` prints: which network, why, and what that means for flat mode. */
function networkLine(network: NetworkMode, why: string, flatRoutes: boolean): string {
  const flat = network === 'loopback'
    ? 'pods of every cluster reach each other on loopback, so flat mode needs no routes'
    : flatRoutes
      ? 'flat routes between every pair of pod CIDRs (--flat-routes)'
      : 'no flat routes: pods reach other clusters only through node addresses (gateways); add them with --flat-routes or mesh sandbox route --flat';
  return `mesh sandbox: ${network} network (${why}); ${flat}\n`;
}

export function registerSandbox(program: Command): void {
  const sb = program
    .command('sandbox')
    .description('Run whole Kubernetes clusters on this machine, with no Docker')
    .addHelpText('after', `
Each cluster is one process running an embedded API server, a controller manager, a kubelet (pods are
real processes), a service proxy and cluster DNS. Networks: isolated (the default as root: one network
namespace per cluster joined by an underlay) or loopback (the default otherwise; each cluster in its own
127.X.0.0/16). \`up\` stays in the foreground until Ctrl-C (or runs in the background with --detach).

Example:
  mesh sandbox up --clusters cluster-a,cluster-b --dir .mesh-sandbox --detach
  kubectl --kubeconfig .mesh-sandbox/kubeconfig --context cluster-a get pods -A
  mesh sandbox down --dir .mesh-sandbox
${EXIT_HELP}`);

  registerUp(sb);
  registerTools(sb);
}

function registerUp(sb: Command): void {
  sb.command('up')
    .description('Start the clusters; stays in the foreground until Ctrl-C, which stops and removes everything (--detach: background)')
    .option('--clusters <names>', 'comma-separated cluster names', 'cluster-a,cluster-b')
    .addOption(new Option('--network <mode>', 'auto: isolated when root, else loopback; isolated: a network namespace per cluster (root); loopback: any user').choices(['auto', 'loopback', 'isolated']).default('auto'))
    .option('--dual-stack', 'dual-stack clusters: Services may also get IPv6 ClusterIPs (ipFamilyPolicy/ipFamilies as in Kubernetes)', false)
    .option('--flat-routes', 'isolated network: route every cluster\'s pod CIDR from every other cluster (flat mode), as a flat CNI would', false)
    .option('-d, --detach', 'run in the background: return once every cluster answers (log in DIR/up.log; stop with mesh sandbox down)', false)
    .option('--dir <dir>', 'sandbox directory (kubeconfig, state, logs)', '.mesh-sandbox')
    .option('--cluster-domain <domain>', 'cluster domain for all clusters, or cluster-a=a.local,cluster-b=b.local', DEFAULT_CLUSTER_DOMAIN)
    .addHelpText('after', `
Runs in the foreground: the clusters live as long as this command, and Ctrl-C (or SIGTERM, or
'mesh sandbox down --dir DIR' from another terminal) stops every process and removes every network
namespace it made. With --detach it starts itself in the background instead and returns once ready.
The first line on stderr says which network it uses and why (isolated when run as root, else loopback).
Writes DIR/kubeconfig (one context per cluster, named after it) and DIR/state.json and prints one JSON
line {"ready":true,...} on stdout when every cluster answers.

Flat mode (Services exported with --mode flat) sends traffic to the other cluster's pod IPs, so in the
isolated network it needs routes between the clusters' pod CIDRs: --flat-routes adds them at start,
'mesh sandbox route --flat A B' later; 'mesh check' tests the path.

Examples:
  mesh sandbox up --clusters cluster-a,cluster-b --dir /tmp/sb
  mesh sandbox up --clusters cluster-a,cluster-b --flat-routes --detach
  mesh sandbox up --network loopback --dir /tmp/sb
${EXIT_HELP}`)
    .action(async (raw: unknown) => {
      const f = UpFlags.safeParse(raw);
      if (!f.success) throw new CliError(`bad flags: ${f.error.issues.map((i) => `--${i.path.join('.')}: ${i.message}`).join('; ')}`, ExitCode.Usage);
      const log = createLogger('sandbox');
      try {
        const names = parseClusterList(f.data.clusters);
        const domains = parseDomains(f.data.clusterDomain, names);
        const { network, why } = chooseNetwork(f.data.network);
        process.stderr.write(networkLine(network, why, f.data.flatRoutes));
        if (f.data.detach) {
          const r = await detachUp({ meshBin, dir: f.data.dir, args: ['--clusters', names.join(','), '--network', network, '--cluster-domain', f.data.clusterDomain, ...(f.data.flatRoutes ? ['--flat-routes'] : []), ...(f.data.dualStack ? ['--dual-stack'] : [])] });
          process.stdout.write(r.readyLine + '\n');
          process.stderr.write(`sandbox running in the background (pid ${r.pid}; log ${r.logPath}): kubectl --kubeconfig ${r.kubeconfig} --context ${names[0]} get pods -A   (stop: mesh sandbox down --dir ${f.data.dir})\n`);
          return;
        }
        // Signals stop the sandbox at any point, also while it is still starting.
        const ac = new AbortController();
        process.once('SIGINT', () => ac.abort());
        process.once('SIGTERM', () => ac.abort());
        const sandbox = await up({ clusters: names, network, dir: f.data.dir, domains, meshBin, repoRoot, log, signal: ac.signal, flatRoutes: f.data.flatRoutes, dualStack: f.data.dualStack, notice: (m) => process.stderr.write(`sandbox up: ${m}\n`) });
        process.stdout.write(JSON.stringify({
          ready: true,
          dir: sandbox.state.dir,
          kubeconfig: sandbox.kubeconfigPath,
          mode: sandbox.state.mode,
          clusters: sandbox.state.clusters.map((c) => ({ name: c.plan.name, api: c.hostApiUrl, apiFromClusters: c.apiUrl, node: c.plan.nodeAddress, dns: c.dns, podCIDR: c.plan.podCIDR, serviceCIDR: serviceCidrs(c.plan), domain: c.plan.domain, netns: c.plan.netns })),
          flatRoutes: sandbox.state.flatRoutes,
        }) + '\n');
        process.stderr.write(`sandbox up: kubectl --kubeconfig ${sandbox.kubeconfigPath} --context ${names[0]} get pods -A   (Ctrl-C or 'mesh sandbox down --dir ${f.data.dir}' to stop)\n`);
        await sandbox.done;
      } catch (err) {
        asCli(err);
      }
    });

}

/** down, status, logs, route, exec: they work on the state `up` keeps in the sandbox directory. */
function registerTools(sb: Command): void {
  sb.command('down')
    .description('Stop a sandbox started by `up` (also cleans up after a killed `up`)')
    .option('--dir <dir>', 'sandbox directory', '.mesh-sandbox')
    .addHelpText('after', `\nExample:\n  mesh sandbox down --dir .mesh-sandbox\n${EXIT_HELP}`)
    .action(async (o: { dir: string }) => {
      try {
        const r = await down(o.dir, createLogger('sandbox'));
        process.stdout.write(`sandbox ${r.sandboxId} removed${r.graceful ? '' : ' (cleaned up leftovers)'}\n`);
      } catch (err) {
        asCli(err);
      }
    });

  sb.command('status')
    .description('Clusters, addresses, pods and health')
    .option('--dir <dir>', 'sandbox directory', '.mesh-sandbox')
    .addOption(new Option('-o, --output <format>', 'table or json').choices(['table', 'json']).default('table'))
    .addHelpText('after', `\nExample:\n  mesh sandbox status --dir .mesh-sandbox -o json\n${EXIT_HELP}`)
    .action(async (o: { dir: string; output: string }) => {
      try {
        const st = await status(o.dir);
        process.stdout.write(o.output === 'json' ? JSON.stringify(st, null, 2) + '\n' : renderStatus(st));
        const sick = st.clusters.filter((c) => !c.healthy || c.dnsHealthy === false).map((c) => c.name);
        if (sick.length) throw new CliError(`unhealthy: ${sick.join(', ')}`, ExitCode.Failure, `see ${st.dir}/<cluster>/cluster.log`);
      } catch (err) {
        asCli(err);
      }
    });

  sb.command('logs')
    .description('Show a pod\'s log')
    .argument('<cluster>', 'cluster name')
    .argument('<pod>', '<namespace>/<pod>')
    .option('--dir <dir>', 'sandbox directory', '.mesh-sandbox')
    .option('-f, --follow', 'keep printing as the log grows', false)
    .addHelpText('after', `\nExample:\n  mesh sandbox logs --dir .mesh-sandbox cluster-a demo/web-0\n${EXIT_HELP}`)
    .action(async (cluster: string, pod: string, o: { dir: string; follow: boolean }) => {
      try {
        const p = logPath(o.dir, cluster, pod);
        if (!existsSync(p)) throw new CliError(`no log for ${pod} in ${cluster} (${p})`, ExitCode.Failure, `list pods: mesh sandbox status --dir ${o.dir}`);
        process.stdout.write(readFileSync(p));
        if (o.follow) await follow(p, statSync(p).size);
      } catch (err) {
        asCli(err);
      }
    });

  sb.command('route')
    .description('Add (or --remove) flat routes between two clusters\' pod CIDRs via their node addresses')
    .requiredOption('--flat', 'flat pod-to-pod routes (the only kind)')
    .argument('<a>', 'cluster')
    .argument('<b>', 'cluster')
    .option('--remove', 'delete the routes', false)
    .option('--dir <dir>', 'sandbox directory', '.mesh-sandbox')
    .addHelpText('after', `\nExample:\n  mesh sandbox route --flat cluster-a cluster-b --dir /tmp/sb\n${EXIT_HELP}`)
    .action((a: string, b: string, o: { remove: boolean; dir: string }) => {
      try {
        process.stdout.write(route(o.dir, a, b, o.remove).message + '\n');
      } catch (err) {
        asCli(err);
      }
    });

  sb.command('exec')
    .description('Run a command inside a cluster\'s network (its namespace in isolated mode), with MESH_CLUSTER_DNS set')
    .argument('<cluster>', 'cluster')
    .argument('<command...>', 'command and arguments (after --)')
    .option('--dir <dir>', 'sandbox directory', '.mesh-sandbox')
    .addHelpText('after', `\nExample:\n  mesh sandbox exec --dir /tmp/sb cluster-a -- mesh app client --url http://web.demo.svc.cluster.local:8080/\n${EXIT_HELP}`)
    .action((cluster: string, command: string[], o: { dir: string }) => {
      try {
        const code = execIn(o.dir, cluster, command);
        // The command's own exit code, so scripts can test it (its output already says why).
        if (code !== 0) throw new CliError(`${command[0]} exited with code ${code}`, code);
      } catch (err) {
        asCli(err);
      }
    });
}

async function follow(path: string, from: number): Promise<void> {
  let pos = from;
  await new Promise<void>((res) => {
    const w = watch(path, () => {
      const size = statSync(path).size;
      if (size < pos) pos = 0;
      if (size > pos) {
        createReadStream(path, { start: pos, end: size - 1 }).pipe(process.stdout, { end: false });
        pos = size;
      }
    });
    process.once('SIGINT', () => { w.close(); res(); });
  });
}
