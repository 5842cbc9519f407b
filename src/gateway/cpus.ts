// How many CPUs this process may use: the scheduler's affinity (os.availableParallelism) capped by the
// cgroup's CPU quota, so a pod with a 2-CPU limit on a 64-core node runs 2 workers, not 64. cgroup v2
// (`cpu.max`: "<quota> <period>" or "max <period>") first, then v1 (`cpu.cfs_quota_us` / `cpu.cfs_period_us`).
import { readFileSync } from 'node:fs';
import os from 'node:os';

/** CPUs a quota allows (rounded up: 1.5 CPUs keep two workers busy half the time), or undefined if none. */
export function quotaCpus(quotaUs: number, periodUs: number): number | undefined {
  if (!(quotaUs > 0) || !(periodUs > 0)) return undefined;
  return Math.max(1, Math.ceil(quotaUs / periodUs));
}

/** Parses cgroup v2's cpu.max ("200000 100000" or "max 100000"). */
export function parseCpuMax(text: string): number | undefined {
  const [quota, period] = text.trim().split(/\s+/);
  if (!quota || quota === 'max' || !period) return undefined;
  return quotaCpus(Number(quota), Number(period));
}

function readOr(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** The cgroup's CPU limit, if one is set (v2, then v1). */
export function cgroupCpus(root = '/sys/fs/cgroup'): number | undefined {
  const v2 = readOr(`${root}/cpu.max`);
  if (v2 !== undefined) return parseCpuMax(v2);
  for (const dir of [`${root}/cpu`, `${root}/cpu,cpuacct`]) {
    const quota = readOr(`${dir}/cpu.cfs_quota_us`);
    const period = readOr(`${dir}/cpu.cfs_period_us`);
    if (quota !== undefined && period !== undefined) return quotaCpus(Number(quota), Number(period));
  }
  return undefined;
}

/** Default worker count: the CPUs this process may run on, within its cgroup's quota. */
export function availableCpus(root?: string): number {
  const affinity = os.availableParallelism();
  const quota = cgroupCpus(root);
  return Math.max(1, quota === undefined ? affinity : Math.min(affinity, quota));
}
