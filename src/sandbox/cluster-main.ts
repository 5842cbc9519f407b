// Entry of one cluster's process, started by `mesh sandbox up`. It loads only what a cluster runs (not the
// whole CLI with gRPC, the gateway and the trust module), which keeps start-up and memory down.
// Usage: node dist/src/sandbox/cluster-main.js --dir D --name N
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { createLogger } from '../log/index.js';
import { runCluster } from './cluster.js';
import { readState } from './state.js';

const Args = z.object({ dir: z.string().min(1), name: z.string().min(1) });

async function main(argv: string[]): Promise<void> {
  const raw: Record<string, string> = {};
  for (let i = 0; i < argv.length; i += 2) {
    const k = argv[i];
    const v = argv[i + 1];
    if (!k?.startsWith('--') || v === undefined) throw new Error(`usage: cluster-main --dir D --name N (got ${argv.join(' ')})`);
    raw[k.slice(2)] = v;
  }
  const args = Args.parse(raw);
  const repoRoot = resolve(fileURLToPath(new URL('../../..', import.meta.url)));
  const state = readState(resolve(args.dir));
  const cs = state.clusters.find((c) => c.plan.name === args.name);
  if (!cs) throw new Error(`no cluster ${args.name} in ${args.dir}/state.json`);
  const log = createLogger('sandbox', { fields: { cluster: args.name } });
  const running = await runCluster({ plan: cs.plan, dir: state.dir, sandboxId: state.sandboxId, meshBin: resolve(repoRoot, 'bin/mesh.js'), repoRoot, log });
  let stopping = false;
  const stop = async (why: string) => {
    if (stopping) return;
    stopping = true;
    log.info('cluster stopping', { why });
    await running.stop().catch((err: unknown) => log.error('error while stopping', { err: String(err) }));
    process.exit(0);
  };
  process.once('SIGINT', () => void stop('SIGINT'));
  process.once('SIGTERM', () => void stop('SIGTERM'));
  // If `up` dies without stopping us (SIGKILL), do not live on as an orphan.
  const parent = process.ppid;
  setInterval(() => { if (process.ppid !== parent) void stop('parent exited'); }, 1000).unref();
  process.stdout.write(JSON.stringify({ ready: true, name: running.name, apiUrl: running.apiUrl, apiPort: running.apiPort, kubeconfig: running.kubeconfigPath, dns: running.dns, ...(running.apiSocket ? { apiSocket: running.apiSocket } : {}) }) + '\n');
}

main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`sandbox cluster: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
