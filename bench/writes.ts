/**
 * Write benchmark: a 3-node gastrolog cluster against a 3-node etcd cluster, both started
 * here, on this machine, in one run (issue 4, "Benchmark").
 *
 * Both clusters are durable with production timing (heartbeat 100 ms, election 1000 ms;
 * etcd with its default fsync). Clients are Node.js clients in this process, writing
 * 256-byte values to the leader: etcd through the etcd3 gRPC client, gastrolog through
 * ConfigService.Put on the leader's admin socket. Each concurrency level is a closed loop
 * (see lib/load.ts), split into rounds whose order alternates between the systems, so
 * drift on a shared machine hits both alike. Keys cycle through a fixed set of 1,000, so
 * that the stores' sizes stay bounded whatever the write count.
 *
 * The "connect no-op (ceiling)" row is the same run's physical limit of the RPC stack the
 * gastrolog writes go through: a process of its own (lib/noop-server.ts) serves the admin
 * services with the admin API's exact server setup (http.createServer + connectNodeAdapter
 * on a unix socket) but answers Put at once, with no Raft and no disk, and the very
 * gastrolog writer (same client code, agent and call options, same payloads) drives it at
 * the same levels, in the same alternating rounds. No gastrolog write over the admin API
 * can be faster than that, so ceiling/etcd is the best ratio the goals can reach with this
 * RPC stack on this machine. The run also reads every process's CPU time (/proc/<pid>/stat)
 * around each round and prints CPU microseconds per call: of the client (this process,
 * which issues every call) and of the server(s), so that the no-op row says what one
 * Connect call costs on each side, and the CPU budget line compares the cost of that call
 * with what the machine's cores allow per write at etcd's c=256 rate. --extra-ceilings
 * adds three more no-op rows that keep connect-node on both ends but change a setting
 * (one HTTP/2 connection with the Connect protocol, the same with the gRPC protocol, and
 * HTTP/1.1 "tuned": no deadline, no compression negotiation, stack traces off; see
 * lib/ceiling.ts), to see whether another Connect setting would be cheaper.
 *
 * Run: npm run bench:writes [-- --levels 1,16,256 --writes 2000,10000,20000 --rounds 2
 *      --max-seconds 30 --only etcd,gastrolog,ceiling --extra-ceilings --cpu-prof-dir DIR]
 * (--help prints the flags.) --cpu-prof-dir starts n1 (the bootstrap node, normally the
 * leader) with --cpu-prof.
 * Output: a table, the ratios gastrolog/etcd, a table per system with CPU per call, the
 * ceiling's ratios to etcd, and as the last line one JSON object (its "ceiling",
 * "cpuUsPerCall" and "loadAvg" keys hold the ceiling, the CPU figures and the load).
 */
import { mkdtemp } from "node:fs/promises";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import {
  createH2NoopWriter,
  createTunedNoopWriter,
  type NoopServer,
  startNoopServer,
} from "./lib/ceiling.js";
import { createCleanup } from "./lib/cleanup.js";
import { cpuSeconds } from "./lib/cpu.js";
import { checkEtcdInstalled, type EtcdCluster, startEtcdCluster } from "./lib/etcd-cluster.js";
import { type GastrologCluster, startGastrologCluster } from "./lib/gastrolog-cluster.js";
import { type LoadResult, type LoadSample, runClosedLoop, summarise } from "./lib/load.js";
import { type Rss, rss } from "./lib/rss.js";
import { createEtcdWriter, createGastrologWriter, type Writer } from "./lib/writers.js";

const VALUE_BYTES = 256;
const KEYS = 1000;
const WARMUP_WRITES = 1000;

const USAGE = `Usage: npm run bench:writes [-- OPTIONS]

A 3-node gastrolog cluster against a 3-node etcd cluster (256-byte values, closed loops),
with the same run's "connect no-op (ceiling)": the admin API's Connect server setup with a
Put that does nothing, driven by the same client, so no gastrolog write can beat it.

Options:
  --levels LIST        concurrency levels (default 1,16,256)
  --writes LIST        writes per level and system, one count per level
                       (default 2000,10000,20000)
  --rounds N           rounds per level, alternating the order of the systems (default 2)
  --max-seconds N      time bound of one round (default 30)
  --only LIST          systems to run, of: etcd,gastrolog,ceiling and, with
                       --extra-ceilings, ceiling-h2-connect,ceiling-h2-grpc,
                       ceiling-h1-tuned
                       (default: all of them)
  --extra-ceilings     also measure no-op rows with other connect-node settings (client
                       and server both): one HTTP/2 connection with the Connect and
                       with the gRPC protocol; and HTTP/1.1 "tuned": no deadline, no
                       compression negotiation, stack traces off (see lib/ceiling.ts)
  --cpu-prof-dir DIR   start n1 (normally the leader) with --cpu-prof into DIR
  -h, --help           this text

Prints a table etcd vs gastrolog, a table per system with the no-op ceiling and the CPU
microseconds per call of the client (this process) and of the servers (from
/proc/<pid>/stat), the ceiling's ratios to etcd, and as the last line one JSON object.
`;

const { values: args } = parseArgs({
  options: {
    levels: { type: "string", default: "1,16,256" },
    writes: { type: "string", default: "2000,10000,20000" },
    rounds: { type: "string", default: "2" },
    "max-seconds": { type: "string", default: "30" },
    only: { type: "string" },
    "extra-ceilings": { type: "boolean", default: false },
    "cpu-prof-dir": { type: "string" },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (args.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}

const ints = (s: string, what: string) =>
  s.split(",").map((x) => {
    const n = Number(x);
    if (!Number.isInteger(n) || n < 1) throw new Error(`--${what}: ${x} is not a positive integer`);
    return n;
  });
const LEVELS = ints(args.levels, "levels");
const WRITES = ints(args.writes, "writes");
const ROUNDS = ints(args.rounds, "rounds")[0]!;
const MAX_MS = ints(args["max-seconds"], "max-seconds")[0]! * 1000;
if (WRITES.length !== LEVELS.length) throw new Error("--writes needs one count per level");

const ALL_SYSTEMS = [
  "etcd",
  "gastrolog",
  "ceiling",
  "ceiling-h2-connect",
  "ceiling-h2-grpc",
  "ceiling-h1-tuned",
] as const;
type System = (typeof ALL_SYSTEMS)[number];
const EXTRA_CEILINGS: readonly System[] = [
  "ceiling-h2-connect",
  "ceiling-h2-grpc",
  "ceiling-h1-tuned",
];
const isSystem = (x: string): x is System => (ALL_SYSTEMS as readonly string[]).includes(x);
const only = args.only?.split(",").map((x) => {
  if (!isSystem(x)) throw new Error(`--only: ${x} is not one of ${ALL_SYSTEMS.join(", ")}`);
  return x;
});
const SYSTEMS = ALL_SYSTEMS.filter(
  (s) =>
    (args["extra-ceilings"] || !EXTRA_CEILINGS.includes(s)) &&
    (only === undefined || only.includes(s)),
);
if (only?.some((s) => !SYSTEMS.includes(s))) {
  throw new Error(`--only: ${EXTRA_CEILINGS.join(", ")} need --extra-ceilings`);
}
/** How the table and the report name each system. */
const LABEL: Record<System, string> = {
  etcd: "etcd",
  gastrolog: "gastrolog",
  ceiling: "connect no-op (ceiling)",
  "ceiling-h2-connect": "no-op, connect h2",
  "ceiling-h2-grpc": "no-op, grpc h2",
  "ceiling-h1-tuned": "no-op, h1 tuned",
};

/** A deterministic 256-byte value (the content does not matter, its size does). */
const VALUE = Uint8Array.from({ length: VALUE_BYTES }, (_, i) => (i * 31 + 7) & 0xff);
const keyOf = (i: number) => `bench/k${String(i % KEYS).padStart(4, "0")}`;

/** CPU seconds (client, answering server, followers) over a level's rounds of one system. */
interface CpuSpent {
  client: number;
  server: number;
  followers: number;
  calls: number;
}

const log = (s: string) => process.stdout.write(`${s}\n`);
const fmt = (n: number, d = 1) => (Number.isFinite(n) ? n.toFixed(d) : "n/a");
const round3 = (n: number) => (Number.isFinite(n) ? Math.round(n * 1000) / 1000 : null);

async function main(): Promise<void> {
  const etcdVersion = SYSTEMS.includes("etcd") ? checkEtcdInstalled() : "-";
  const cleanup = createCleanup();
  const dir = await mkdtemp(join(tmpdir(), "gastrolog-bench-"));
  cleanup.ownDir(dir);
  let etcd: EtcdCluster | undefined;
  let gl: GastrologCluster | undefined;
  const noops: NoopServer[] = [];
  const writers: Writer[] = [];
  try {
    const profDir = args["cpu-prof-dir"] ? resolve(args["cpu-prof-dir"]) : undefined;
    const maxC = Math.max(...LEVELS);
    const t0 = performance.now();
    // The machine is shared: say how busy it was, at the start and at the end.
    const loadStart = loadavg();
    if (SYSTEMS.includes("gastrolog")) {
      gl = await startGastrologCluster({
        dir: join(dir, "gastrolog"),
        cleanup,
        ...(profDir ? { nodeFlags: { n1: ["--cpu-prof", "--cpu-prof-dir", profDir] } } : {}),
      });
    }
    if (SYSTEMS.includes("etcd"))
      etcd = await startEtcdCluster({ dir: join(dir, "etcd"), cleanup });
    log(`clusters up in ${fmt((performance.now() - t0) / 1000)} s (etcd ${etcdVersion})`);
    let noopH1: NoopServer | undefined;
    let noopH2: NoopServer | undefined;
    if (SYSTEMS.includes("ceiling")) {
      noopH1 = await startNoopServer({ home: join(dir, "noop-h1"), http: "1.1", cleanup });
      noops.push(noopH1);
    }
    let noopTuned: NoopServer | undefined;
    if (SYSTEMS.includes("ceiling-h2-connect") || SYSTEMS.includes("ceiling-h2-grpc")) {
      noopH2 = await startNoopServer({ home: join(dir, "noop-h2"), http: "2", cleanup });
      noops.push(noopH2);
    }
    if (SYSTEMS.includes("ceiling-h1-tuned")) {
      noopTuned = await startNoopServer({
        home: join(dir, "noop-tuned"),
        http: "1.1",
        tuned: true,
        cleanup,
      });
      noops.push(noopTuned);
    }
    for (const n of noops) {
      log(
        `no-op server (http ${n.http}${n.tuned ? ", tuned" : ""}): pid ${n.pid}, ${n.socketPath}`,
      );
    }

    const rssAll = () => ({
      gastrolog: gl?.nodes.map((n) => rss(n.pid)) ?? [],
      etcd: etcd?.members.map((m) => rss(m.pid)) ?? [],
    });
    const rssBefore = rssAll();

    const writerOf: Partial<Record<System, Writer>> = {};
    /** Whose CPU each system's calls cost: the server that answers, and the followers. */
    const pidsOf: Partial<Record<System, { server: number[]; followers: number[] }>> = {};
    if (gl) {
      const leader = await gl.leader();
      if (profDir && leader.name !== "n1") {
        log(`warning: the gastrolog leader is ${leader.name}, not the profiled n1`);
      }
      writerOf.gastrolog = createGastrologWriter(leader.home, maxC);
      writers.push(writerOf.gastrolog);
      pidsOf.gastrolog = {
        server: [leader.pid],
        followers: gl.nodes.filter((n) => n.pid !== leader.pid).map((n) => n.pid),
      };
      log(`gastrolog leader: ${leader.name} (pid ${leader.pid})`);
    }
    if (etcd) {
      const leader = await etcd.leader();
      writerOf.etcd = createEtcdWriter(leader.clientUrl);
      writers.push(writerOf.etcd);
      pidsOf.etcd = {
        server: [leader.pid],
        followers: etcd.members.filter((m) => m.pid !== leader.pid).map((m) => m.pid),
      };
      log(`etcd leader: ${leader.name} (pid ${leader.pid}, ${leader.clientUrl})`);
    }
    if (noopH1) {
      // The very writer the gastrolog writes use, on the no-op server's socket.
      writerOf.ceiling = createGastrologWriter(noopH1.home, maxC);
      writers.push(writerOf.ceiling);
      pidsOf.ceiling = { server: [noopH1.pid], followers: [] };
    }
    if (noopH2) {
      for (const [s, protocol] of [
        ["ceiling-h2-connect", "connect"],
        ["ceiling-h2-grpc", "grpc"],
      ] as const) {
        if (!SYSTEMS.includes(s)) continue;
        writerOf[s] = createH2NoopWriter(noopH2, protocol);
        writers.push(writerOf[s]);
        pidsOf[s] = { server: [noopH2.pid], followers: [] };
      }
    }
    if (noopTuned) {
      writerOf["ceiling-h1-tuned"] = createTunedNoopWriter(noopTuned, maxC);
      writers.push(writerOf["ceiling-h1-tuned"]);
      pidsOf["ceiling-h1-tuned"] = { server: [noopTuned.pid], followers: [] };
    }

    let seq = 0;
    const load = async (w: Writer, total: number, concurrency: number) => {
      const limit = Error.stackTraceLimit;
      if (w.clientStackTraceLimit !== undefined) Error.stackTraceLimit = w.clientStackTraceLimit;
      try {
        return await runClosedLoop({
          total,
          concurrency,
          maxMs: MAX_MS,
          write: () => w.put(keyOf(seq++), VALUE),
        });
      } finally {
        Error.stackTraceLimit = limit;
      }
    };

    // Warm-up: JIT, lmdb/bbolt page growth, and the full connection pool (at the top level).
    for (const s of SYSTEMS) {
      const w = writerOf[s]!;
      const r = await load(w, WARMUP_WRITES, maxC);
      if (r.errors > 0) throw new Error(`${s} warm-up: ${r.errors} writes failed: ${r.firstError}`);
    }
    log(`warmed up (${WARMUP_WRITES} writes each at concurrency ${maxC})`);

    const samples: Record<string, Record<number, LoadSample[]>> = Object.fromEntries(
      ALL_SYSTEMS.map((s) => [s, {}]),
    );
    /** CPU seconds spent during a system's rounds of a level, and the calls they made. */
    const cpu: Record<string, Record<number, CpuSpent>> = Object.fromEntries(
      ALL_SYSTEMS.map((s) => [s, {}]),
    );
    const sum = (xs: number[]) => xs.reduce((a, x) => a + cpuSeconds(x), 0);
    const conns: Record<number, { before: number; after: number }> = {};
    for (const [li, c] of LEVELS.entries()) {
      const perRound = Math.ceil(WRITES[li]! / ROUNDS);
      conns[c] = { before: writerOf.gastrolog?.connectionsOpened() ?? 0, after: 0 };
      for (let r = 0; r < ROUNDS; r++) {
        // Rotate the order each round (with two systems: alternate).
        const k = (li + r) % SYSTEMS.length;
        const order = [...SYSTEMS.slice(k), ...SYSTEMS.slice(0, k)];
        for (const s of order) {
          const pids = pidsOf[s]!;
          const before = [cpuSeconds(process.pid), sum(pids.server), sum(pids.followers)];
          const sample = await load(writerOf[s]!, perRound, c);
          const after = [cpuSeconds(process.pid), sum(pids.server), sum(pids.followers)];
          samples[s]![c] = [...(samples[s]![c] ?? []), sample];
          const spent = cpu[s]![c] ?? { client: 0, server: 0, followers: 0, calls: 0 };
          spent.client += after[0]! - before[0]!;
          spent.server += after[1]! - before[1]!;
          spent.followers += after[2]! - before[2]!;
          spent.calls += sample.latencies.length + sample.errors;
          cpu[s]![c] = spent;
          log(
            `  c=${String(c).padStart(3)} round ${r + 1}/${ROUNDS} ${s.padEnd(18)} ${fmt(sample.latencies.length / sample.seconds, 0).padStart(6)} w/s` +
              (sample.errors ? ` (${sample.errors} errors: ${sample.firstError})` : "") +
              (sample.timeBound ? " (time bound hit)" : ""),
          );
        }
      }
      conns[c]!.after = writerOf.gastrolog?.connectionsOpened() ?? 0;
    }

    // Idle again: the writes are acknowledged; give followers a moment to apply the tail.
    // The CPU the processes spend meanwhile (heartbeats, timers, GC, the tail) is what a
    // slow level's CPU per call carries besides the calls: at c=1, ~100 w/s, 10% of a core
    // is 1 ms per call.
    const idlePids = SYSTEMS.flatMap((s) => [...pidsOf[s]!.server, ...pidsOf[s]!.followers]);
    const idleFrom = { at: performance.now(), cpu: idlePids.map(cpuSeconds) };
    await new Promise((r) => setTimeout(r, 2000));
    const idleS = (performance.now() - idleFrom.at) / 1000;
    const idleCpu = new Map(
      idlePids.map((pid, i) => [pid, (100 * (cpuSeconds(pid) - idleFrom.cpu[i]!)) / idleS]),
    );
    const rssAfter = rssAll();
    const loadEnd = loadavg();
    const totals = (r: { gastrolog: Rss[]; etcd: Rss[] }) => ({
      gastrolog: r.gastrolog.map((x) => x.total),
      etcd: r.etcd.map((x) => x.total),
    });
    const idleBefore = totals(rssBefore);
    const idleAfter = totals(rssAfter);
    const parts = (xs: Rss[]) =>
      xs.map((x) => `${fmt(x.total)} (anon ${fmt(x.anon)} + file ${fmt(x.file)})`).join(" / ");

    const results: Record<string, Record<string, LoadResult>> = Object.fromEntries(
      ALL_SYSTEMS.map((s) => [s, {}]),
    );
    for (const s of SYSTEMS) {
      for (const c of LEVELS) results[s]![`c${c}`] = summarise(samples[s]![c]!);
    }
    /** A system's figure over etcd's at level c (NaN when either did not run). */
    const ratioOf = (s: System, f: (r: LoadResult) => number, c: number) => {
      const x = results[s]![`c${c}`];
      const e = results.etcd![`c${c}`];
      return x && e ? f(x) / f(e) : Number.NaN;
    };
    const ratio = (f: (r: LoadResult) => number, c: number) => ratioOf("gastrolog", f, c);
    /** CPU microseconds per call of the client, the answering server and the followers. */
    const cpuUs = (s: System, c: number) => {
      const x = cpu[s]![c];
      const per = (v: number | undefined) =>
        x && x.calls > 0 && v !== undefined ? (v / x.calls) * 1e6 : Number.NaN;
      return { client: per(x?.client), server: per(x?.server), followers: per(x?.followers) };
    };

    log("");
    log(
      "level   etcd w/s   gastrolog w/s  ratio | etcd p50  glog p50  ratio | etcd p99  glog p99  ratio | glog conns",
    );
    for (const c of LEVELS) {
      const e = results.etcd![`c${c}`];
      const g = results.gastrolog![`c${c}`];
      log(
        [
          `c=${c}`.padEnd(6),
          fmt(e?.throughput ?? Number.NaN, 0).padStart(9),
          fmt(g?.throughput ?? Number.NaN, 0).padStart(15),
          fmt(
            ratio((r) => r.throughput, c),
            2,
          ).padStart(6),
          "|",
          fmt(e?.p50Ms ?? Number.NaN, 2).padStart(8),
          fmt(g?.p50Ms ?? Number.NaN, 2).padStart(9),
          fmt(
            ratio((r) => r.p50Ms, c),
            2,
          ).padStart(6),
          "|",
          fmt(e?.p99Ms ?? Number.NaN, 2).padStart(8),
          fmt(g?.p99Ms ?? Number.NaN, 2).padStart(9),
          fmt(
            ratio((r) => r.p99Ms, c),
            2,
          ).padStart(6),
          "|",
          `${conns[c]!.after - conns[c]!.before} new (${conns[c]!.after} total)`,
        ].join(" "),
      );
    }
    const maxOf = (xs: number[]) => (xs.length ? Math.max(...xs) : Number.NaN);
    log("");
    log(
      `idle RSS MB before writes: gastrolog ${parts(rssBefore.gastrolog)}; etcd ${parts(rssBefore.etcd)}`,
    );
    log(
      `idle RSS MB after writes:  gastrolog ${parts(rssAfter.gastrolog)}; etcd ${parts(rssAfter.etcd)}`,
    );

    const ratios: Record<string, number | null> = {};
    for (const c of LEVELS) {
      ratios[`throughputC${c}`] = round3(ratio((r) => r.throughput, c));
      ratios[`p50C${c}`] = round3(ratio((r) => r.p50Ms, c));
      ratios[`p99C${c}`] = round3(ratio((r) => r.p99Ms, c));
    }
    const rssAfterMax = maxOf(idleAfter.gastrolog);
    const goals = {
      throughputC256: { target: ">= 1.0", value: ratios.throughputC256 ?? null },
      p50C1: { target: "<= 1.2", value: ratios.p50C1 ?? null },
      idleRssMbPerNode: { target: "<= 80", value: round3(rssAfterMax) },
    };
    const met = {
      throughputC256: goals.throughputC256.value !== null && goals.throughputC256.value >= 1.0,
      p50C1: goals.p50C1.value !== null && goals.p50C1.value <= 1.2,
      idleRssMbPerNode: Number.isFinite(rssAfterMax) && rssAfterMax <= 80,
    };
    log(
      `goals: throughput c256 ${goals.throughputC256.value} (>= 1.0: ${met.throughputC256}); p50 c1 ${goals.p50C1.value} (<= 1.2: ${met.p50C1}); max idle RSS/node ${fmt(rssAfterMax)} MB (<= 80: ${met.idleRssMbPerNode})`,
    );

    const clean = (r: Record<string, LoadResult>) =>
      Object.fromEntries(
        Object.entries(r).map(([k, v]) => [
          k,
          {
            ops: v.ops,
            errors: v.errors,
            seconds: round3(v.seconds),
            throughput: round3(v.throughput),
            p50Ms: round3(v.p50Ms),
            p99Ms: round3(v.p99Ms),
            timeBound: v.timeBound,
          },
        ]),
      );
    // Per system, with the no-op ceiling(s) and CPU per call. "server" is the process that
    // answers the calls (the leader; the no-op server); "followers" the other two members
    // together.
    log("");
    log(
      "level  system                        w/s  /etcd |  p50 ms  /etcd |  p99 ms | CPU us/call: client  server  followers (both)",
    );
    for (const c of LEVELS) {
      for (const s of SYSTEMS) {
        const x = results[s]![`c${c}`]!;
        const u = cpuUs(s, c);
        const rel = (f: (r: LoadResult) => number) =>
          s === "etcd" ? "" : fmt(ratioOf(s, f, c), 2);
        log(
          [
            (s === SYSTEMS[0] ? `c=${c}` : "").padEnd(6),
            LABEL[s].padEnd(24),
            fmt(x.throughput, 0).padStart(8),
            rel((r) => r.throughput).padStart(6),
            "|",
            fmt(x.p50Ms, 2).padStart(7),
            rel((r) => r.p50Ms).padStart(6),
            "|",
            fmt(x.p99Ms, 2).padStart(7),
            "|",
            fmt(u.client, 0).padStart(19),
            fmt(u.server, 0).padStart(7),
            (pidsOf[s]!.followers.length ? fmt(u.followers, 0) : "-").padStart(10),
          ].join(" "),
        );
      }
    }
    const ceilingRatios = (s: System) => {
      const out: Record<string, number | null> = {};
      for (const c of LEVELS) {
        out[`throughputC${c}`] = round3(ratioOf(s, (r) => r.throughput, c));
        out[`p50C${c}`] = round3(ratioOf(s, (r) => r.p50Ms, c));
        out[`p99C${c}`] = round3(ratioOf(s, (r) => r.p99Ms, c));
      }
      return out;
    };
    const ceilingOf = (s: System) => {
      if (!SYSTEMS.includes(s)) return null;
      const rel = ceilingRatios(s);
      return {
        ...clean(results[s]!),
        cpuUsPerCall: Object.fromEntries(
          LEVELS.map((c) => {
            const u = cpuUs(s, c);
            return [`c${c}`, { client: round3(u.client), server: round3(u.server) }];
          }),
        ),
        ratioToEtcd: rel,
        maxAchievable: {
          throughputC256: rel.throughputC256 ?? null,
          p50C1: rel.p50C1 ?? null,
        },
      };
    };
    log("");
    log(
      `load average (1/5/15 min) at start ${loadStart.map((x) => fmt(x, 2)).join(" ")}, at end ${loadEnd.map((x) => fmt(x, 2)).join(" ")}`,
    );
    const idleCpuOf = (s: System) => ({
      server: pidsOf[s]!.server.map((p) => round3(idleCpu.get(p) ?? Number.NaN)),
      followers: pidsOf[s]!.followers.map((p) => round3(idleCpu.get(p) ?? Number.NaN)),
    });
    const pct = (xs: (number | null)[]) => xs.map((v) => fmt(v ?? Number.NaN, 0)).join(" ");
    const idleParts = SYSTEMS.filter((s) => !EXTRA_CEILINGS.includes(s)).map((s) => {
      const x = idleCpuOf(s);
      return `${LABEL[s]} ${pct(x.server)}${x.followers.length ? ` / ${pct(x.followers)}` : ""}`;
    });
    log(
      `CPU % of a core in the 2 s pause after the writes (server / followers): ${idleParts.join("; ")}`,
    );
    const ceiling = ceilingOf("ceiling");
    // The machine's CPU budget per write at etcd's c=256 rate: all cores' seconds over the
    // writes etcd did per second. The client and every server share these cores, so a
    // write that spends more CPU in total cannot keep up with etcd, whatever the rest.
    const cores = availableParallelism();
    const etcd256 = results.etcd!.c256;
    const ceiling256 = cpuUs("ceiling", 256);
    const budget =
      ceiling && etcd256
        ? {
            cores,
            budgetUs: round3((cores * 1e6) / etcd256.throughput),
            noopCallUs: round3(ceiling256.client + ceiling256.server),
          }
        : null;
    if (ceiling) {
      const t = ceiling.maxAchievable.throughputC256;
      const p = ceiling.maxAchievable.p50C1;
      log("");
      log(
        `ceiling/etcd: throughput c256 ${t ?? "n/a"}, p50 c1 ${p ?? "n/a"} (gastrolog/etcd: ${ratios.throughputC256 ?? "n/a"}, ${ratios.p50C1 ?? "n/a"})`,
      );
      const perCall = LEVELS.map((c) => {
        const u = cpuUs("ceiling", c);
        return `c=${c}: client ${fmt(u.client, 0)} us + server ${fmt(u.server, 0)} us`;
      }).join("; ");
      log(`CPU per no-op Connect call: ${perCall}`);
      log(
        `max achievable throughputC256 ratio with this RPC stack: ${t ?? "n/a"} (goal >= 1.0: ${t === null ? "n/a" : t >= 1.0 ? "reachable" : "unreachable"}); best achievable p50C1 ratio: ${p ?? "n/a"} (goal <= 1.2: ${p === null ? "n/a" : p <= 1.2 ? "reachable" : "unreachable"})`,
      );
      if (budget) {
        log(
          `CPU budget per write at etcd's c256 rate on ${cores} cores: ${fmt(budget.budgetUs ?? Number.NaN, 0)} us (client and all servers together); a no-op Connect call alone at c256 spends ${fmt(budget.noopCallUs ?? Number.NaN, 0)} us of it`,
        );
      }
    }
    for (const s of EXTRA_CEILINGS) {
      const x = ceilingOf(s);
      if (!x) continue;
      log(
        `${LABEL[s]}/etcd: throughput c256 ${x.maxAchievable.throughputC256 ?? "n/a"}, p50 c1 ${x.maxAchievable.p50C1 ?? "n/a"}`,
      );
    }
    const json = {
      bench: "writes",
      valueBytes: VALUE_BYTES,
      rounds: ROUNDS,
      ratio: ratios,
      goals: Object.fromEntries(
        Object.entries(goals).map(([k, g]) => [k, { ...g, met: met[k as keyof typeof met] }]),
      ),
      gastrolog: clean(results.gastrolog!),
      etcd: { version: etcdVersion, ...clean(results.etcd!) },
      gastrologConnections: Object.fromEntries(
        LEVELS.map((c) => [`c${c}`, conns[c]!.after - conns[c]!.before]),
      ),
      idleRssMb: {
        gastrolog: round3(rssAfterMax),
        etcd: round3(maxOf(idleAfter.etcd)),
        gastrologPerNode: idleAfter.gastrolog.map(round3),
        etcdPerMember: idleAfter.etcd.map(round3),
        gastrologBeforeWrites: idleBefore.gastrolog.map(round3),
        etcdBeforeWrites: idleBefore.etcd.map(round3),
        gastrologAnonPerNode: rssAfter.gastrolog.map((x) => round3(x.anon)),
        etcdAnonPerMember: rssAfter.etcd.map((x) => round3(x.anon)),
      },
      ceiling: ceiling && {
        server:
          "bench/lib/noop-server.ts: http.createServer + connectNodeAdapter on a unix socket, Put returns at once",
        client: "createGastrologWriter: connect-node, Connect protocol (binary), HTTP/1.1",
        ...ceiling,
        cpuBudgetAtEtcdC256: budget,
        extra: Object.fromEntries(
          EXTRA_CEILINGS.filter((s) => SYSTEMS.includes(s)).map((s) => [s, ceilingOf(s)]),
        ),
      },
      loadAvg: { start: loadStart.map(round3), end: loadEnd.map(round3) },
      idleCpuPercentAfterWrites: Object.fromEntries(SYSTEMS.map((s) => [s, idleCpuOf(s)])),
      cpuUsPerCall: Object.fromEntries(
        SYSTEMS.map((s) => [
          s,
          Object.fromEntries(
            LEVELS.map((c) => {
              const u = cpuUs(s, c);
              return [
                `c${c}`,
                {
                  client: round3(u.client),
                  server: round3(u.server),
                  followers: pidsOf[s]!.followers.length ? round3(u.followers) : null,
                },
              ];
            }),
          ),
        ]),
      ),
    };
    log(JSON.stringify(json));
  } finally {
    for (const w of writers) w.close();
    // Clean stops first (so --cpu-prof profiles get written), then the registry's SIGKILL
    // of anything left and the removal of the temp directory.
    await Promise.allSettled([gl?.stop(), etcd?.stop(), ...noops.map((n) => n.stop())]);
    await cleanup.run();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:writes failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
