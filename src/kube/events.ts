// core/v1 Events about an object, aggregated like client-go's recorder: the same (object, type, reason,
// message) within the window bumps `count` and `lastTimestamp` instead of making a new Event.
import { createHash } from 'node:crypto';
import type { Logger } from '../log/index.js';
import { silentLogger } from '../log/index.js';
import type { CallOptions, KubeClient, KubeObject } from './client.js';
import { realClock, type Clock } from './clock.js';
import { resourcePath } from './client.js';
import { errorMessage, isNotFound } from './errors.js';

export type EventType = 'Normal' | 'Warning';

export interface EventRecorderOptions {
  component: string;
  host?: string;
  logger?: Logger;
  /** Events older than this are not bumped but replaced (client-go uses 10 minutes). */
  aggregateWindowMs?: number;
  clock?: Clock;
}

/** The caller's signal, and its logger (so a failure is logged with the reconcile's fields). */
export type RecordOptions = CallOptions & { log?: Logger };

interface CoreEvent extends KubeObject {
  count?: number;
  lastTimestamp?: string;
}

export class EventRecorder {
  private readonly log: Logger;
  private readonly seen = new Map<string, { name: string; namespace: string; count: number; at: number }>();

  constructor(
    private readonly client: KubeClient,
    private readonly opts: EventRecorderOptions,
  ) {
    this.log = opts.logger ?? silentLogger();
  }

  /**
   * Records an Event; never throws (an Event is best effort and must not fail a reconcile). With a
   * `signal` (the reconcile's), nothing is written once it has fired.
   */
  async record(obj: KubeObject, type: EventType, reason: string, message: string, call: RecordOptions = {}): Promise<void> {
    try {
      await this.recordOrThrow(obj, type, reason, message, call);
    } catch (err) {
      (call.log ?? this.log).warn('could not record event', { reason, error: errorMessage(err) });
    }
  }

  private async recordOrThrow(obj: KubeObject, type: EventType, reason: string, message: string, call: RecordOptions): Promise<void> {
    const m = obj.metadata ?? {};
    const namespace = m.namespace || 'default';
    const involved = { apiVersion: obj.apiVersion, kind: obj.kind, name: m.name, namespace: m.namespace, uid: m.uid, resourceVersion: m.resourceVersion };
    const aggKey = createHash('sha256').update(JSON.stringify([obj.kind, namespace, m.name, m.uid, type, reason, message])).digest('hex').slice(0, 16);
    const now = (this.opts.clock ?? realClock).now();
    const window = this.opts.aggregateWindowMs ?? 600_000;
    const prev = this.seen.get(aggKey);
    const nowIso = new Date(now).toISOString().replace(/\.\d{3}Z$/, 'Z');
    if (prev && now - prev.at < window) {
      const path = resourcePath({ version: 'v1', plural: 'events', namespace: prev.namespace, name: prev.name });
      try {
        await this.client.patch<CoreEvent>(path, { count: prev.count + 1, lastTimestamp: nowIso }, 'merge', { signal: call.signal });
        prev.count++;
        prev.at = now;
        return;
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
    const name = `${(m.name ?? 'object').slice(0, 200)}.${now.toString(16)}${aggKey.slice(0, 4)}`;
    await this.client.create(resourcePath({ version: 'v1', plural: 'events', namespace }), {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name, namespace },
      involvedObject: involved,
      reason,
      message: message.slice(0, 1024),
      type,
      count: 1,
      firstTimestamp: nowIso,
      lastTimestamp: nowIso,
      source: { component: this.opts.component, host: this.opts.host },
      reportingComponent: this.opts.component,
      reportingInstance: this.opts.host ?? '',
    }, { signal: call.signal });
    this.seen.set(aggKey, { name, namespace, count: 1, at: now });
    if (this.seen.size > 4096) this.seen.delete(this.seen.keys().next().value as string);
  }
}
