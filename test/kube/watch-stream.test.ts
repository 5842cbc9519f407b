// The watch body parser: events split anywhere by the network, characters split across chunks, and a broken
// or hostile stream (not JSON, no type, a line without end) refused with a clear error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { readWatchEvents, WatchStreamError } from '../../src/kube/watch-stream.js';

const line = (type: string, name: string) => JSON.stringify({ type, object: { metadata: { name } } }) + '\n';

async function collect(chunks: Array<string | Buffer>, maxLine?: number): Promise<string[]> {
  const seen: string[] = [];
  await readWatchEvents(Readable.from(chunks), (type, obj) => seen.push(`${type}:${(obj as { metadata: { name: string } }).metadata.name}`), maxLine);
  return seen;
}

test('events arrive whole however the bytes are split, in order', async () => {
  const text = line('ADDED', 'a') + line('MODIFIED', 'b') + '\n' + line('DELETED', 'c');
  const want = ['ADDED:a', 'MODIFIED:b', 'DELETED:c'];
  assert.deepEqual(await collect([text]), want);
  for (const size of [1, 2, 7, 31]) {
    const chunks: Buffer[] = [];
    const bytes = Buffer.from(text);
    for (let i = 0; i < bytes.length; i += size) chunks.push(bytes.subarray(i, i + size));
    assert.deepEqual(await collect(chunks), want, `chunks of ${size} bytes`);
  }
});

test('a multi-byte character split between chunks is decoded whole', async () => {
  const bytes = Buffer.from(line('ADDED', 'überprüfung-日本'));
  const cut = bytes.indexOf(Buffer.from('日')) + 1;
  assert.deepEqual(await collect([bytes.subarray(0, cut), bytes.subarray(cut)]), ['ADDED:überprüfung-日本']);
});

test('a last event without its newline is still delivered', async () => {
  assert.deepEqual(await collect([line('ADDED', 'a') + line('BOOKMARK', 'b').trimEnd()]), ['ADDED:a', 'BOOKMARK:b']);
});

test('a line that is not JSON, or an event without type or object, ends the stream with WatchStreamError', async () => {
  await assert.rejects(collect([line('ADDED', 'a') + '<html>502</html>\n']), (e: Error) => e instanceof WatchStreamError && /not JSON: <html>/.test(e.message));
  await assert.rejects(collect(['{"object":{}}\n']), WatchStreamError);
  await assert.rejects(collect(['{"type":"ADDED","object":null}\n']), WatchStreamError);
});

test('a line longer than the bound is refused before it grows further', async () => {
  const endless = Array.from({ length: 100 }, () => 'x'.repeat(1000));
  await assert.rejects(collect(['{"type":"ADDED","object":{"a":"', ...endless], 10_000), (e: Error) => e instanceof WatchStreamError && /longer than 10000 bytes/.test(e.message));
  assert.deepEqual(await collect([line('ADDED', 'fits')], 10_000), ['ADDED:fits']);
});
