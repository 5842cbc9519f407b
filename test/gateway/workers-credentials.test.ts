// Regression: a gateway primary whose first certificate arrives while its workers are starting (the
// Identity service answers after a worker said hello, before every worker listens) must hand it to every
// worker. It used to subscribe to credential changes only once all workers listened, so a worker
// welcomed before the certificate served TLS without one (handshake_failure to every mesh peer) until the
// next renewal, hours later. Seen in the e2e suite on a loaded machine: cluster-b's gateway refused all.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import tls from 'node:tls';
import { runPrimary } from '../../src/gateway/cluster/primary.js';
import { MemoryRouteSource, type CredentialSource, type Credentials } from '../../src/gateway/index.js';
import { silentLogger } from '../../src/log/index.js';
import { createPki } from './fixtures.js';

/** No certificate at first; it arrives just after the first time anyone asks for it. */
class LateCredentials implements CredentialSource {
  private c: Credentials | undefined;
  private asked = false;
  private readonly listeners: Array<(c: Credentials) => void> = [];
  constructor(private readonly later: Credentials) {}
  current(): Credentials | undefined {
    if (!this.asked) {
      this.asked = true;
      setImmediate(() => {
        this.c = this.later;
        for (const l of this.listeners) l(this.later);
      });
    }
    return this.c;
  }
  onChange(l: (c: Credentials) => void): void {
    this.listeners.push(l);
  }
}

function handshake(port: number, c: Credentials): Promise<string> {
  return new Promise((resolve) => {
    const s = tls.connect({ host: '127.0.0.1', port, key: c.key, cert: c.certChain, ca: c.bundle, checkServerIdentity: () => undefined, ALPNProtocols: ['h2'] });
    s.once('secureConnect', () => {
      s.destroy();
      resolve('ok');
    });
    s.once('error', (err) => resolve(err.message));
  });
}

test('workers started before the first certificate all get it (round-robin: every worker answers)', async () => {
  // Round-robin hand-off so consecutive connections reach every worker.
  process.env.NODE_CLUSTER_SCHED_POLICY = 'rr';
  const pki = createPki();
  const routes = new MemoryRouteSource();
  routes.set({ exported: [] });
  const gw = await runPrimary({
    config: { clusterName: 'cluster-b', host: '127.0.0.1', tunnelPort: 0, adminPort: 0, outboundPorts: { min: 1024, max: 65535 } },
    workers: 2,
    credentials: new LateCredentials(pki.leaf('cluster-b')),
    routes,
    logger: silentLogger(),
    heapGrowingPercent: 0,
  });
  after(() => gw.stop());
  const client = pki.leaf('cluster-a');
  const outcomes: string[] = [];
  for (let i = 0; i < 8; i++) outcomes.push(await handshake(gw.tunnelPort, client));
  assert.deepEqual(outcomes, Array(8).fill('ok'), `handshakes: ${outcomes.join(' | ')}`);
});
