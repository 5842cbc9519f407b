// `mesh trust …` as its own process: files it writes are checked with openssl; errors have exit codes;
// `mesh trust identity-service` serves Certify against the embedded API server.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api } from '@kubernetes/client-node';
import { startMesh, stopAll } from '../helpers/process.js';
import { startApiServer, type TestApiServer } from '../helpers/apiserver.js';
import { createCsr, generateKeyPair, TrustBundle, verifyChain } from '../../src/trust/index.js';
import { IdentityClient } from '../../src/identity/index.js';

const execFileP = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'trust-cli-'));
let api: TestApiServer | undefined;
after(async () => {
  await api?.stop();
  await stopAll();
  rmSync(dir, { recursive: true, force: true });
});

async function mesh(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const p = startMesh(args, { MESH_LOG_LEVEL: 'warn' });
  const code = await p.exited;
  return { code: typeof code === 'number' ? code : -1, stdout: p.stdout(), stderr: p.stderr() };
}

const at = (...p: string[]) => join(dir, ...p);

describe('mesh trust (CLI process)', () => {
  it('init → issuer → leaf → verify; openssl agrees; keys are 0600', async () => {
    const init = await mesh('trust', 'init', '--trust-domain', 'mesh.local', '--out', at('root'), '-o', 'json');
    assert.equal(init.code, 0, init.stderr);
    assert.equal(JSON.parse(init.stdout).trustDomain, 'mesh.local');
    assert.equal(statSync(at('root', 'root.key')).mode & 0o777, 0o600);
    const iss = await mesh('trust', 'issuer', '--cluster-name', 'cluster-a', '--root', at('root'), '--out', at('a'), '-o', 'json');
    assert.equal(iss.code, 0, iss.stderr);
    assert.equal(JSON.parse(iss.stdout).clusterName, 'cluster-a');
    mkdirSync(at('web'));
    const leaf = await mesh('trust', 'leaf', '--issuer', at('a'), '--identity', 'spiffe://mesh.local/ns/default/sa/web', '--out', at('web'));
    assert.equal(leaf.code, 0, leaf.stderr);
    const v = await mesh('trust', 'verify', at('web', 'tls.crt'), '--bundle', at('root', 'root.crt'));
    assert.equal(v.code, 0, v.stderr);
    assert.equal(v.stdout.trim(), 'spiffe://mesh.local/ns/default/sa/web');
    const leafOnly = readFileSync(at('web', 'tls.crt'), 'utf8').split(/(?<=-----END CERTIFICATE-----\n)/)[0]!;
    writeFileSync(at('web', 'leaf.crt'), leafOnly);
    const o = await execFileP('openssl', ['verify', '-CAfile', at('root', 'root.crt'), '-untrusted', at('a', 'issuer.crt'), at('web', 'leaf.crt')]);
    assert.match(o.stdout, /OK/);
    const ins = await mesh('trust', 'inspect', at('web', 'tls.crt'), '-o', 'json');
    assert.equal(ins.code, 0, ins.stderr);
    const info = JSON.parse(ins.stdout) as { certificates: Array<{ uris: string[]; ca: boolean }> };
    assert.deepEqual(info.certificates.map((c) => [c.uris, c.ca]), [[['spiffe://mesh.local/ns/default/sa/web'], false], [[], true]]);
  });

  it('rotate add-root / remove-root print the next bundle', async () => {
    assert.equal((await mesh('trust', 'init', '--out', at('root2'))).code, 0);
    const add = await mesh('trust', 'rotate', 'add-root', '--bundle', at('root', 'root.crt'), '--root', at('root2'));
    assert.equal(add.code, 0, add.stderr);
    assert.equal(TrustBundle.fromPem(add.stdout).roots.length, 2);
    writeFileSync(at('b2.crt'), add.stdout);
    const rm = await mesh('trust', 'rotate', 'remove-root', '--bundle', at('b2.crt'), '--root', at('root', 'root.crt'));
    assert.equal(rm.code, 0, rm.stderr);
    const b3 = TrustBundle.fromPem(rm.stdout);
    assert.deepEqual(b3.roots.map((r) => r.pem), [readFileSync(at('root2', 'root.crt'), 'utf8')]);
    const again = await mesh('trust', 'rotate', 'remove-root', '--bundle', at('root2', 'root.crt'), '--root', at('root2'));
    assert.equal(again.code, 2, 'emptying the bundle is refused');
    assert.match(again.stderr, /leave the bundle empty/);
  });

  it('bad input: clear messages and exit codes', async () => {
    writeFileSync(at('junk.pem'), 'hello');
    // Independent invocations: run them side by side (process start-up dominates).
    const [bad, exists, name, noRoot, junk, untrusted] = await Promise.all([
      mesh('trust', 'init', '--trust-domain', 'Not Valid', '--out', at('x')),
      mesh('trust', 'init', '--out', at('root')),
      mesh('trust', 'issuer', '--cluster-name', 'Cluster_A', '--root', at('root'), '--out', at('y')),
      mesh('trust', 'issuer', '--cluster-name', 'c', '--root', at('nowhere'), '--out', at('y')),
      mesh('trust', 'inspect', at('junk.pem')),
      mesh('trust', 'verify', at('web', 'tls.crt'), '--bundle', at('root2', 'root.crt')),
    ]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /trust domain "Not Valid" is not valid/);
    assert.equal(exists.code, 1);
    assert.match(exists.stderr, /already exists; refusing to overwrite/);
    assert.equal(name.code, 2);
    assert.match(name.stderr, /--cluster-name: must be a DNS label/);
    assert.equal(noRoot.code, 1);
    assert.match(noRoot.stderr, /expected root\.crt and root\.key/);
    assert.equal(junk.code, 1);
    assert.match(junk.stderr, /no CERTIFICATE/);
    assert.equal(untrusted.code, 1);
    assert.match(untrusted.stderr, /not trusted/);
  });

  it('identity-service runs as its own process and certifies a real ServiceAccount token', async () => {
    api = await startApiServer();
    const core = api.kubeConfig.makeApiClient(CoreV1Api);
    await core.createNamespace({ body: { metadata: { name: 'mesh-system' } } });
    await core.createNamespace({ body: { metadata: { name: 'apps' } } });
    await core.createNamespacedServiceAccount({ namespace: 'apps', body: { metadata: { name: 'web' } } });
    const b64 = (p: string) => readFileSync(p).toString('base64');
    await core.createNamespacedSecret({ namespace: 'mesh-system', body: { metadata: { name: 'mesh-issuer' }, type: 'kubernetes.io/tls', data: { 'tls.crt': b64(at('a', 'issuer.crt')), 'tls.key': b64(at('a', 'issuer.key')), 'ca.crt': b64(at('root', 'root.crt')) } } });
    await core.createNamespacedConfigMap({ namespace: 'mesh-system', body: { metadata: { name: 'mesh-trust-roots' }, data: { 'ca-bundle.crt': readFileSync(at('root', 'root.crt'), 'utf8') } } });
    const proc = startMesh(['trust', 'identity-service', '--kubeconfig', api.kubeconfigPath, '--host', '127.0.0.1', '--port', '0'], { MESH_LOG_LEVEL: 'warn' });
    const m = await proc.waitFor(/^(\{"ready":true.*\})$/m, 30_000);
    const { port } = JSON.parse(m[1]!) as { port: number };
    const bundle = readFileSync(at('root', 'root.crt'), 'utf8');
    const client = new IdentityClient({ address: `127.0.0.1:${port}`, bundle });
    try {
      const tok = await core.createNamespacedServiceAccountToken({ namespace: 'apps', name: 'web', body: { spec: { audiences: ['identity.mesh.io'] } } });
      const id = 'spiffe://mesh.local/ns/apps/sa/web';
      const res = await client.certify({ identity: id, token: tok.status!.token, csr: createCsr({ key: generateKeyPair().key, identity: id }) });
      assert.equal(verifyChain(res.chainPem, bundle).uri, id);
    } finally {
      client.close();
      await proc.stop();
    }
    assert.equal(await proc.exited, 0, 'exits cleanly on SIGTERM');
  });
});
