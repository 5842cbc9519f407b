// Loading a kubeconfig in the order docs/architecture.md fixes: --kubeconfig flag, KUBECONFIG, in-cluster
// (honouring MESH_SERVICEACCOUNT_ROOT, the sandbox's path prefix), then ~/.kube/config.
import { KubeConfig } from '@kubernetes/client-node';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { KubeConfigError, errorMessage } from './errors.js';

export interface LoadKubeConfigOptions {
  kubeconfig?: string;
  context?: string;
  /** Defaults to process.env; injected by tests. */
  env?: NodeJS.ProcessEnv;
}

const SA_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

export function loadKubeConfig(opts: LoadKubeConfigOptions = {}): KubeConfig {
  const env = opts.env ?? process.env;
  const kc = new KubeConfig();
  try {
    if (opts.kubeconfig) {
      kc.loadFromFile(opts.kubeconfig);
    } else if (env.KUBECONFIG) {
      // KUBECONFIG may list several files; the first existing one wins (enough for our tooling).
      const file = env.KUBECONFIG.split(':').find((f) => f && existsSync(f));
      if (!file) throw new KubeConfigError(`KUBECONFIG=${env.KUBECONFIG} names no existing file`);
      kc.loadFromFile(file);
    } else if (env.KUBERNETES_SERVICE_HOST && existsSync(`${env.MESH_SERVICEACCOUNT_ROOT ?? ''}${SA_TOKEN}`)) {
      kc.loadFromCluster(env.MESH_SERVICEACCOUNT_ROOT ?? '');
      // client-node reads host/port from process.env; take them from the env we were given.
      const host = env.KUBERNETES_SERVICE_HOST.includes(':') ? `[${env.KUBERNETES_SERVICE_HOST}]` : env.KUBERNETES_SERVICE_HOST;
      const cluster = kc.clusters[0];
      if (cluster) kc.clusters[0] = { ...cluster, server: `https://${host}:${env.KUBERNETES_SERVICE_PORT ?? '443'}` };
    } else {
      const file = join(env.HOME ?? homedir(), '.kube', 'config');
      if (!existsSync(file)) {
        throw new KubeConfigError('no kubeconfig: pass --kubeconfig, set KUBECONFIG, run in a cluster, or create ~/.kube/config');
      }
      kc.loadFromFile(file);
    }
  } catch (err) {
    if (err instanceof KubeConfigError) throw err;
    throw new KubeConfigError(`cannot load kubeconfig: ${errorMessage(err)}`);
  }
  return selectContext(kc, opts.context);
}

/** A kubeconfig held in memory, e.g. the `kubeconfig` key of a link credentials Secret. */
export function kubeConfigFromString(text: string, context?: string): KubeConfig {
  const kc = new KubeConfig();
  try {
    kc.loadFromString(text);
  } catch (err) {
    throw new KubeConfigError(`invalid kubeconfig: ${errorMessage(err)}`);
  }
  if (!kc.getCurrentCluster()) throw new KubeConfigError('kubeconfig has no current cluster');
  return selectContext(kc, context);
}

function selectContext(kc: KubeConfig, context: string | undefined): KubeConfig {
  if (context) {
    if (!kc.getContextObject(context)) throw new KubeConfigError(`context ${context} not found in kubeconfig`);
    kc.setCurrentContext(context);
  }
  if (!kc.getCurrentCluster()) throw new KubeConfigError('kubeconfig has no current cluster/context');
  return kc;
}
