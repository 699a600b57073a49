/**
 * bench:join — how fast a node goes from enrollment to serving as a voter.
 *
 * Joins 20 nodes one after another (real processes on 127.0.0.1, production Raft timing:
 * no GASTROLOG_* overrides), into clusters that stay within the 1-9 voters the project
 * targets: a cluster is bootstrapped, takes joins through its first node until it has
 * MAX_VOTERS voters, and is then stopped and replaced by a new one (20 joins: 8 + 8 + 4).
 * A join counts once the joiner serves as a voter: it logs "serving" only after its own
 * Raft configuration lists it as a voter ("join: voter"), and the bench then checks that
 * its status says voter and that it answers. For each join, from the joiner's own log
 * lines (pino `time`, ms):
 *   - enroll → voter: "join: enrolling" (the Enroll call, with the secret, is sent) →
 *     "serving". This includes the leader's Raft commit of the enrollment;
 *   - enrolled → voter: "join: enrolled" (the reply is in) → "serving", a breakdown;
 *   - start → voter: process spawn → "serving".
 * Baseline, measured in the same run: one Health.Check round trip over the cluster port
 * (mTLS, from a joiner's point of view: the cluster's own TLS material). The ratio
 * enroll→voter / RTT says how many round trips' worth of time a join costs; the goal
 * (issue 5) is enroll → voter ≤ 100 ms p50.
 *
 * Run: npm run build && npm run bench:join
 */
import "reflect-metadata";
import { readFile } from "node:fs/promises";
import { loadavg } from "node:os";
import { createClient } from "@connectrpc/connect";
import { createPeerClients } from "../src/cluster/port/peer-clients.js";
import { readTlsFiles } from "../src/cluster/tls/tls-files.js";
import { ClusterTlsState } from "../src/cluster/tls/tls-state.js";
import { HealthService } from "../src/gen/gastrolog/v1/health_pb.js";
import { clusterServerName } from "../src/pki/certificate.js";
import { Cluster } from "../test/e2e/harness.js";
import { statusOf } from "../test/e2e/server-support.js";

const JOINS = Number(process.env.JOINS ?? 20);
/** Largest cluster the bench grows (the project targets 1-9 voters). */
const MAX_VOTERS = 9;
const GOAL_MS = 100;
// Production timing: the harness applies FAST_ENV; undo it by passing the defaults.
const PROD_ENV = {
  GASTROLOG_HEARTBEAT_MS: "100",
  GASTROLOG_ELECTION_TIMEOUT_MS: "1000",
  GASTROLOG_JOIN_RETRY_MS: "30000",
};

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] ?? Number.NaN;
}

async function healthRtt(c: Cluster, addr: string, n = 200): Promise<number> {
  const material = await readTlsFiles(c.homeOf("n1"));
  if (!material) throw new Error("n1 has no TLS files");
  const s = await statusOf(c, "n1");
  const tls = ClusterTlsState.fromPem({ ...material, serverName: clusterServerName(s.clusterId) });
  const pool = createPeerClients({ tls });
  try {
    const client = createClient(HealthService, pool.transport(addr));
    for (let i = 0; i < 20; i++) await client.check({});
    const times: number[] = [];
    for (let i = 0; i < n; i++) {
      const t = performance.now();
      await client.check({});
      times.push(performance.now() - t);
    }
    return pct(times, 50);
  } finally {
    pool.close();
  }
}

/** A bootstrapped cluster that takes joins through its first node. */
interface Target {
  c: Cluster;
  addr: string;
  token: string;
  voters: number;
}

async function bootstrapTarget(): Promise<Target> {
  const c = await Cluster.create("gastrolog-bench-join-");
  try {
    const boot = await c.start("n1", { bootstrap: true, env: PROD_ENV });
    const s = await boot.serving(60_000);
    const token = (await readFile(`${c.homeOf("n1")}/join-token`, "utf8")).trim();
    return { c, addr: s.clusterAddr, token, voters: 1 };
  } catch (err) {
    await c.cleanup();
    throw err;
  }
}

async function main(): Promise<void> {
  let t = await bootstrapTarget();
  try {
    const rtt = await healthRtt(t.c, t.addr);
    const enrollToVoter: number[] = [];
    const enrolledToVoter: number[] = [];
    const startToVoter: number[] = [];
    const rows: string[] = [];
    let clusters = 1;
    for (let i = 1; i <= JOINS; i++) {
      if (t.voters >= MAX_VOTERS) {
        await t.c.cleanup();
        t = await bootstrapTarget();
        clusters++;
      }
      const name = `n${t.voters + 1}`;
      const spawnedAt = Date.now();
      const p = await t.c.start(name, { joinAddr: t.addr, joinToken: t.token, env: PROD_ENV });
      await p.waitLog((l) => l.msg === "join: voter", 60_000, '"join: voter"');
      const voter = await p.waitLog((l) => l.msg === "serving", 10_000, '"serving"');
      const enrolling = p.logs.find((l) => l.msg === "join: enrolling");
      const enrolled = p.logs.find((l) => l.msg === "join: enrolled");
      if (!enrolling || !enrolled) throw new Error(`${name}: no "join: enrolling/enrolled" line`);
      const ev = Number(voter.time) - Number(enrolling.time);
      const dv = Number(voter.time) - Number(enrolled.time);
      const sv = Number(voter.time) - spawnedAt;
      // Serving as a voter: the node's own status says so, and it answers.
      await p.serving();
      const st = await statusOf(t.c, name);
      const self = st.members.find((m) => m.id === st.nodeId);
      if (self?.suffrage !== "voter" || (st.role !== "follower" && st.role !== "leader")) {
        throw new Error(`${name}: its status does not say voter (role ${st.role})`);
      }
      t.voters++;
      enrollToVoter.push(ev);
      enrolledToVoter.push(dv);
      startToVoter.push(sv);
      rows.push(
        `c${clusters} ${name.padEnd(4)} ${String(t.voters).padStart(6)} ${String(ev).padStart(15)} ${String(dv).padStart(17)} ${String(sv).padStart(14)}`,
      );
    }
    const e50 = pct(enrollToVoter, 50);
    const e99 = pct(enrollToVoter, 99);
    const s50 = pct(startToVoter, 50);
    const d50 = pct(enrolledToVoter, 50);
    console.log(
      `joins: ${JOINS} into ${clusters} clusters of at most ${MAX_VOTERS} voters (production timing: heartbeat 100 ms, election 1000 ms)`,
    );
    console.log(`cluster node voters  enroll→voter ms  enrolled→voter ms  start→voter ms`);
    for (const r of rows) console.log(r);
    console.log("");
    console.log(`enroll → voter  p50 ${e50} ms   p99 ${e99} ms   (goal ≤ ${GOAL_MS} ms p50)`);
    console.log(`enrolled → voter p50 ${d50} ms (from the reply)`);
    console.log(`start → voter   p50 ${s50} ms`);
    console.log(`baseline: Health.Check RTT over the cluster port (mTLS) p50 ${rtt.toFixed(3)} ms`);
    const round = (x: number) => Math.round(x * 100) / 100;
    console.log(
      JSON.stringify({
        bench: "join",
        joins: JOINS,
        clusters,
        maxVoters: MAX_VOTERS,
        enrollToVoterMs: { p50: e50, p99: e99 },
        enrolledToVoterMs: { p50: d50, p99: pct(enrolledToVoter, 99) },
        startToVoterMs: { p50: s50 },
        loadAvg1m: round(loadavg()[0] ?? 0),
        baseline: { healthRttMs: round(rtt), goalMs: GOAL_MS },
        ratio: {
          enrollToVoterP50OverGoal: round(e50 / GOAL_MS),
          enrollToVoterP50OverHealthRtt: round(e50 / rtt),
        },
      }),
    );
  } finally {
    await t.c.cleanup();
  }
}

await main();
