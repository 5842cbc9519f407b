// `mesh dns`: the `clusterset.local` server for real clusters. It watches ServiceImports and the MCS
// EndpointSlices of its own cluster and answers the zone over UDP and TCP; CoreDNS forwards the zone to it
// (`mesh install` prints, or with --patch-coredns applies, the stanza). Names outside the zone are REFUSED:
// CoreDNS sends nothing else. Prints {"ready":true,"address":…,"port":…} on stdout once listening and synced.
import type { Command } from 'commander';
import { z } from 'zod';
import { CLUSTERSET_DOMAIN, MESH_DNS_PORT } from '../api/index.js';
import { ClustersetRecordSource, ClustersetWatch, DnsError, startDnsServer } from '../dns/index.js';
import { KubeClient, loadKubeConfig } from '../kube/index.js';
import { createLogger } from '../log/index.js';
import { CliError, ExitCode } from './errors.js';

const flagsSchema = z.object({
  listen: z
    .string()
    .regex(/^(\[[0-9a-fA-F:.]+\]|[0-9.]+):\d{1,5}$/, 'must be ip:port (or [ipv6]:port)')
    .transform((s) => {
      const i = s.lastIndexOf(':');
      return { address: s.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(s.slice(i + 1)) };
    })
    .refine((v) => v.port >= 0 && v.port < 65536, 'port out of range'),
  ttl: z.coerce.number().int().min(0).max(3600),
  kubeconfig: z.string().min(1).optional(),
  context: z.string().min(1).optional(),
});

export function registerDns(program: Command): void {
  program
    .command('dns')
    .description(`Serve ${CLUSTERSET_DOMAIN} (Multi-Cluster Services DNS) from this cluster's ServiceImports, for CoreDNS to forward to`)
    .option('--listen <ip:port>', 'UDP and TCP address (port 0 = any free port)', `0.0.0.0:${MESH_DNS_PORT}`)
    .option('--ttl <seconds>', 'TTL of the answers', '5')
    .option('--kubeconfig <file>', 'kubeconfig (default: KUBECONFIG, in-cluster, ~/.kube/config)')
    .option('--context <name>', 'kubeconfig context')
    .addHelpText('after', `
Names (KEP-1645 DNS specification 1.0.0):
  <svc>.<ns>.svc.${CLUSTERSET_DOMAIN}                       A/AAAA: the ServiceImport's clusterset IPs (headless: ready pod addresses)
  <hostname>.<cluster-id>.<svc>.<ns>.svc.${CLUSTERSET_DOMAIN}  A/AAAA of one headless endpoint (StatefulSet pods)
  _<port>._<proto>.<svc>.<ns>.svc.${CLUSTERSET_DOMAIN}      SRV per named port
  dns-version.${CLUSTERSET_DOMAIN}                          TXT "1.0.0"

Examples:
  mesh dns --listen 0.0.0.0:${MESH_DNS_PORT}                   # in the mesh-dns pod (in-cluster credentials)
  mesh dns --listen 127.0.0.1:0 --kubeconfig ./kubeconfig --context cluster-a

Runs until SIGTERM. Exit codes: 0 stopped, 1 failure, 2 usage error.`)
    .action(async (raw: Record<string, unknown>) => {
      const parsed = flagsSchema.safeParse(raw);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        throw new CliError(`invalid flag --${String(issue?.path[0] ?? '')}: ${issue?.message ?? 'invalid'}`, ExitCode.Usage);
      }
      const f = parsed.data;
      const log = createLogger('dns', { fields: { zone: CLUSTERSET_DOMAIN } });
      let client: KubeClient;
      try {
        client = await KubeClient.create(loadKubeConfig({ ...(f.kubeconfig ? { kubeconfig: f.kubeconfig } : {}), ...(f.context ? { context: f.context } : {}) }));
      } catch (err) {
        throw new CliError(`cannot load kubeconfig: ${err instanceof Error ? err.message : String(err)}`, ExitCode.Failure);
      }
      const source = new ClustersetRecordSource();
      const watch = new ClustersetWatch({ client, source, log });
      // Caches first, then the port: the pod's readiness probe (TCP connect) then means "answers correctly".
      try {
        await watch.start(30_000);
      } catch (err) {
        watch.stop();
        client.close();
        throw new CliError(`cannot watch ServiceImports/EndpointSlices: ${err instanceof Error ? err.message : String(err)}`, ExitCode.Failure, 'check the API server and the mesh-dns ClusterRole (list/watch serviceimports, endpointslices, customresourcedefinitions)');
      }
      const server = await startDnsServer(source, { address: f.listen.address, port: f.listen.port, ttl: f.ttl }, log).catch((err: unknown) => {
        watch.stop();
        client.close();
        if (err instanceof DnsError) throw new CliError(err.message, ExitCode.Failure, f.listen.port < 1024 ? `use a port >= 1024 (the Service maps 53 to ${MESH_DNS_PORT})` : undefined);
        throw err;
      });
      process.stdout.write(JSON.stringify({ ready: true, address: server.address, port: server.port, imports: source.importCount() }) + '\n');
      await new Promise<void>((resolve) => {
        const stop = () => {
          process.off('SIGTERM', stop);
          process.off('SIGINT', stop);
          watch.stop();
          void server.close().finally(() => {
            client.close();
            resolve();
          });
        };
        process.on('SIGTERM', stop);
        process.on('SIGINT', stop);
      });
    });
}
