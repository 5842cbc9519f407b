// `mesh demo` (what `npm start` runs): until the two-cluster demo lands, it starts the embedded API
// server in a temp dir, writes a namespace/Service/EndpointSlice with client-node, shows the watch
// event that produced, and stays up for kubectl until Ctrl-C.
import type { Command } from 'commander';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, DiscoveryV1Api, KubeConfig, Watch } from '@kubernetes/client-node';
import { startApiServer } from '../apiserver/index.js';
import { createLogger } from '../log/index.js';

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('Start an embedded Kubernetes API server with a sample Service and show it working (Ctrl-C to stop)')
    .option('--keep', 'keep the temp data dir after exit')
    .action(async (opts: { keep?: boolean }) => {
      const dir = mkdtempSync(join(tmpdir(), 'mesh-demo-'));
      const api = await startApiServer({ dataDir: dir, port: 0, clusterName: 'mesh-demo', logger: createLogger('apiserver', { level: 'warn' }) });
      const say = (s: string) => process.stdout.write(s + '\n');
      say(`API server: ${api.url}  (kubeconfig ${api.kubeconfigPath})`);
      const kc = new KubeConfig();
      kc.loadFromFile(api.kubeconfigPath);
      const core = kc.makeApiClient(CoreV1Api);
      const disc = kc.makeApiClient(DiscoveryV1Api);
      let watching: Promise<AbortController> | undefined;
      const seen = new Promise<string>((resolve) => {
        watching = new Watch(kc).watch('/api/v1/namespaces/demo/services', {}, (type, obj: { metadata?: { name?: string; resourceVersion?: string } }) => {
          resolve(`${type} service/${obj.metadata?.name ?? '?'} (resourceVersion ${obj.metadata?.resourceVersion ?? '?'})`);
        }, () => {});
      });
      await watching;
      await core.createNamespace({ body: { metadata: { name: 'demo' } } });
      const svc = await core.createNamespacedService({
        namespace: 'demo',
        body: { metadata: { name: 'web', labels: { app: 'web', 'mirror.mesh.io/exported': 'true' } }, spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] } },
      });
      await disc.createNamespacedEndpointSlice({
        namespace: 'demo',
        body: { metadata: { name: 'web-abc12', labels: { 'kubernetes.io/service-name': 'web' } }, addressType: 'IPv4', endpoints: [{ addresses: ['127.0.0.10'], conditions: { ready: true } }], ports: [{ name: 'http', port: 8080, protocol: 'TCP' }] },
      });
      say(`created namespace/demo, service/web (clusterIP ${svc.spec?.clusterIP ?? '?'}), endpointslice/web-abc12`);
      say(`watch saw: ${await seen}`);
      say('');
      say('Try it with kubectl:');
      say(`  kubectl --kubeconfig ${api.kubeconfigPath} get svc -A`);
      say(`  kubectl --kubeconfig ${api.kubeconfigPath} get endpointslices -n demo -o yaml`);
      say(`  kubectl --kubeconfig ${api.kubeconfigPath} get svc -n demo -w`);
      say('Press Ctrl-C to stop.');
      await new Promise<void>((resolve) => {
        const stop = () => resolve();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      (await watching)?.abort();
      await api.close();
      if (!opts.keep) rmSync(dir, { recursive: true, force: true });
    });
}
