// The pieces of prom-client the gateway uses, each loaded alone. prom-client's index loads all of it at
// import: the Pushgateway (with http/https), Summary (with its t-digest), the default process collectors and
// the cluster aggregator (node:cluster) — 1.3 MB of heap, measured, that an idle gateway never uses. The
// types are prom-client's own; the package has no exports map, so its lib/ files are public paths.
import { createRequire } from 'node:module';
import type * as prom from 'prom-client';

const load = createRequire(import.meta.url);

export const Registry = load('prom-client/lib/registry.js') as typeof prom.Registry;
export const Counter = load('prom-client/lib/counter.js') as typeof prom.Counter;
export const Gauge = load('prom-client/lib/gauge.js') as typeof prom.Gauge;
export const Histogram = load('prom-client/lib/histogram.js') as typeof prom.Histogram;
export type Registry = prom.Registry;
export type Counter<T extends string> = prom.Counter<T>;
export type Gauge<T extends string> = prom.Gauge<T>;
export type Histogram<T extends string> = prom.Histogram<T>;

/** The process collectors, loaded only by a registry that asks for them. */
export function collectDefaultMetrics(o: prom.DefaultMetricsCollectorConfiguration<prom.RegistryContentType>): void {
  (load('prom-client/lib/defaultMetrics.js') as typeof prom.collectDefaultMetrics)(o);
}

/** node:cluster's metrics aggregation (multi-worker gateways only). */
export function aggregatorRegistry(): typeof prom.AggregatorRegistry {
  return load('prom-client/lib/cluster.js') as typeof prom.AggregatorRegistry;
}
