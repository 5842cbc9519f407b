// core/v1 Events from the sandbox's kubelet and controllers, aggregated by (object, reason, message) as
// Kubernetes' recorder does, so a crash-looping pod bumps a count instead of writing thousands of Events.
import { randomBytes } from 'node:crypto';
import type { KubeClient } from '../kube/index.js';
import type { Logger } from '../log/index.js';
import type { KObj } from './types.js';

interface Seen {
  name: string;
  count: number;
  first: string;
}

export class Recorder {
  private readonly seen = new Map<string, Seen>();
  constructor(
    private readonly client: KubeClient,
    private readonly component: string,
    private readonly host: string,
    private readonly log: Logger,
  ) {}

  /** Fire and forget: a failed Event write is logged, never fails the caller. */
  event(obj: KObj, type: 'Normal' | 'Warning', reason: string, message: string): void {
    void this.write(obj, type, reason, message).catch((err: unknown) =>
      this.log.warn('could not write event', { reason, object: obj.metadata.name, err: err instanceof Error ? err.message : String(err) }),
    );
  }

  private async write(obj: KObj, type: string, reason: string, message: string): Promise<void> {
    const ns = obj.metadata.namespace ?? 'default';
    const k = `${ns}/${obj.kind}/${obj.metadata.name}/${obj.metadata.uid}/${reason}/${message}`;
    const now = new Date().toISOString();
    const prev = this.seen.get(k);
    if (prev) {
      prev.count++;
      await this.client.patch(`/api/v1/namespaces/${ns}/events/${prev.name}`, { count: prev.count, lastTimestamp: now });
      return;
    }
    const name = `${obj.metadata.name}.${randomBytes(8).toString('hex')}`;
    this.seen.set(k, { name, count: 1, first: now });
    if (this.seen.size > 5000) this.seen.delete(this.seen.keys().next().value!);
    await this.client.create(`/api/v1/namespaces/${ns}/events`, {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name, namespace: ns },
      involvedObject: { apiVersion: obj.apiVersion ?? 'v1', kind: obj.kind ?? 'Pod', name: obj.metadata.name, namespace: ns, uid: obj.metadata.uid, resourceVersion: obj.metadata.resourceVersion },
      reason,
      message,
      type,
      count: 1,
      firstTimestamp: now,
      lastTimestamp: now,
      source: { component: this.component, host: this.host },
      reportingComponent: this.component,
      reportingInstance: this.host,
    });
  }
}
