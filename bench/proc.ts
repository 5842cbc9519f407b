// What the benches read of a process from /proc: the CPU it has used (the cost of the work, which a loaded
// machine distorts less than rates) and its resident memory.
import { readFileSync } from 'node:fs';

const CLK_TCK = 100; // USER_HZ on Linux (getconf CLK_TCK)

/** utime + stime (seconds) of the processes, all their threads included; a process that is gone counts 0. */
export function cpuSeconds(pids: number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    try {
      // Fields after the ")" of the command name: state is the 3rd field, utime the 14th, stime the 15th.
      const rest = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ').pop()!.split(' ');
      ticks += Number(rest[11]) + Number(rest[12]);
    } catch {
      // gone
    }
  }
  return ticks / CLK_TCK;
}

/** VmRSS in MB (NaN when /proc does not say). */
export function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}
