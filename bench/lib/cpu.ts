/**
 * CPU time of a process from /proc/<pid>/stat (utime + stime, all threads: the event
 * loop, libuv's pool, V8's GC and compiler threads), for the benchmark's "CPU per call".
 * The kernel counts in clock ticks (USER_HZ, normally 100 per second, so 10 ms steps);
 * a run of a few thousand calls spends seconds, so the step is under 1% of it. Linux only.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

let ticksPerSecond: number | undefined;
function hz(): number {
  if (ticksPerSecond === undefined) {
    let n = Number.NaN;
    try {
      n = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim());
    } catch {
      // No getconf: Linux's USER_HZ is 100 on every architecture Node.js runs on.
    }
    ticksPerSecond = Number.isInteger(n) && n > 0 ? n : 100;
  }
  return ticksPerSecond;
}

/** utime + stime of `pid` in seconds (NaN when the process is gone). */
export function cpuSeconds(pid: number): number {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return Number.NaN;
  }
  // Field 2 (comm) is in parentheses and may hold spaces: count from after the last ')'.
  // The rest starts at field 3 (state); utime and stime are fields 14 and 15.
  const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(rest[11]) + Number(rest[12])) / hz();
}

/** CPU seconds of several processes, taken together (a before/after pair gives the delta). */
export function cpuOf(pids: readonly number[]): number[] {
  return pids.map(cpuSeconds);
}
