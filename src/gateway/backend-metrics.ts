// Which backend served each inbound tunnel (issue 14: the remote gateway balances per tunnel and says so).
// `gateway_backend_tunnels_total{namespace,service,backend}`: `backend` is `<address>:<port>` only while it
// is a ready endpoint of an exported Service here, else `other`; a series whose endpoint left (pods come
// and go, addresses with them) is removed at the next routing update, so the label set stays bounded by the
// current endpoints. Tallied as plain numbers per tunnel and written into prom-client on scrape (the hot
// path does not hash label objects), like metrics.ts.
import { GATEWAY_METRICS } from '../api/index.js';
import { Counter, type Registry } from './prom.js';
import type { Backend, ExportedService } from './types.js';

export const OTHER_BACKEND = 'other';

interface Tally {
  labels: { namespace: string; service: string; backend: string };
  n: number;
  reported: number;
}

export class BackendTally {
  readonly counter: Counter<'namespace' | 'service' | 'backend'>;
  private readonly tallies = new Map<string, Tally>();
  /** `<ns>/<svc>` of exported Services, and `<ns>/<svc>/<address>:<port>` of their ready endpoints. */
  private services = new Set<string>();
  private endpoints = new Set<string>();

  constructor(registers: Registry[]) {
    this.counter = new Counter({
      name: GATEWAY_METRICS.backendTunnels,
      help: 'Inbound tunnels by the backend that served them (backend = address:port while it is a ready endpoint of an exported Service, else "other")',
      labelNames: ['namespace', 'service', 'backend'],
      registers,
      collect: () => {
        for (const t of this.tallies.values()) {
          if (t.n > t.reported) this.counter.inc(t.labels, t.n - t.reported);
          t.reported = t.n;
        }
      },
    });
  }

  /** The exported Services and their ready endpoints now: series of endpoints that left are removed. */
  setCurrent(exported: readonly ExportedService[]): void {
    this.services = new Set(exported.map((s) => `${s.namespace}/${s.name}`));
    this.endpoints = new Set(exported.flatMap((s) => s.ports.flatMap((p) => p.backends.map((b) => `${s.namespace}/${s.name}/${b.address}:${b.port}`))));
    for (const [key, t] of this.tallies) {
      const { namespace, service, backend } = t.labels;
      const gone = backend === OTHER_BACKEND ? !this.services.has(`${namespace}/${service}`) : !this.endpoints.has(`${namespace}/${service}/${backend}`);
      if (!gone) continue;
      this.tallies.delete(key);
      this.counter.remove(t.labels);
    }
  }

  /** One tunnel served by `b` for the exported Service namespace/service. */
  served(namespace: string, service: string, b: Backend): void {
    const endpoint = `${b.address}:${b.port}`;
    const current = this.endpoints.has(`${namespace}/${service}/${endpoint}`);
    const known = current || this.services.has(`${namespace}/${service}`);
    const key = `${namespace}/${service}/${current ? endpoint : OTHER_BACKEND}`;
    let t = this.tallies.get(key);
    if (!t && !known) return; // the Service is not exported any more: nothing to label it by
    if (!t) this.tallies.set(key, (t = { labels: { namespace, service, backend: current ? endpoint : OTHER_BACKEND }, n: 0, reported: 0 }));
    t.n++;
  }
}
