// KubeClient's transport against a small local HTTPS server standing in for the API server: how it fails
// (timeout, refused, a watch answered with an error), that open watches never starve requests, and that the
// client is usable after close().
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { KubeApiError, KubeClient, KubeUnreachableError, kubeConfigFromString } from '../../src/kube/index.js';
import { freePort } from '../helpers/ports.js';

let server: https.Server;
let caPem = '';
let client: KubeClient;
const openWatches = new Set<http.ServerResponse>();

function kubeconfig(port: number): string {
  return [
    'apiVersion: v1', 'kind: Config', 'current-context: t',
    'clusters: [{name: t, cluster: {server: "https://127.0.0.1:' + port + '", certificate-authority-data: ' + Buffer.from(caPem).toString('base64') + '}}]',
    'users: [{name: t, user: {token: secret-token}}]',
    'contexts: [{name: t, context: {cluster: t, user: t}}]',
  ].join('\n');
}

before(async () => {
  // A self-signed serving certificate for 127.0.0.1, which the kubeconfig trusts as its CA.
  const dir = mkdtempSync(join(tmpdir(), 'kube-transport-'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1', '-subj', '/CN=apiserver',
    '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
  caPem = readFileSync(join(dir, 'cert.pem'), 'utf8');
  const key = readFileSync(join(dir, 'key.pem'));
  rmSync(dir, { recursive: true, force: true });
  server = https.createServer({ key, cert: caPem }, (req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (req.headers.authorization !== 'Bearer secret-token') return void res.writeHead(401).end('{"kind":"Status","message":"no token"}');
    if (url.pathname === '/hang') return; // never answers
    if (url.pathname === '/slow') return void setTimeout(() => res.writeHead(200, { 'content-type': 'application/json' }).end('{"late":true}'), 600);
    if (url.pathname === '/gone' && url.searchParams.get('watch') === 'true') {
      return void res.writeHead(410, { 'content-type': 'application/json' }).end('{"kind":"Status","code":410,"reason":"Expired","message":"too old resource version: 1 (9)"}');
    }
    if (url.pathname === '/stream' && url.searchParams.get('watch') === 'true') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"type":"ADDED","object":{"metadata":{"name":"a"}}}\n{"type":"MOD');
      setTimeout(() => res.end('IFIED","object":{"metadata":{"name":"a","resourceVersion":"2"}}}\n'), 20);
      return;
    }
    if (url.pathname === '/forever' && url.searchParams.get('watch') === 'true') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"type":"BOOKMARK","object":{"metadata":{"resourceVersion":"1"}}}\n');
      openWatches.add(res);
      res.on('close', () => openWatches.delete(res));
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ path: url.pathname, query: url.search }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  client = await KubeClient.create(kubeConfigFromString(kubeconfig((server.address() as AddressInfo).port)));
});

after(async () => {
  client?.close();
  for (const res of openWatches) res.destroy();
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

test('a request that gets no answer fails with KubeUnreachableError naming the timeout', async () => {
  await assert.rejects(client.get('/hang', { timeoutMs: 200 }), (e: Error) => e instanceof KubeUnreachableError && /timed out after 200 ms/.test(e.message));
});

test('a short timeout is kept to, not rounded up to undici\'s one-second timer tick: 200 ms beats an answer due at 600 ms', async () => {
  await assert.rejects(client.get('/slow', { timeoutMs: 200 }), (e: Error) => e instanceof KubeUnreachableError && /timed out after 200 ms/.test(e.message));
  assert.deepEqual(await client.get('/slow', { timeoutMs: 2_000 }), { late: true }, 'a timeout longer than the answer lets it through');
});

test('a refused connection is KubeUnreachableError with the reason', async () => {
  const port = await freePort();
  const dead = await KubeClient.create(kubeConfigFromString(kubeconfig(port)));
  await assert.rejects(dead.get('/version'), (e: Error) => e instanceof KubeUnreachableError && /ECONNREFUSED/.test(e.message));
  dead.close();
});

test('TLS: an unknown CA is refused with the reason; insecure-skip-tls-verify (kubeconfig) connects without one', async () => {
  const port = (server.address() as AddressInfo).port;
  const noCa = kubeconfig(port).replace(/, certificate-authority-data: [^}]*/, '');
  const strict = await KubeClient.create(kubeConfigFromString(noCa));
  await assert.rejects(strict.get('/version'), (e: Error) => e instanceof KubeUnreachableError && /self[- ]signed certificate/.test(e.message));
  strict.close();
  const insecure = await KubeClient.create(kubeConfigFromString(noCa.replace('cluster: {server:', 'cluster: {insecure-skip-tls-verify: true, server:')));
  assert.equal((await insecure.get<{ path: string }>('/version')).path, '/version');
  insecure.close();
});

test('a server URL with a path (an API behind a proxy) prefixes the request path', async () => {
  const port = (server.address() as AddressInfo).port;
  const prefixed = await KubeClient.create(kubeConfigFromString(kubeconfig(port).replace(`127.0.0.1:${port}"`, `127.0.0.1:${port}/k8s/clusters/c-1/"`)));
  assert.equal((await prefixed.get<{ path: string }>('/api/v1/pods')).path, '/k8s/clusters/c-1/api/v1/pods');
  prefixed.close();
});

test('a watch answered with an error status rejects with its code, reason and message, as a request does', async () => {
  const ac = new AbortController();
  await assert.rejects(client.watch('/gone', { resourceVersion: '1' }, () => undefined, ac.signal), (e: Error) => e instanceof KubeApiError && e.code === 410 && e.reason === 'Expired' && /too old resource version/.test(e.message));
});

test('a watch delivers events split across writes, in order, and resolves when the server ends it', async () => {
  const seen: string[] = [];
  await client.watch('/stream', {}, (type, obj) => seen.push(`${type}:${(obj as { metadata: { name: string } }).metadata.name}`), new AbortController().signal);
  assert.deepEqual(seen, ['ADDED:a', 'MODIFIED:a']);
});

test('watches beyond the request connections do not starve requests, and an abort ends each', async () => {
  const watches = Array.from({ length: 24 }, () => {
    const ac = new AbortController();
    let bookmarks = 0;
    const done = client.watch('/forever', {}, () => bookmarks++, ac.signal).then(() => 'ended', (e: Error) => e.name);
    return { ac, done, bookmarks: () => bookmarks };
  });
  const deadline = Date.now() + 10_000;
  while (openWatches.size < 24 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.equal(openWatches.size, 24, 'every watch is open at once');
  const answers = await Promise.all(Array.from({ length: 32 }, (_, i) => client.get<{ path: string }>(`/obj-${i}`, { timeoutMs: 5_000 })));
  assert.deepEqual(answers.map((a) => a.path), Array.from({ length: 32 }, (_, i) => `/obj-${i}`));
  assert.ok(watches.every((w) => w.bookmarks() === 1));
  for (const w of watches) w.ac.abort();
  assert.deepEqual(new Set(await Promise.all(watches.map((w) => w.done))), new Set(['KubeAbortedError']));
});

test('after close() the client opens new connections for the next call', async () => {
  assert.equal((await client.get<{ path: string }>('/before')).path, '/before');
  client.close();
  const again = await client.get<{ path: string; query: string }>('/after', { query: { labelSelector: 'a=b', limit: 5 } });
  assert.deepEqual(again, { path: '/after', query: '?labelSelector=a%3Db&limit=5' });
});
