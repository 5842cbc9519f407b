// Network namespaces left by a sandbox that was killed (`kill -9` of `up`, a crashed machine): `msb<id>-<k>`
// and `msb<id>-ul`. A sandbox's namespaces are stale when none of them holds a process, no process
// carries its MESH_SANDBOX_ID, and they are older than a start takes (a sandbox being set up right now
// has namespaces without processes for a moment; its `up` also records itself as their owner first).
// Another sandbox that is running keeps its own.
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deleteNetns, listNetns, netnsPids } from './netns.js';
import { pidAlive, processesOfSandbox } from './state.js';

/** `<id>` files holding the pid of the `up` that owns sandbox id's namespaces (written before it creates any). */
const OWNER_DIR = join(tmpdir(), 'mesh-sandbox-netns');

export function claimNetnsOwner(sandboxId: string): void {
  mkdirSync(OWNER_DIR, { recursive: true });
  writeFileSync(join(OWNER_DIR, sandboxId), String(process.pid));
}

export function releaseNetnsOwner(sandboxId: string): void {
  rmSync(join(OWNER_DIR, sandboxId), { force: true });
}

function ownerAlive(sandboxId: string): boolean {
  try {
    return pidAlive(Number(readFileSync(join(OWNER_DIR, sandboxId), 'utf8')));
  } catch {
    return false;
  }
}

const SANDBOX_NETNS = /^msb([0-9a-f]{6})-(\d+|ul)$/;
/** Younger namespaces may belong to a sandbox that is still starting. */
export const STALE_NETNS_MIN_AGE_MS = 60_000;

export interface NetnsInfo {
  name: string;
  pids: number[];
  ageMs: number;
}

/** Which of `all` are stale sandbox namespaces (pure). */
export function staleSandboxNetns(all: NetnsInfo[], sandboxAlive: (id: string) => boolean, minAgeMs: number): string[] {
  const byId = new Map<string, NetnsInfo[]>();
  for (const n of all) {
    const m = SANDBOX_NETNS.exec(n.name);
    if (m) byId.set(m[1] as string, [...(byId.get(m[1] as string) ?? []), n]);
  }
  const out: string[] = [];
  for (const [id, list] of byId) {
    if (list.some((n) => n.pids.length > 0 || n.ageMs < minAgeMs)) continue;
    if (sandboxAlive(id)) continue;
    out.push(...list.map((n) => n.name));
  }
  return out.sort();
}

/** Removes stale sandbox namespaces (root only; a no-op otherwise) and returns their names. */
export function removeStaleNetns(minAgeMs = STALE_NETNS_MIN_AGE_MS): string[] {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return [];
  const now = Date.now();
  const infos = listNetns().filter((n) => SANDBOX_NETNS.test(n)).map((name): NetnsInfo => {
    let ageMs = 0;
    try {
      ageMs = now - statSync(`/run/netns/${name}`).mtimeMs;
    } catch {
      ageMs = Number.POSITIVE_INFINITY;
    }
    return { name, pids: netnsPids(name), ageMs };
  });
  const stale = staleSandboxNetns(infos, (id) => ownerAlive(id) || processesOfSandbox(id).length > 0, minAgeMs);
  for (const n of stale) deleteNetns(n);
  for (const id of new Set(stale.map((n) => n.slice(3, 9)))) releaseNetnsOwner(id);
  return stale;
}
