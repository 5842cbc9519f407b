// `mesh app connect`, what `mesh check` runs in its data path pod, as its own process: each outcome has
// its exit code (the pod's exit code is all `mesh check` reads), and a peer that closes within the hold
// time (a gateway whose tunnel failed) is not "connected".
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { startMesh, stopAll } from '../helpers/process.js';
import { freePort } from '../helpers/ports.js';
import { OUTCOME_EXIT, outcomeOfExit, parseHostPort } from '../../src/cli/connect-probe.js';

const servers: net.Server[] = [];
after(async () => {
  for (const s of servers) s.close();
  await stopAll();
});

async function listen(onConn: (s: net.Socket) => void): Promise<number> {
  const srv = net.createServer(onConn);
  servers.push(srv);
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  return (srv.address() as AddressInfo).port;
}

async function connect(...args: string[]): Promise<{ code: number | string; out: { outcome: string; message: string } | undefined; stderr: string }> {
  const p = startMesh(['app', 'connect', ...args]);
  const code = await p.exited;
  const line = p.stdout().trim();
  return { code, out: line ? (JSON.parse(line) as { outcome: string; message: string }) : undefined, stderr: p.stderr() };
}

test('connected, refused, and closed within the hold time: each with its own exit code', async () => {
  const held = await listen(() => { /* keeps the connection open, says nothing: a tunnel that works */ });
  const closing = await listen((s) => setTimeout(() => s.destroy(), 100));
  const refused = await freePort();
  const [ok, heldOk, closed, ref] = await Promise.all([
    connect(`127.0.0.1:${held}`),
    connect(`127.0.0.1:${held}`, '--hold-ms', '500'),
    connect(`127.0.0.1:${closing}`, '--hold-ms', '2000'),
    connect(`127.0.0.1:${refused}`),
  ]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(ok.out?.outcome, 'connected');
  assert.equal(heldOk.code, 0, heldOk.stderr);
  assert.match(heldOk.out?.message ?? '', /open for 500 ms/);
  // A FIN (closed) or, if the peer's kernel says so, an RST (reset): never "connected".
  assert.ok(closed.out?.outcome === 'closed' || closed.out?.outcome === 'reset', JSON.stringify(closed.out));
  assert.equal(closed.code, OUTCOME_EXIT[closed.out.outcome]);
  if (closed.out.outcome === 'closed') assert.match(closed.stderr, /^mesh: 127\.0\.0\.1:\d+ closed the connection after \d+ ms/m);
  assert.equal(ref.code, OUTCOME_EXIT.refused);
  assert.equal(outcomeOfExit(ref.code as number), 'refused');
});

test('bad addresses and flags are usage errors (exit 2)', async () => {
  for (const args of [['nowhere'], ['127.0.0.1:99999'], ['127.0.0.1:80', '--hold-ms', '-1']]) {
    const r = await connect(...args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /^mesh: /m);
  }
  assert.deepEqual(parseHostPort('[::1]:80'), { host: '::1', port: 80 });
  assert.equal(parseHostPort('host:0'), undefined);
});
