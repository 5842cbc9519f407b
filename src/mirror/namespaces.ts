// Whether a shadow's namespace exists here (and creating it when the Link asks for that). This asks the API
// server (the namespaces informer, for policy Events, may not have seen one just created), and remembers a
// namespace that exists for a minute: shadows of one namespace do not each cost a GET.
import { MIRRORED_LABEL } from '../api/index.js';
import { isConflict, isNotFound, resourcePath, type Clock, type KubeClient } from '../kube/index.js';
import type { Logger } from '../log/index.js';

const REMEMBER_MS = 60_000;

export class Namespaces {
  private readonly seen = new Map<string, number>();

  constructor(
    private readonly client: KubeClient,
    private readonly clock: Clock,
  ) {}

  async exists(ns: string, create: boolean, signal: AbortSignal, log: () => Logger): Promise<boolean> {
    const at = this.seen.get(ns);
    if (at !== undefined && this.clock.now() - at < REMEMBER_MS) return true;
    try {
      await this.client.get(resourcePath({ version: 'v1', plural: 'namespaces', name: ns }), { signal });
      this.seen.set(ns, this.clock.now());
      return true;
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    this.seen.delete(ns);
    if (!create) return false;
    try {
      await this.client.create(resourcePath({ version: 'v1', plural: 'namespaces' }), { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns, labels: { [MIRRORED_LABEL]: 'true' } } }, { signal });
      log().info('created namespace for mirrored services', { namespace: ns });
    } catch (err) {
      if (!isConflict(err)) throw err;
    }
    this.seen.set(ns, this.clock.now());
    return true;
  }
}
