// Starts `mesh apiserver` as its own process for a test, with a fresh temp data dir (unless given),
// and hands back an admin client-node KubeConfig. Stop it in `after` (or rely on stopAll()).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { startMesh, type Proc } from './process.js';

export interface TestApiServer {
  url: string;
  kubeconfigPath: string;
  /** client-node config for the admin user. */
  kubeConfig: KubeConfig;
  adminToken: string;
  caPem: string;
  dataDir: string;
  proc: Proc;
  stop(): Promise<void>;
  /** Stops and starts the server again on the same port with the same data dir. */
  restart(): Promise<void>;
}

interface Ready {
  ready: true;
  url: string;
  port: number;
  kubeconfig: string;
}

async function launch(dataDir: string, port: number, clusterName: string, args: string[]): Promise<{ proc: Proc; ready: Ready }> {
  const proc = startMesh(['apiserver', '--port', String(port), '--data-dir', dataDir, '--cluster-name', clusterName, ...args], { MESH_LOG_LEVEL: process.env.MESH_LOG_LEVEL ?? 'warn' });
  const m = await proc.waitFor(/^(\{"ready":true.*\})$/m, 30_000);
  return { proc, ready: JSON.parse(m[1]) as Ready };
}

export async function startApiServer(opts: { dataDir?: string; clusterName?: string; args?: string[] } = {}): Promise<TestApiServer> {
  const ownDir = opts.dataDir === undefined;
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'mesh-apiserver-'));
  const clusterName = opts.clusterName ?? 'mesh';
  const args = opts.args ?? [];
  let { proc, ready } = await launch(dataDir, 0, clusterName, args);
  const load = () => {
    const kc = new KubeConfig();
    kc.loadFromFile(ready.kubeconfig);
    return kc;
  };
  const t: TestApiServer = {
    url: ready.url,
    kubeconfigPath: ready.kubeconfig,
    kubeConfig: load(),
    adminToken: readFileSync(join(dataDir, 'admin-token'), 'utf8').trim(),
    caPem: readFileSync(join(dataDir, 'ca.crt'), 'utf8'),
    dataDir,
    proc,
    async stop() {
      await t.proc.stop();
      if (ownDir) rmSync(dataDir, { recursive: true, force: true });
    },
    async restart() {
      await t.proc.stop();
      ({ proc, ready } = await launch(dataDir, ready.port, clusterName, args));
      t.proc = proc;
      t.kubeConfig = load();
    },
  };
  return t;
}
