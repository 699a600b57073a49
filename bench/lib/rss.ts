/**
 * Resident memory of a process, from /proc/<pid>/status (VmRSS), for the idle-RSS
 * comparison of cluster members. Linux only, as the benchmark is.
 */
import { readFileSync } from "node:fs";

/** VmRSS of `pid` in MiB, or NaN when the process is gone or /proc has no such line. */
export function rssMb(pid: number): number {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, "utf8");
  } catch {
    return Number.NaN;
  }
  const m = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
  return m ? Number(m[1]) / 1024 : Number.NaN;
}
