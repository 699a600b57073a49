/**
 * Summarises a V8 .cpuprofile (from `node --cpu-prof`): self time per function and per
 * module (script URL, folded to the package or src/ file), top N. Used to say where a
 * gastrolog node spends its time under benchmark load; the profile itself is not kept.
 *
 * Run: npx tsx bench/lib/cpuprofile-summary.ts FILE.cpuprofile [TOP] [FROM_S TO_S]
 * (FROM_S..TO_S: only samples in that window, seconds from the profile's start; the
 * printed busy timeline shows where the load was).
 */
import { readFileSync } from "node:fs";

interface CpuNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface CpuProfile {
  nodes: CpuNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

/** Folds a script URL to a module label: the npm package, a node: builtin, or the file. */
export function moduleOf(url: string): string {
  if (url === "") return "(native/vm)";
  const nm = url.lastIndexOf("node_modules/");
  if (nm >= 0) {
    const rest = url.slice(nm + "node_modules/".length).split("/");
    return rest[0]!.startsWith("@") ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  if (url.startsWith("node:")) return url;
  const d = url.indexOf("/dist/");
  return d >= 0 ? url.slice(d + 1) : url;
}

/** Self time (ms) per function and per module, descending. */
export function summarise(
  p: CpuProfile,
  window?: { fromS: number; toS: number },
): {
  totalMs: number;
  byFunction: [string, number][];
  byModule: [string, number][];
} {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  let t = 0;
  let inWindowMs = 0;
  for (let i = 0; i < p.samples.length; i++) {
    const id = p.samples[i]!;
    const dt = (p.timeDeltas[i] ?? 0) / 1000;
    t += dt;
    if (window && (t < window.fromS * 1000 || t > window.toS * 1000)) continue;
    inWindowMs += dt;
    self.set(id, (self.get(id) ?? 0) + dt);
  }
  const fn = new Map<string, number>();
  const mod = new Map<string, number>();
  for (const [id, ms] of self) {
    const n = byId.get(id)!;
    const { functionName, url, lineNumber } = n.callFrame;
    const m = moduleOf(url);
    const key = `${functionName || "(anonymous)"} ${m}${url ? `:${lineNumber + 1}` : ""}`;
    fn.set(key, (fn.get(key) ?? 0) + ms);
    mod.set(m, (mod.get(m) ?? 0) + ms);
  }
  const desc = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]);
  return { totalMs: inWindowMs, byFunction: desc(fn), byModule: desc(mod) };
}

/** Busy share (not "(idle)") per `stepS` seconds: shows where the load window is. */
export function timeline(p: CpuProfile, stepS: number): number[] {
  const idle = new Set(
    p.nodes.filter((n) => n.callFrame.functionName === "(idle)").map((n) => n.id),
  );
  const busy: number[] = [];
  const all: number[] = [];
  let t = 0;
  for (let i = 0; i < p.samples.length; i++) {
    const dt = (p.timeDeltas[i] ?? 0) / 1000;
    t += dt;
    const b = Math.floor(t / (stepS * 1000));
    all[b] = (all[b] ?? 0) + dt;
    if (!idle.has(p.samples[i]!)) busy[b] = (busy[b] ?? 0) + dt;
  }
  return Array.from(all, (a, i) => (a ? (busy[i] ?? 0) / a : 0));
}

if (process.argv[1]?.endsWith("cpuprofile-summary.ts")) {
  const file = process.argv[2];
  if (!file) throw new Error("usage: cpuprofile-summary.ts FILE.cpuprofile [TOP]");
  const top = Number(process.argv[3] ?? 25);
  const profile = JSON.parse(readFileSync(file, "utf8")) as CpuProfile;
  const [from, to] = [process.argv[4], process.argv[5]];
  const s = summarise(
    profile,
    from !== undefined && to !== undefined ? { fromS: Number(from), toS: Number(to) } : undefined,
  );
  const tl = timeline(profile, 2).map((b) => String(Math.round(b * 100)).padStart(3));
  process.stdout.write(`busy % per 2 s: ${tl.join(" ")}\n`);
  const pct = (ms: number) => `${((100 * ms) / s.totalMs).toFixed(1)}%`.padStart(6);
  process.stdout.write(
    `profile: ${(s.totalMs / 1000).toFixed(1)} s of samples\n\nself time by module:\n`,
  );
  for (const [k, ms] of s.byModule.slice(0, top)) {
    process.stdout.write(`${pct(ms)} ${ms.toFixed(0).padStart(7)} ms  ${k}\n`);
  }
  process.stdout.write("\nself time by function:\n");
  for (const [k, ms] of s.byFunction.slice(0, top)) {
    process.stdout.write(`${pct(ms)} ${ms.toFixed(0).padStart(7)} ms  ${k}\n`);
  }
}
