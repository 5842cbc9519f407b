// Test clusters for the CLI: embedded API servers (one process each), one kubeconfig naming each as a
// context, and shared / foreign trust roots on disk. Everything is removed by `cleanup()`.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { startApiServer, type TestApiServer } from '../helpers/apiserver.js';
import { startMesh } from '../helpers/process.js';
import { KubeClient, isNotFound } from '../../src/kube/index.js';
import { createRoot, writeRoot } from '../../src/trust/index.js';

export interface TestClusters {
  dir: string;
  kubeconfig: string;
  servers: Map<string, TestApiServer>;
  rootDir: string;
  foreignRootDir: string;
  client(name: string): Promise<KubeClient>;
  /** Runs `mesh <args>` with this kubeconfig; resolves with exit code and output. */
  mesh(args: string[], env?: NodeJS.ProcessEnv): Promise<{ code: number | string; stdout: string; stderr: string }>;
  /** Rewrites the kubeconfig (after a server restart the port is the same, the token too). */
  writeKubeconfig(): void;
  cleanup(): Promise<void>;
}

export async function startClusters(names: string[]): Promise<TestClusters> {
  const dir = mkdtempSync(join(tmpdir(), 'mesh-cli-'));
  const servers = new Map<string, TestApiServer>();
  const started = await Promise.all(names.map((n) => startApiServer({ clusterName: n })));
  names.forEach((n, i) => servers.set(n, started[i]));
  const kubeconfig = join(dir, 'kubeconfig');
  const writeKubeconfig = () => {
    const merged = { apiVersion: 'v1', kind: 'Config', clusters: [] as unknown[], users: [] as unknown[], contexts: [] as unknown[], 'current-context': names[0] };
    for (const [n, s] of servers) {
      merged.clusters.push({ name: n, cluster: { server: s.url, 'certificate-authority-data': Buffer.from(s.caPem).toString('base64') } });
      merged.users.push({ name: n, user: { token: s.adminToken } });
      merged.contexts.push({ name: n, context: { cluster: n, user: n } });
    }
    writeFileSync(kubeconfig, JSON.stringify(merged, null, 2));
  };
  writeKubeconfig();
  const rootDir = join(dir, 'root');
  const foreignRootDir = join(dir, 'foreign-root');
  await writeRoot(rootDir, createRoot({ trustDomain: 'mesh.local' }));
  await writeRoot(foreignRootDir, createRoot({ trustDomain: 'mesh.local' }));
  const clients: KubeClient[] = [];
  return {
    dir,
    kubeconfig,
    servers,
    rootDir,
    foreignRootDir,
    writeKubeconfig,
    async client(name) {
      const kc = new KubeConfig();
      kc.loadFromFile(kubeconfig);
      kc.setCurrentContext(name);
      const c = await KubeClient.create(kc, { timeoutMs: 5000 });
      clients.push(c);
      return c;
    },
    async mesh(args, env = {}) {
      const p = startMesh(args, { KUBECONFIG: kubeconfig, MESH_LOG_LEVEL: 'warn', ...env });
      const code = await p.exited;
      return { code, stdout: p.stdout(), stderr: p.stderr() };
    },
    async cleanup() {
      for (const c of clients) c.close();
      await Promise.all([...servers.values()].map((s) => s.stop()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The object at `path`, or null if it does not exist. */
export async function getOrNull(c: KubeClient, path: string): Promise<Record<string, unknown> | null> {
  try {
    return await c.get(path);
  } catch (err) {
    if (isNotFound(err)) return null;
    throw err;
  }
}
