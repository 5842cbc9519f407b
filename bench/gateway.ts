// `npm run bench -- gateway`: client → gateway A → gateway B → server on loopback, beside (same run, same
// certificates, TLS 1.3 with TLS_AES_128_GCM_SHA256): the direct connection (the limit), nginx (stream
// module, proxy_ssl → ssl + ssl_verify_client), HAProxy (ssl server → ssl bind + verify required), the Node
// floor (bench/node-relay.ts) and ours over both transports (HTTP/2 CONNECT, tls-pipe), each hop one
// process with one worker; then ours (connect) with two workers per hop, accepting both ways node:cluster can.
// Figures: 64 B round trips/s on one connection and on 16 at once, bulk MB/s from a client writing 64 KiB
// chunks as fast as it can, new connections/s (connect, 64 B each way, close; 8 and 64 concurrent),
// latency at fixed rates (kept-alive requests, new connections) and what each setup adds to direct, gateway
// RSS idle and per 1,000 idle tunneled connections, and the CPU both hops spend per unit of work. Bounded:
// 1.5 s per figure x 3 interleaved rounds (GATEWAY_BENCH_SECONDS, GATEWAY_BENCH_ROUNDS;
// GATEWAY_BENCH_ONLY=nginx,connect,workers-rr picks subjects), about 10 min in all with the build.
// gateway-peers.ts starts the subjects, gateway-load.ts (with gateway-workloads.ts) runs the workloads and
// reads /proc, gateway-rows.ts turns the figures into rows and notes.
import { mkdtempSync, writeFileSync, rmSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startProcess, stopAll, repoRoot } from '../test/helpers/process.js';
import { createPki } from '../test/gateway/fixtures.js';
import type { BenchResult } from './report.js';
import { measureAll, type Figures, type RoundFigures, type Subject } from './gateway-load.js';
import { startHaproxy, startNginx, startNodeRelay, startOurs, which, writeCreds, type Started } from './gateway-peers.js';
import { ATTESTED_LABEL, ATTESTED_ONLY_LABEL, BASELINE_LABEL, notesOn, rowsOf } from './gateway-rows.js';

export async function run(): Promise<BenchResult> {
  const notes: string[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'gw-bench-'));
  chmodSync(dir, 0o755);
  const results = new Map<string, Figures>();
  const rounds = new Map<string, RoundFigures[]>();
  try {
    for (const [k, v] of await measureAll(await startSubjects(dir, notes), rounds)) results.set(k, v);
  } finally {
    await stopAll();
    rmSync(dir, { recursive: true, force: true });
  }
  return { name: 'gateway: client → A → B → server (loopback)', notes: [...notes, ...notesOn(rounds)], rows: rowsOf(results) };
}

/** The load server, then every subject that can start (GATEWAY_BENCH_ONLY narrows them). */
async function startSubjects(dir: string, notes: string[]): Promise<Subject[]> {
  const pki = createPki();
  const bundle = join(dir, 'ca.crt');
  writeFileSync(bundle, pki.bundle);
  chmodSync(bundle, 0o644);
  const a = writeCreds(dir, 'a', pki.leaf('cluster-a'));
  const b = writeCreds(dir, 'b', pki.leaf('cluster-b'));
  const server = startProcess(process.execPath, [join(repoRoot, 'dist/test/gateway/load-server.js')]);
  const m = await server.waitFor(/\{"echo":(\d+),"sink":(\d+)\}/);
  const upstream = { echo: Number(m[1]), sink: Number(m[2]) };

  const subjects: Subject[] = [{ name: 'direct', echoPort: upstream.echo, sinkPort: upstream.sink }];
  // A peer that cannot start (e.g. nginx without its stream module) is noted, not fatal.
  const optional = async (name: string, start: () => Started) => {
    try {
      subjects.push((await start()).subject);
    } catch (err) {
      notes.push(`${name} could not be started, no figures for it: ${(err as Error).message.split('\n').slice(0, 4).join(' ')}`);
    }
  };
  const only = process.env.GATEWAY_BENCH_ONLY?.split(',');
  const want = (n: string) => !only || only.some((o) => n.includes(o));
  const nginx = which('nginx');
  if (!nginx) notes.push('nginx or its stream module not installed (apt-get install nginx libnginx-mod-stream): no nginx figures; ratios are against direct.');
  else if (want('nginx')) await optional('nginx', () => startNginx(nginx, dir, a, b, bundle, upstream));
  const haproxy = which('haproxy');
  if (!haproxy) notes.push('haproxy not installed (apt-get install haproxy): no HAProxy figures.');
  else if (want('HAProxy')) await optional('HAProxy', () => startHaproxy(haproxy, dir, a, b, bundle, upstream));
  if (want('floor')) subjects.push((await startNodeRelay(a, b, bundle, upstream)).subject);
  for (const t of ['connect', 'tls-pipe'] as const) if (want(t)) subjects.push((await startOurs(dir, t, a, b, bundle, upstream)).subject);
  // Issue 15: the same as connect with a 50-entry allow list and an export-to on every export.
  if (want('policy')) subjects.push((await startOurs(dir, 'connect', a, b, bundle, upstream, 1, undefined, { policy: true })).subject);
  // Two workers per hop, both ways node:cluster can hand out connections.
  for (const sched of ['rr', 'none'] as const) if (want(`workers-${sched}`)) subjects.push((await startOurs(dir, 'connect', a, b, bundle, upstream, 2, sched)).subject);
  // Issue 15: every tunnel attested (a known client pod, a real caller id) and PROXY v2 to the target,
  // against the build before the change when GATEWAY_BENCH_BASE names its bin/mesh.js.
  if (want('attested')) {
    subjects.push((await startOurs(dir, 'connect', a, b, bundle, upstream, 1, undefined, { attested: true, proxyProtocol: true, label: ATTESTED_LABEL })).subject);
    subjects.push((await startOurs(dir, 'connect', a, b, bundle, upstream, 1, undefined, { attested: true, label: ATTESTED_ONLY_LABEL })).subject);
  }
  const baseBin = process.env.GATEWAY_BENCH_BASE;
  if (baseBin && want('baseline')) subjects.push((await startOurs(dir, 'connect', a, b, bundle, upstream, 1, undefined, { bin: baseBin, label: BASELINE_LABEL })).subject);
  else if (want('attested')) notes.push('GATEWAY_BENCH_BASE unset: the attested subject is compared with this build without attestation (unknown-caller claims, no PROXY header), not with the build before issue 15.');
  return subjects;
}

