// `mesh demo` (what `npm start` runs): two sandbox clusters linked by the mesh, traffic across them, and a
// report a newcomer can follow; stays up until Ctrl-C, then removes everything. The steps live in src/demo.
import { Command, Option } from 'commander';
import { z } from 'zod';
import { DEFAULT_IMAGE, DemoError, demoApps, runDemo } from '../demo/index.js';
import { ClusterNameSchema, toYamlStream } from './render.js';
import { CliError, ExitCode } from './errors.js';

const Flags = z.object({ dir: z.string().min(1), network: z.enum(['auto', 'loopback', 'isolated']) });

const AppsFlags = z.object({ clusterName: ClusterNameSchema, image: z.string().min(1).regex(/^[^\s"]+$/, 'must be an image reference') });

export function registerDemo(program: Command): void {
  const demo = program
    .command('demo')
    .description('Two clusters on this machine, linked by the mesh: traffic through the gateway and flat, and what happened (Ctrl-C to stop)')
    .option('--dir <dir>', 'where the sandbox, trust root and summary go', '.mesh-sandbox')
    .addOption(new Option('--network <mode>', 'auto: isolated when root, else loopback').choices(['auto', 'loopback', 'isolated']).default('auto'))
    .addHelpText('after', `
Starts cluster-a and cluster-b (mesh sandbox up), makes one trust root, installs the mesh in both,
deploys HTTP/gRPC/TCP echo apps and a StatefulSet in cluster-b, exports them (through the gateway, and
one flat), links cluster-a to cluster-b, sends traffic from a client pod in cluster-a, and prints which
path each request took, which pod answered, the identities and the latency. Progress goes to stderr.

Example:
  mesh demo --dir /tmp/mesh-demo

Exit codes: 0 ok (after Ctrl-C), 1 failure, 2 usage error.
`)
    .action(async (raw: unknown) => {
      const f = Flags.safeParse(raw);
      if (!f.success) throw new CliError(`bad flags: ${f.error.issues.map((i) => i.message).join('; ')}`, ExitCode.Usage);
      const progress = (line: string) => process.stderr.write(`${line}\n`);
      // Ctrl-C during start-up stops the clusters at once (the step in flight then fails) and cleans up.
      const abort = new AbortController();
      const onEarly = () => { progress('interrupted; cleaning up …'); abort.abort(); };
      process.on('SIGINT', onEarly);
      process.on('SIGTERM', onEarly);
      let demo;
      try {
        demo = await runDemo({ dir: f.data.dir, network: f.data.network, progress, out: (t) => process.stdout.write(`${t}\n`), signal: abort.signal });
      } catch (err) {
        if (err instanceof DemoError && err.code === 'Interrupted') throw new CliError(err.message, 130);
        if (err instanceof DemoError) throw new CliError(err.message, err.code === 'Usage' ? ExitCode.Usage : ExitCode.Failure, err.hint);
        throw err;
      } finally {
        process.off('SIGINT', onEarly);
        process.off('SIGTERM', onEarly);
      }
      await new Promise<void>((res) => {
        process.once('SIGINT', () => res());
        process.once('SIGTERM', () => res());
      });
      progress('stopping: removing the clusters, their processes and networks …');
      await demo.stop();
      progress('stopped; nothing left running.');
    });

  demo
    .command('apps')
    .description('Print the demo\'s apps as YAML (namespace demo: web and web-flat, grpc, tcp, db and db-flat) to apply to a cluster of your own')
    .requiredOption('--cluster-name <name>', 'the cluster the apps run in (they answer with it)')
    .option('--image <ref>', 'the mesh-federation image (the apps are subcommands of mesh)', DEFAULT_IMAGE)
    .addHelpText('after', `
The same apps as mesh demo's, to try the mesh on clusters you made (mesh sandbox up, kind): HTTP echo
web (behind Services web and web-flat), gRPC echo grpc, TCP echo tcp, and StatefulSets db and db-flat
behind headless Services. Export some with mesh export and link to the cluster.

Example:
  mesh demo apps --cluster-name cluster-b | kubectl --context cluster-b apply -f -

Exit codes: 0 ok, 2 usage error.
`)
    .action((raw: unknown) => {
      const f = AppsFlags.safeParse(raw);
      if (!f.success) throw new CliError(`bad flags: ${f.error.issues.map((i) => `--${i.path.join('.').replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())}: ${i.message}`).join('; ')}`, ExitCode.Usage);
      process.stdout.write(toYamlStream(demoApps(f.data.clusterName, f.data.image)));
    });
}
