/**
 * Resident memory of a process, from /proc/<pid>/status, for the idle-RSS comparison of
 * cluster members. VmRSS is the headline; RssAnon (heap, stacks) and RssFile (mapped
 * files: the binary, and for gastrolog the lmdb map) say what it is made of. Linux only,
 * as the benchmark is.
 */
import { readFileSync } from "node:fs";

/** Resident set in MiB: total and its anonymous / file-backed parts (NaN when unknown). */
export interface Rss {
  total: number;
  anon: number;
  file: number;
}

/** Reads VmRSS, RssAnon and RssFile of `pid` (NaN fields when the process is gone). */
export function rss(pid: number): Rss {
  let status = "";
  try {
    status = readFileSync(`/proc/${pid}/status`, "utf8");
  } catch {
    // Gone: every field NaN.
  }
  const kb = (field: string) => {
    const m = new RegExp(`^${field}:\\s+(\\d+)\\s+kB$`, "m").exec(status);
    return m ? Number(m[1]) / 1024 : Number.NaN;
  };
  return { total: kb("VmRSS"), anon: kb("RssAnon"), file: kb("RssFile") };
}
