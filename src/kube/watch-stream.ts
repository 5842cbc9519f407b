// The body of a Kubernetes watch: one JSON event per line ({"type":"ADDED","object":{...}}). Split as the
// bytes arrive, with a bound on one line so a broken or hostile server cannot grow our memory without end.
import type { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';

export type WatchEventHandler = (type: string, object: unknown) => void;

/** The largest event line accepted: well above etcd's 1.5 MiB object limit plus the event envelope. */
export const MAX_WATCH_LINE = 16 * 1024 * 1024;

export class WatchStreamError extends Error {
  readonly name = 'WatchStreamError';
}

/** Reads `body` to its end, calling `onEvent` once per event line. Rejects on a malformed or oversized line. */
export async function readWatchEvents(body: Readable, onEvent: WatchEventHandler, maxLine = MAX_WATCH_LINE): Promise<void> {
  // A decoder rather than setEncoding: undici's body yields Buffers either way, and a character may be split.
  const decoder = new StringDecoder('utf8');
  let rest = '';
  for await (const bytes of body as AsyncIterable<Buffer | string>) {
    const chunk = typeof bytes === 'string' ? bytes : decoder.write(bytes);
    let start = 0;
    let nl = chunk.indexOf('\n');
    while (nl >= 0) {
      const line = start === 0 && rest ? rest + chunk.slice(0, nl) : chunk.slice(start, nl);
      if (start === 0) rest = '';
      deliver(line, onEvent);
      start = nl + 1;
      nl = chunk.indexOf('\n', start);
    }
    rest += start === 0 ? chunk : chunk.slice(start);
    if (rest.length > maxLine) {
      body.destroy();
      throw new WatchStreamError(`watch event longer than ${maxLine} bytes`);
    }
  }
  rest += decoder.end();
  if (rest.trim()) deliver(rest, onEvent);
}

function deliver(line: string, onEvent: WatchEventHandler): void {
  if (!line.trim()) return;
  let ev: { type?: unknown; object?: unknown };
  try {
    ev = JSON.parse(line) as { type?: unknown; object?: unknown };
  } catch {
    throw new WatchStreamError(`watch sent a line that is not JSON: ${line.slice(0, 80)}`);
  }
  if (typeof ev.type !== 'string' || typeof ev.object !== 'object' || ev.object === null) {
    throw new WatchStreamError(`watch sent an event without type or object: ${line.slice(0, 80)}`);
  }
  onEvent(ev.type, ev.object);
}
