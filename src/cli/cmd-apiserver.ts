// `mesh apiserver`: runs the embedded Kubernetes API server until SIGTERM/SIGINT. When it is ready it
// prints one JSON line on stdout: {"ready":true,"url":…,"kubeconfig":…} (tests and scripts wait for it).
import type { Command } from 'commander';
import { z } from 'zod';
import { ServiceIpRanges, startApiServer } from '../apiserver/index.js';
import { CliError, ExitCode } from './errors.js';

const flagsSchema = z.object({
  port: z.coerce.number().int().min(0).max(65535),
  dataDir: z.string().min(1),
  host: z.string().min(1),
  clusterName: z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a DNS label'),
  serviceCidr: z.string().superRefine((v, ctx) => {
    try {
      new ServiceIpRanges(v);
    } catch (e) {
      ctx.addIssue({ code: 'custom', message: `${e instanceof Error ? e.message : String(e)} (e.g. 10.96.0.0/16 or 10.96.0.0/16,fd00:10:96::/108)` });
    }
  }),
  advertiseAddress: z.array(z.string().min(1)),
  persist: z.boolean(),
  watchWindow: z.coerce.number().int().min(1),
  bookmarkInterval: z.coerce.number().int().min(10),
});

export function registerApiserver(program: Command): void {
  program
    .command('apiserver')
    .description('Run the embedded Kubernetes-compatible API server (HTTPS, own CA, admin kubeconfig in <data-dir>/kubeconfig)')
    .requiredOption('--data-dir <dir>', 'directory for the CA, keys, kubeconfig and object snapshot')
    .option('--port <port>', 'port to listen on (0 = any free port)', '6443')
    .option('--host <address>', 'address to listen on', '127.0.0.1')
    .option('--cluster-name <name>', 'name of the cluster, context and user in the kubeconfig', 'mesh')
    .option('--service-cidr <cidr>', 'range(s) Service ClusterIPs are allocated from: one CIDR, or an IPv4 and an IPv6 CIDR joined by a comma (dual-stack; the first is the primary family)', '10.96.0.0/16')
    .option('--advertise-address <address...>', 'extra IP addresses or DNS names for the serving certificate', [])
    .option('--no-persist', 'keep objects in memory only (no snapshot in the data dir)')
    .option('--watch-window <events>', 'events kept for watches resuming from a resourceVersion; older ones get 410 Gone', '10000')
    .option('--bookmark-interval <ms>', 'how often watches with allowWatchBookmarks get a BOOKMARK', '10000')
    .action(async (raw: Record<string, unknown>) => {
      const parsed = flagsSchema.safeParse(raw);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        throw new CliError(`invalid flag --${String(issue.path[0]).replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())}: ${issue.message}`, ExitCode.Usage);
      }
      const f = parsed.data;
      let server;
      try {
        server = await startApiServer({
          host: f.host,
          port: f.port,
          dataDir: f.dataDir,
          clusterName: f.clusterName,
          serviceCIDR: f.serviceCidr,
          advertiseAddresses: f.advertiseAddress,
          persist: f.persist,
          watchWindow: f.watchWindow,
          bookmarkIntervalMs: f.bookmarkInterval,
        });
      } catch (e) {
        const msg = e instanceof Error ? e.message : String(e);
        throw new CliError(`could not start the API server: ${msg}`, ExitCode.Failure, /EADDRINUSE/.test(msg) ? `port ${f.port} is taken; pick another with --port or use --port 0` : undefined);
      }
      process.stdout.write(JSON.stringify({ ready: true, url: server.url, port: server.port, kubeconfig: server.kubeconfigPath }) + '\n');
      await new Promise<void>((resolve) => {
        const stop = () => {
          process.off('SIGTERM', stop);
          process.off('SIGINT', stop);
          void server.close().then(resolve, resolve);
        };
        process.on('SIGTERM', stop);
        process.on('SIGINT', stop);
      });
    });
}
