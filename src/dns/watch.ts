// Keeps a ClustersetRecordSource equal to what the API server holds: ServiceImports and the EndpointSlices
// labelled `multicluster.kubernetes.io/service-name`. Level-triggered: any change re-derives the whole zone
// from the caches (coalesced per tick), so a missed event cannot leave a stale name behind.
// The ServiceImport CRD may be absent (installed later, or removed): a CRD informer starts and stops the
// import informer, so a cluster without the MCS API answers NXDOMAIN for clusterset names and logs once,
// instead of retrying a 404 forever.
import { MCS_GROUP, MCS_SERVICE_NAME_LABEL, MCS_STORAGE_VERSION, SERVICE_IMPORT_PLURAL } from '../api/index.js';
import { Informer, type KubeClient, type KubeObject } from '../kube/index.js';
import type { Logger } from '../log/index.js';
import { clustersetImportsFromObjects, type ClustersetRecordSource, type EndpointSliceLike, type ServiceImportLike } from './clusterset.js';

const CRD_NAME = `${SERVICE_IMPORT_PLURAL}.${MCS_GROUP}`;

interface CrdLike extends KubeObject {
  spec?: { versions?: { name: string; served?: boolean; storage?: boolean }[] };
}

export interface ClustersetWatchOptions {
  client: KubeClient;
  source: ClustersetRecordSource;
  log: Logger;
}

/** The version to read ServiceImports in: ours (v1beta1) when served, else the CRD's storage or first served one. */
export function importVersion(crd: CrdLike | undefined): string | undefined {
  const served = (crd?.spec?.versions ?? []).filter((v) => v.served !== false);
  if (served.length === 0) return undefined;
  return (served.find((v) => v.name === MCS_STORAGE_VERSION) ?? served.find((v) => v.storage) ?? served[0])?.name;
}

export class ClustersetWatch {
  private readonly crds: Informer<CrdLike>;
  private readonly slices: Informer<KubeObject>;
  private imports: Informer<KubeObject> | undefined;
  private importsVersion: string | undefined;
  private pending = false;
  private stopped = false;

  constructor(private readonly o: ClustersetWatchOptions) {
    const mk = <T extends KubeObject>(path: string, name: string, extra: { labelSelector?: string; fieldSelector?: string } = {}) =>
      new Informer<T>(o.client, { path, name, logger: o.log, ...extra });
    this.crds = mk<CrdLike>('/apis/apiextensions.k8s.io/v1/customresourcedefinitions', 'clusterset:crds', { fieldSelector: `metadata.name=${CRD_NAME}` });
    this.slices = mk('/apis/discovery.k8s.io/v1/endpointslices', 'clusterset:endpointslices', { labelSelector: MCS_SERVICE_NAME_LABEL });
    this.crds.onKey(() => this.onCrd());
    this.slices.onKey(() => this.sync());
  }

  /** Starts watching; resolves once the CRD and slice caches (and the import cache, if the CRD exists) are synced. */
  async start(timeoutMs = 20_000): Promise<void> {
    this.crds.start();
    this.slices.start();
    await Promise.all([this.crds.waitForSync(timeoutMs), this.slices.waitForSync(timeoutMs)]);
    this.onCrd();
    if (!this.imports) this.o.log.info('ServiceImport CRD not installed: clusterset.local names answer NXDOMAIN until it is', { crd: CRD_NAME });
    await this.imports?.waitForSync(timeoutMs);
    this.sync();
  }

  stop(): void {
    this.stopped = true;
    this.crds.stop();
    this.slices.stop();
    this.imports?.stop();
  }

  /** Whether ServiceImports are being watched (the CRD is installed). */
  watchingImports(): boolean {
    return this.imports !== undefined;
  }

  private onCrd(): void {
    if (this.stopped) return;
    const version = importVersion(this.crds.list()[0]);
    if (version === this.importsVersion) return;
    this.imports?.stop();
    this.imports = undefined;
    this.importsVersion = version;
    if (version) {
      this.imports = new Informer<KubeObject>(this.o.client, { path: `/apis/${MCS_GROUP}/${version}/${SERVICE_IMPORT_PLURAL}`, name: 'clusterset:serviceimports', logger: this.o.log });
      this.imports.onKey(() => this.sync());
      this.imports.start();
      this.o.log.info('watching ServiceImports for clusterset.local', { version });
    } else {
      this.o.log.info('ServiceImport CRD gone: clusterset.local is empty', { crd: CRD_NAME });
    }
    this.sync();
  }

  private sync(): void {
    if (this.pending || this.stopped) return;
    this.pending = true;
    setImmediate(() => {
      this.pending = false;
      if (this.stopped) return;
      const imports = (this.imports?.list() ?? []) as ServiceImportLike[];
      const { entries, errors } = clustersetImportsFromObjects(imports, this.slices.list() as EndpointSliceLike[]);
      for (const e of [...errors, ...this.o.source.replaceImports(entries)]) this.o.log.warn('service import not published in clusterset DNS', { service: e.key, error: e.error });
    });
  }
}
