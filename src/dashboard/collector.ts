// Holds every cluster source, samples them on a fixed interval (one sample at a time, never overlapping),
// turns what they hold into the pages' views, and tells subscribers (the server-sent event streams) which
// views changed. Watched objects change the views at once (debounced); sampled facts on the next sample.
import { errorMessage } from '../kube/index.js';
import type { Logger } from '../log/index.js';
import { ClusterSource } from './cluster-source.js';
import { clusterView, exportViews, externalClusters, linkViews, probePeriodMs, type ClusterInput } from './snapshot.js';
import { clusterTrust, sharedRoot } from './identity.js';
import { TrafficBook, serviceRowId } from './traffic.js';
import type {
  CheckLineView, CheckResponse, ClusterView, ExportView, IdentityResponse, LinkView, OverviewResponse, ServicesResponse, TopologyResponse,
  TrafficResponse, VersionsEvent,
} from './model.js';

/** `mesh check` for these contexts, read-only (the CLI passes its own check with the data path off). */
export type RunChecks = (contexts: string[]) => Promise<CheckLineView[]>;

export interface CollectorOptions {
  contexts: string[];
  kubeconfig?: string;
  intervalMs: number;
  windowMs: number;
  checkIntervalMs: number;
  timeoutMs: number;
  runChecks?: RunChecks;
  logger: Logger;
}

interface State {
  generatedAt: string;
  clusters: ClusterView[];
  links: LinkView[];
  exports: ExportView[];
  identity: IdentityResponse;
  topology: Pick<TopologyResponse, 'external' | 'probePeriodMs'>;
  mcs: Record<string, boolean>;
}

const DEBOUNCE_MS = 100;

export class Collector {
  private readonly sources: ClusterSource[];
  readonly traffic: TrafficBook;
  private state: State | undefined;
  private stateKey = '';
  private stateVersion = 0;
  private checkVersion = 0;
  private check: CheckResponse = { version: 0, ranAt: null, running: false, durationMs: null, lines: [] };
  private readonly listeners = new Set<(v: VersionsEvent) => void>();
  private sampleTimer: NodeJS.Timeout | undefined;
  private checkTimer: NodeJS.Timeout | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly o: CollectorOptions) {
    this.traffic = new TrafficBook({ intervalMs: o.intervalMs, windowMs: o.windowMs });
    this.sources = o.contexts.map((context) => new ClusterSource({ context, kubeconfig: o.kubeconfig, timeoutMs: o.timeoutMs, logger: o.logger, onChange: () => this.changed() }));
  }

  /** Connects to every context and takes the first sample (an unreachable cluster does not hold it up). */
  async start(): Promise<void> {
    await Promise.all(this.sources.map((s) => s.start()));
    await this.sampleAll();
    this.scheduleSample();
    if (this.o.runChecks) void this.runCheck();
  }

  stop(): void {
    this.stopped = true;
    for (const t of [this.sampleTimer, this.checkTimer, this.debounce]) if (t) clearTimeout(t);
    for (const s of this.sources) s.stop();
    this.listeners.clear();
  }

  subscribe(fn: (v: VersionsEvent) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  versions(): VersionsEvent {
    return { state: this.stateVersion, traffic: this.traffic.version, check: this.checkVersion };
  }

  private notify(): void {
    const v = this.versions();
    for (const l of this.listeners) l(v);
  }

  private changed(): void {
    if (this.debounce || this.stopped) return;
    this.debounce = setTimeout(() => {
      this.debounce = undefined;
      if (this.rebuild()) this.notify();
    }, DEBOUNCE_MS);
  }

  private scheduleSample(): void {
    if (this.stopped) return;
    const started = Date.now();
    this.sampleTimer = setTimeout(() => {
      void this.sampleAll().finally(() => this.scheduleSample());
    }, Math.max(0, this.o.intervalMs - (Date.now() - started)));
  }

  private async sampleAll(): Promise<void> {
    const now = Date.now();
    await Promise.all(this.sources.map((s) => s.sample(now)));
    if (this.stopped) return;
    for (const s of this.sources) {
      const name = s.sampled?.name;
      if (!name || !s.sampled?.reachable) continue;
      const input = this.input(s);
      const probes = new Map<string, number | undefined>();
      for (const l of linkViews([input])) if (l.mode === 'gateway') probes.set(l.target, l.probe?.success ? l.probe.latencyMs : undefined);
      const rows = exportViews([input]).filter((e) => e.cluster === name && e.modes.includes('gateway')).map((e) => serviceRowId(name, e.namespace, e.name));
      this.traffic.record(name, now, s.sampled.scrapes, probes, rows);
    }
    this.rebuild();
    this.notify();
  }

  private input(s: ClusterSource): ClusterInput {
    const list = (i: { list(): ClusterInput['links'] } | undefined) => i?.list() ?? [];
    const linksErr = s.links && !s.links.isHealthy() && s.links.lastError() !== undefined ? errorMessage(s.links.lastError()) : undefined;
    return {
      context: s.context,
      server: s.server,
      ...(s.configError ? { configError: s.configError } : {}),
      ...(s.sampled ? { sampled: s.sampled } : {}),
      ...(s.lastContact ? { lastContact: s.lastContact } : {}),
      ...(linksErr ? { linksError: linksErr } : {}),
      links: list(s.links),
      services: list(s.services),
      slices: list(s.slices),
      serviceImports: list(s.serviceImports),
      serviceExports: list(s.serviceExports),
      mcs: s.mcsVersion !== undefined,
    };
  }

  /** Recomputes the views; true when anything a page shows has changed. */
  private rebuild(): boolean {
    const inputs = this.sources.map((s) => this.input(s));
    const clusters = inputs.map(clusterView);
    const links = linkViews(inputs);
    const exports = exportViews(inputs);
    const now = new Date();
    const trust = this.sources.map((s, i) => clusterTrust(clusters[i].name ?? s.context, clusters[i].reachable, s.trust, now));
    const state: State = {
      generatedAt: now.toISOString(),
      clusters,
      links,
      exports,
      identity: { version: 0, generatedAt: now.toISOString(), clusters: trust, shared: sharedRoot(trust) },
      topology: { external: externalClusters(links), probePeriodMs: probePeriodMs(inputs) },
      mcs: Object.fromEntries(clusters.map((c) => [c.name ?? c.context, c.mcs])),
    };
    // lastContact and generatedAt move on every sample; a page needs no new fetch for them alone.
    const key = JSON.stringify({ ...state, generatedAt: '', identity: { ...state.identity, generatedAt: '' }, clusters: clusters.map((c) => ({ ...c, lastContact: '' })) });
    this.state = state;
    if (key === this.stateKey) return false;
    this.stateKey = key;
    this.stateVersion++;
    return true;
  }

  private current(): State {
    if (!this.state) this.rebuild();
    return this.state as State;
  }

  overview(): OverviewResponse {
    const s = this.current();
    return { version: this.stateVersion, generatedAt: s.generatedAt, clusters: s.clusters, links: s.links, exports: s.exports };
  }

  topology(): TopologyResponse {
    const s = this.current();
    return { version: this.stateVersion, generatedAt: s.generatedAt, clusters: s.clusters, links: s.links, ...s.topology };
  }

  services(): ServicesResponse {
    const s = this.current();
    return { version: this.stateVersion, generatedAt: s.generatedAt, exports: s.exports, mcs: s.mcs };
  }

  identity(): IdentityResponse {
    const s = this.current();
    return { ...s.identity, version: this.stateVersion };
  }

  /** Traffic rows over the last `windowMs` (at most the window kept). */
  trafficView(windowMs?: number): TrafficResponse {
    const s = this.current();
    const problems: Record<string, string> = {};
    for (const src of this.sources) {
      const why = !src.sampled?.reachable ? 'cluster unreachable' : src.sampled.metricsError;
      if (why && src.sampled?.meshInstalled !== false) problems[src.sampled?.name ?? src.context] = why;
    }
    return this.traffic.response(s.links, s.exports, problems, Date.now(), windowMs);
  }

  checkView(): CheckResponse {
    return { ...this.check, version: this.checkVersion };
  }

  /** Runs `mesh check` now unless a run is in flight; the next periodic run is counted from this one. */
  async runCheck(): Promise<void> {
    const run = this.o.runChecks;
    if (!run || this.check.running || this.stopped) return;
    if (this.checkTimer) clearTimeout(this.checkTimer);
    this.check = { ...this.check, running: true };
    this.checkVersion++;
    this.notify();
    const t0 = Date.now();
    try {
      const lines = await run(this.o.contexts);
      this.check = { version: 0, ranAt: new Date().toISOString(), running: false, durationMs: Date.now() - t0, lines };
    } catch (err) {
      this.check = { ...this.check, running: false, ranAt: new Date().toISOString(), durationMs: Date.now() - t0, error: errorMessage(err) };
    }
    if (this.stopped) return;
    this.checkVersion++;
    this.notify();
    this.checkTimer = setTimeout(() => void this.runCheck(), this.o.checkIntervalMs);
  }
}
