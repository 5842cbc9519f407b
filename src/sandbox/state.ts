// The sandbox state file D/state.json: what `up` started and created (pids, netns names, loopback
// ranges, addresses), so `status`, `route` and `down` work from another process, also after a crash.
import { chmodSync, existsSync, readFileSync, renameSync, writeFileSync, openSync, closeSync, unlinkSync, readdirSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { SandboxError } from './errors.js';
import { ClusterPlan, NetworkMode } from './plan.js';

export const ClusterState = z.object({
  plan: ClusterPlan,
  pid: z.number().int().optional(),
  /** Server URL in D/kubeconfig (from the host). */
  hostApiUrl: z.string().optional(),
  /** Server URL reachable from the other clusters' networks (their mirror controllers). */
  apiUrl: z.string().optional(),
  dns: z.string().optional(),
  apiSocket: z.string().optional(),
});
export type ClusterState = z.infer<typeof ClusterState>;

export const SandboxState = z.object({
  version: z.literal(1),
  sandboxId: z.string().regex(/^[a-f0-9]{6,16}$/),
  upPid: z.number().int(),
  mode: NetworkMode,
  dir: z.string(),
  createdAt: z.string(),
  underlay: z.string().optional(),
  netns: z.array(z.string()).default([]),
  clusters: z.array(ClusterState),
  /** Flat routes added by `route --flat`, as "a:b" pairs. */
  flatRoutes: z.array(z.string()).default([]),
});
export type SandboxState = z.infer<typeof SandboxState>;

export function statePath(dir: string): string {
  return join(dir, 'state.json');
}

export function readState(dir: string): SandboxState {
  const p = statePath(dir);
  if (!existsSync(p)) throw new SandboxError('NoState', `no sandbox state in ${dir} (${p} is missing)`, `start one with: mesh sandbox up --dir ${dir}`);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(p, 'utf8'));
  } catch (err) {
    throw new SandboxError('BadState', `${p} is not JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
  const r = SandboxState.safeParse(raw);
  if (!r.success) throw new SandboxError('BadState', `${p}: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  return r.data;
}

export function writeState(s: SandboxState): void {
  const p = statePath(s.dir);
  writeFileSync(`${p}.tmp`, JSON.stringify(s, null, 2));
  renameSync(`${p}.tmp`, p);
}

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

// --- loopback range claims -----------------------------------------------------------------------------
// Several sandboxes (tests run in parallel, several users) must not share a 127.X range. A claim is a file
// created with O_EXCL; a claim whose owner pid is dead is stale and taken over.
const CLAIM_DIR = join(tmpdir(), 'mesh-sandbox-ranges');
const FIRST_OCTET = 20;
const LAST_OCTET = 250;

export function claimLoopbackOctets(n: number, sandboxId: string, ownerPid: number): number[] {
  if (!existsSync(CLAIM_DIR)) {
    mkdirSync(CLAIM_DIR, { recursive: true });
    // Shared by every user's sandboxes (the 127.X ranges are shared too), so world-writable + sticky, like /tmp.
    try { chmodSync(CLAIM_DIR, 0o1777); } catch { /* another user made it */ }
  }
  const got: number[] = [];
  const span = LAST_OCTET - FIRST_OCTET + 1;
  const start = Math.floor(Math.random() * span);
  for (let i = 0; i < span && got.length < n; i++) {
    const x = FIRST_OCTET + ((start + i) % span);
    const f = join(CLAIM_DIR, String(x));
    if (tryClaim(f, sandboxId, ownerPid)) got.push(x);
  }
  if (got.length < n) {
    releaseLoopbackOctets(got, sandboxId);
    throw new SandboxError('NoLoopbackRange', `could not claim ${n} free 127.X.0.0/16 ranges (claims in ${CLAIM_DIR})`, 'stop other sandboxes (mesh sandbox down) or remove stale claims');
  }
  return got;
}

function tryClaim(f: string, sandboxId: string, ownerPid: number): boolean {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(f, 'wx');
      writeFileSync(fd, JSON.stringify({ sandboxId, pid: ownerPid }));
      closeSync(fd);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      let owner: { pid?: number } = {};
      try { owner = JSON.parse(readFileSync(f, 'utf8')) as { pid?: number }; } catch { /* being written: treat as live */ owner = { pid: process.pid }; }
      if (owner.pid !== undefined && pidAlive(owner.pid)) return false;
      try { unlinkSync(f); } catch { /* someone else took it over */ }
    }
  }
  return false;
}

export function releaseLoopbackOctets(octets: number[], sandboxId: string): void {
  for (const x of octets) {
    const f = join(CLAIM_DIR, String(x));
    try {
      const owner = JSON.parse(readFileSync(f, 'utf8')) as { sandboxId?: string };
      if (owner.sandboxId === sandboxId) unlinkSync(f);
    } catch { /* already gone */ }
  }
}

export function claimsOf(sandboxId: string): number[] {
  if (!existsSync(CLAIM_DIR)) return [];
  const out: number[] = [];
  for (const name of readdirSync(CLAIM_DIR)) {
    try {
      const owner = JSON.parse(readFileSync(join(CLAIM_DIR, name), 'utf8')) as { sandboxId?: string };
      if (owner.sandboxId === sandboxId) out.push(Number(name));
    } catch { /* ignore */ }
  }
  return out;
}

/** Pids of processes whose environment carries MESH_SANDBOX_ID=<id> (the sandbox's own children), optionally only one cluster's pods. */
export function processesOfSandbox(sandboxId: string, cluster?: string): number[] {
  const marker = Buffer.from(`MESH_SANDBOX_ID=${sandboxId}\0`);
  const clusterMarker = cluster ? Buffer.from(`\0MESH_SANDBOX_CLUSTER=${cluster}\0`) : undefined;
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    if (pid === process.pid) continue;
    try {
      const env = readFileSync(`/proc/${name}/environ`);
      if (env.includes(marker) && (!clusterMarker || env.includes(clusterMarker))) out.push(pid);
    } catch { /* gone, or not ours to read */ }
  }
  return out;
}
