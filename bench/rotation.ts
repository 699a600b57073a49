/**
 * Rotation and eviction benchmark (issue 6, "Benchmark"), on 3 and 5 real nodes on
 * 127.0.0.1 with production Raft timing (heartbeat 100 ms, election 1000 ms).
 *
 * - rotate: from the RotateCert call on the leader's admin socket until every node serves
 *   the new leaf AND refuses the old certificate (each node's cluster port probed with
 *   both, in parallel, in a tight loop). Median of `--rounds` rotations.
 * - evict: from the RemoveNode call until every remaining node refuses the evicted node's
 *   own certificate (read from its home before the call).
 *
 * Baseline measured in the same run: one HealthService.Check round trip on an open
 * session (median of 50). The ratios are against the goals (rotation <= 300 ms on
 * 5 nodes; eviction -> refused <= 1 s) and against the baseline.
 *
 * Run: npm run bench:rotation [-- --rounds 5]
 * Output: a table, and as the last line one JSON object.
 */
import { parseArgs } from "node:util";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { HealthService } from "../src/gen/gastrolog/v1/health_pb.js";
import {
  adminClient,
  agreedLeader,
  Cluster,
  derFingerprint,
  isRefusal,
  probeHealth,
  readTlsDir,
  servedLeaf,
  type TlsFiles,
  upWithEnv,
} from "../test/e2e/harness.js";

const PRODUCTION_TIMING = {
  GASTROLOG_HEARTBEAT_MS: "100",
  GASTROLOG_ELECTION_TIMEOUT_MS: "1000",
  GASTROLOG_JOIN_RETRY_MS: "30000",
};
const GOAL_ROTATE_MS = 300;
const GOAL_EVICT_MS = 1000;

const { values: args } = parseArgs({
  options: { rounds: { type: "string", default: "5" } },
});
const ROUNDS = Math.max(1, Number(args.rounds));

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
}

/** Median Health.Check round trip on one open session (after 5 warm-up calls). */
async function healthRoundTripMs(addr: string, material: TlsFiles): Promise<number> {
  const manager = new Http2SessionManager(
    `https://${addr}`,
    {},
    { cert: material.certPem, key: material.keyPem, rejectUnauthorized: false },
  );
  try {
    const health = createClient(
      HealthService,
      createGrpcTransport({ baseUrl: `https://${addr}`, sessionManager: manager }),
    );
    const times: number[] = [];
    for (let i = 0; i < 55; i++) {
      const t = performance.now();
      await health.check({});
      if (i >= 5) times.push(performance.now() - t);
    }
    return median(times);
  } finally {
    manager.abort();
  }
}

/** Polls until `done()` holds; returns when it did. Fails after 30 s. */
async function until(done: () => Promise<boolean>, what: string): Promise<number> {
  const deadline = performance.now() + 30_000;
  for (;;) {
    if (await done()) return performance.now();
    if (performance.now() > deadline) throw new Error(`${what} did not happen within 30 s`);
  }
}

interface SizeResult {
  nodes: number;
  baselineMs: number;
  rotateMs: number;
  rotateStreamMs: number;
  evictToRefusedMs: number;
  evictStreamMs: number;
}

async function runSize(n: number): Promise<SizeResult> {
  const c = await Cluster.create("gastrolog-bench-rot-");
  try {
    await upWithEnv(c, n, PRODUCTION_TIMING);
    const names = Array.from({ length: n }, (_, i) => `n${i + 1}`);
    const addrs = new Map<string, string>();
    for (const name of names) {
      addrs.set(name, (await c.byName.get(name)!.serving()).clusterAddr);
    }
    const leader = (await agreedLeader(c, names)).node;
    const baselineMs = await healthRoundTripMs(
      addrs.get(leader)!,
      await readTlsDir(c.homeOf(leader)),
    );
    const admin = adminClient(c.homeOf(leader));
    try {
      const rotate: number[] = [];
      const stream: number[] = [];
      for (let r = 0; r < ROUNDS; r++) {
        const old = await readTlsDir(c.homeOf(leader));
        const t0 = performance.now();
        let newFp = "";
        // A rotation that never finishes is a finding, not a reason to hang the bench.
        try {
          for await (const p of admin.cert.rotateCert(
            { force: false },
            { signal: AbortSignal.timeout(30_000) },
          )) {
            const m = /new certificate ([0-9a-f]{64})/.exec(p.message);
            if (m) newFp = m[1]!;
          }
        } catch (err) {
          const s = await admin.cluster.getStatus({});
          throw new Error(
            `${n} nodes, round ${r + 1}: the rotation did not finish within 30 s (${(err as Error).message}); pending: ${s.tls?.rotation?.pending.join(", ") ?? "none"}`,
          );
        }
        const tStream = performance.now();
        const tEnd = await until(async () => {
          const ok = await Promise.all(
            names.map(async (name) => {
              const addr = addrs.get(name)!;
              const [leaf, probe] = await Promise.all([servedLeaf(addr), probeHealth(addr, old)]);
              return derFingerprint(leaf) === newFp && isRefusal(probe);
            }),
          );
          return ok.every(Boolean);
        }, "every node serving the new leaf and refusing the old one");
        rotate.push(tEnd - t0);
        stream.push(tStream - t0);
      }

      // A follower: removing the leader would add a leadership transfer to the measurement.
      const victim = [...names].reverse().find((x) => x !== leader)!;
      const victimTls = await readTlsDir(c.homeOf(victim));
      const remaining = names.filter((x) => x !== victim);
      const t0 = performance.now();
      const removal = (async () => {
        for await (const _ of admin.cluster.removeNode({ node: victim })) {
          // progress only
        }
        return performance.now();
      })();
      const tRefused = await until(async () => {
        const probes = await Promise.all(
          remaining.map((x) => probeHealth(addrs.get(x)!, victimTls)),
        );
        return probes.every(isRefusal);
      }, `every remaining node refusing ${victim}`);
      const tStream = await removal;
      return {
        nodes: n,
        baselineMs,
        rotateMs: median(rotate),
        rotateStreamMs: median(stream),
        evictToRefusedMs: tRefused - t0,
        evictStreamMs: tStream - t0,
      };
    } finally {
      admin.close();
    }
  } finally {
    await c.cleanup();
  }
}

const results: SizeResult[] = [];
for (const n of [3, 5]) results.push(await runSize(n));

const fmt = (x: number) => x.toFixed(1).padStart(9);
console.log(
  [
    "nodes  health-rtt(ms)  rotate(ms)  rotate-cmd(ms)  evict->refused(ms)  remove-cmd(ms)",
    ...results.map(
      (r) =>
        `${String(r.nodes).padEnd(5)}  ${fmt(r.baselineMs)}       ${fmt(r.rotateMs)}   ${fmt(r.rotateStreamMs)}       ${fmt(r.evictToRefusedMs)}           ${fmt(r.evictStreamMs)}`,
    ),
    `rotate = median of ${ROUNDS}: RotateCert call until every node serves the new leaf and refuses the old one`,
    "rotate-cmd = until the RotateCert stream ended; remove-cmd = until the RemoveNode stream ended",
  ].join("\n"),
);
const by = (k: keyof SizeResult) =>
  Object.fromEntries(results.map((r) => [`n${r.nodes}`, Math.round(r[k] as number)]));
const r5 = results.find((r) => r.nodes === 5)!;
const round2 = (x: number) => Math.round(x * 100) / 100;
console.log(
  JSON.stringify({
    bench: "rotation",
    rotateMs: by("rotateMs"),
    evictToRefusedMs: by("evictToRefusedMs"),
    baselineHealthRttMs: Object.fromEntries(
      results.map((r) => [`n${r.nodes}`, round2(r.baselineMs)]),
    ),
    ratio: {
      rotateN5VsGoal300ms: round2(r5.rotateMs / GOAL_ROTATE_MS),
      evictN5VsGoal1s: round2(r5.evictToRefusedMs / GOAL_EVICT_MS),
      rotateN5VsHealthRtt: round2(r5.rotateMs / r5.baselineMs),
      evictN5VsHealthRtt: round2(r5.evictToRefusedMs / r5.baselineMs),
    },
  }),
);
