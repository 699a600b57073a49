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
 * Run: npm run bench:writes [-- --levels 1,16,256 --writes 2000,10000,20000 --rounds 2
 *      --max-seconds 30 --only gastrolog --cpu-prof-dir DIR]
 * --cpu-prof-dir starts n1 (the bootstrap node, normally the leader) with --cpu-prof.
 * Output: a table, the ratios gastrolog/etcd, and as the last line one JSON object.
 */
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { createCleanup } from "./lib/cleanup.js";
import { checkEtcdInstalled, type EtcdCluster, startEtcdCluster } from "./lib/etcd-cluster.js";
import { type GastrologCluster, startGastrologCluster } from "./lib/gastrolog-cluster.js";
import { type LoadResult, type LoadSample, runClosedLoop, summarise } from "./lib/load.js";
import { type Rss, rss } from "./lib/rss.js";
import { createEtcdWriter, createGastrologWriter, type Writer } from "./lib/writers.js";

const VALUE_BYTES = 256;
const KEYS = 1000;
const WARMUP_WRITES = 1000;

const { values: args } = parseArgs({
  options: {
    levels: { type: "string", default: "1,16,256" },
    writes: { type: "string", default: "2000,10000,20000" },
    rounds: { type: "string", default: "2" },
    "max-seconds": { type: "string", default: "30" },
    only: { type: "string" },
    "cpu-prof-dir": { type: "string" },
  },
});

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
const only = args.only;
if (only !== undefined && only !== "etcd" && only !== "gastrolog") {
  throw new Error("--only must be etcd or gastrolog");
}
const SYSTEMS = (["etcd", "gastrolog"] as const).filter((s) => only === undefined || s === only);

/** A deterministic 256-byte value (the content does not matter, its size does). */
const VALUE = Uint8Array.from({ length: VALUE_BYTES }, (_, i) => (i * 31 + 7) & 0xff);
const keyOf = (i: number) => `bench/k${String(i % KEYS).padStart(4, "0")}`;

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
  const writers: Writer[] = [];
  try {
    const profDir = args["cpu-prof-dir"] ? resolve(args["cpu-prof-dir"]) : undefined;
    const maxC = Math.max(...LEVELS);
    const t0 = performance.now();
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

    const rssAll = () => ({
      gastrolog: gl?.nodes.map((n) => rss(n.pid)) ?? [],
      etcd: etcd?.members.map((m) => rss(m.pid)) ?? [],
    });
    const rssBefore = rssAll();

    const writerOf: Partial<Record<"etcd" | "gastrolog", Writer>> = {};
    if (gl) {
      const leader = await gl.leader();
      if (profDir && leader.name !== "n1") {
        log(`warning: the gastrolog leader is ${leader.name}, not the profiled n1`);
      }
      writerOf.gastrolog = createGastrologWriter(leader.home, maxC);
      writers.push(writerOf.gastrolog);
      log(`gastrolog leader: ${leader.name} (pid ${leader.pid})`);
    }
    if (etcd) {
      const leader = await etcd.leader();
      writerOf.etcd = createEtcdWriter(leader.clientUrl);
      writers.push(writerOf.etcd);
      log(`etcd leader: ${leader.name} (pid ${leader.pid}, ${leader.clientUrl})`);
    }

    let seq = 0;
    const load = (w: Writer, total: number, concurrency: number) =>
      runClosedLoop({
        total,
        concurrency,
        maxMs: MAX_MS,
        write: () => w.put(keyOf(seq++), VALUE),
      });

    // Warm-up: JIT, lmdb/bbolt page growth, and the full connection pool (at the top level).
    for (const s of SYSTEMS) {
      const w = writerOf[s]!;
      const r = await load(w, WARMUP_WRITES, maxC);
      if (r.errors > 0) throw new Error(`${s} warm-up: ${r.errors} writes failed: ${r.firstError}`);
    }
    log(`warmed up (${WARMUP_WRITES} writes each at concurrency ${maxC})`);

    const samples: Record<string, Record<number, LoadSample[]>> = { etcd: {}, gastrolog: {} };
    const conns: Record<number, { before: number; after: number }> = {};
    for (const [li, c] of LEVELS.entries()) {
      const perRound = Math.ceil(WRITES[li]! / ROUNDS);
      conns[c] = { before: writerOf.gastrolog?.connectionsOpened() ?? 0, after: 0 };
      for (let r = 0; r < ROUNDS; r++) {
        const order = (li + r) % 2 === 0 ? SYSTEMS : [...SYSTEMS].reverse();
        for (const s of order) {
          const sample = await load(writerOf[s]!, perRound, c);
          samples[s]![c] = [...(samples[s]![c] ?? []), sample];
          log(
            `  c=${String(c).padStart(3)} round ${r + 1}/${ROUNDS} ${s.padEnd(9)} ${fmt(sample.latencies.length / sample.seconds, 0).padStart(6)} w/s` +
              (sample.errors ? ` (${sample.errors} errors: ${sample.firstError})` : "") +
              (sample.timeBound ? " (time bound hit)" : ""),
          );
        }
      }
      conns[c]!.after = writerOf.gastrolog?.connectionsOpened() ?? 0;
    }

    // Idle again: the writes are acknowledged; give followers a moment to apply the tail.
    await new Promise((r) => setTimeout(r, 2000));
    const rssAfter = rssAll();
    const totals = (r: { gastrolog: Rss[]; etcd: Rss[] }) => ({
      gastrolog: r.gastrolog.map((x) => x.total),
      etcd: r.etcd.map((x) => x.total),
    });
    const idleBefore = totals(rssBefore);
    const idleAfter = totals(rssAfter);
    const parts = (xs: Rss[]) =>
      xs.map((x) => `${fmt(x.total)} (anon ${fmt(x.anon)} + file ${fmt(x.file)})`).join(" / ");

    const results: Record<string, Record<string, LoadResult>> = { etcd: {}, gastrolog: {} };
    for (const s of SYSTEMS) {
      for (const c of LEVELS) results[s]![`c${c}`] = summarise(samples[s]![c]!);
    }
    const ratio = (f: (r: LoadResult) => number, c: number) => {
      const g = results.gastrolog![`c${c}`];
      const e = results.etcd![`c${c}`];
      return g && e ? f(g) / f(e) : Number.NaN;
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
    };
    log(JSON.stringify(json));
  } finally {
    for (const w of writers) w.close();
    // Clean stops first (so --cpu-prof profiles get written), then the registry's SIGKILL
    // of anything left and the removal of the temp directory.
    await Promise.allSettled([gl?.stop(), etcd?.stop()]);
    await cleanup.run();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:writes failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
