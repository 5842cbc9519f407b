// pods/{name}/proxy: the API server fetches a path from a pod, so clients outside the pod network (the
// CLI reading gateway /metrics) never dial pod IPs themselves.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeClient, KubeApiError } from '../../src/kube/index.js';
import { startApiServer, type TestApiServer } from '../helpers/apiserver.js';
import { stopAll } from '../helpers/process.js';

let api: TestApiServer;
let client: KubeClient;
let pod: Server;
let podPort: number;

before(async () => {
  api = await startApiServer();
  client = await KubeClient.create(api.kubeConfig);
  pod = createServer((req, res) => {
    res.writeHead(req.url === '/metrics?x=1' ? 200 : 404, { 'content-type': 'text/plain' });
    res.end(`path=${req.url}`);
  });
  await new Promise<void>((r) => pod.listen(0, '127.0.0.1', () => r()));
  podPort = (pod.address() as AddressInfo).port;
  await client.create('/api/v1/namespaces/default/pods', { metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image: 'x', ports: [{ containerPort: podPort }] }] } });
  await client.create('/api/v1/namespaces/default/pods', { metadata: { name: 'no-ip' }, spec: { containers: [{ name: 'c', image: 'x' }] } });
  await client.patch('/api/v1/namespaces/default/pods/p/status', { status: { podIP: '127.0.0.1', phase: 'Running' } });
});

after(async () => {
  client?.close();
  await new Promise((r) => pod?.close(r));
  await api?.stop();
  await stopAll();
});

async function status(path: string): Promise<number> {
  try {
    await client.get(path);
    return 200;
  } catch (err) {
    if (err instanceof KubeApiError) return err.code;
    throw err;
  }
}

test('GET pods/<name>:<port>/proxy/<path> answers what the pod answers, query included', async () => {
  assert.equal(await client.get<string>(`/api/v1/namespaces/default/pods/p:${podPort}/proxy/metrics?x=1`), 'path=/metrics?x=1');
  // Without a port, the first declared containerPort is used; the pod's 404 passes through.
  assert.equal(await status('/api/v1/namespaces/default/pods/p/proxy/other'), 404);
});

test('pods/proxy errors: unknown pod 404, pod without an IP 503, bad name 400, nothing listening 503', async () => {
  assert.equal(await status('/api/v1/namespaces/default/pods/ghost:80/proxy/'), 404);
  assert.equal(await status('/api/v1/namespaces/default/pods/no-ip:80/proxy/'), 503);
  assert.equal(await status('/api/v1/namespaces/default/pods/p:99999/proxy/'), 400);
  assert.equal(await status('/api/v1/namespaces/default/pods/https:p:443/proxy/'), 400);
  await client.patch('/api/v1/namespaces/default/pods/no-ip/status', { status: { podIP: '127.0.0.1' } });
  const free = await new Promise<number>((r) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as AddressInfo).port;
      s.close(() => r(port));
    });
  });
  assert.equal(await status(`/api/v1/namespaces/default/pods/no-ip:${free}/proxy/`), 503);
});
