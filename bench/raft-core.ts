/**
 * `npm run bench:raft-core`: the ceiling of the Raft core alone. Three cores in one
 * process, no I/O: "persisting" appends to an array, "sending" hands the message
 * straight to the peer's `step`, applying counts the entry. Proposals go in one at a
 * time (each waits for commit on all three nodes) and in batches.
 *
 * Baseline, measured in the same run: a bare loop that moves the same payloads the way
 * the replicated path must at the least — copy each payload into a preallocated log
 * buffer on each of the three nodes (the log write) and read it back out (the apply).
 * That is the in-process "physical limit" of moving those bytes; the ratio says what
 * fraction of it the core reaches. The last line of output is one JSON object.
 */
import type { RawNode } from "../src/raft/core/api.js";
import { bootstrapState, createRaft } from "../src/raft/core/raft.js";
import type { Entry, Message } from "../src/raft/types.js";

const PAYLOAD = 128;
const IDS = ["n1", "n2", "n3"] as const;

interface BenchNode {
  readonly id: string;
  readonly core: RawNode;
  readonly log: Entry[];
  applied: number;
}

/** A tiny deterministic generator: the cores need randomness, the bench reproducibility. */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
}

function createCluster(): { nodes: BenchNode[]; leader: BenchNode; pump: () => void } {
  const conf = { voters: [...IDS], learners: [], addrs: {} };
  const nodes: BenchNode[] = IDS.map((id, i) => ({
    id,
    core: createRaft({
      id,
      electionTick: 10,
      heartbeatTick: 1,
      random: lcg(i + 1),
      persisted: bootstrapState(conf),
    }),
    log: [],
    applied: 0,
  }));
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const queue: Message[] = [];
  const handle = (n: BenchNode) => {
    while (n.core.hasReady()) {
      const rd = n.core.ready();
      for (const e of rd.entries) n.log.push(e);
      for (const m of rd.messages) queue.push(m);
      for (const e of rd.committedEntries) n.applied = e.index;
      n.core.advance();
    }
  };
  /** Delivers every message and handles every Ready until the cluster is quiet. */
  const pump = () => {
    for (const n of nodes) handle(n);
    // Index walk instead of shift(): shift is O(n) on long queues and would bill the
    // bench's own plumbing to the core.
    for (let i = 0; i < queue.length; i++) {
      const m = queue[i]!;
      const to = byId.get(m.to)!;
      to.core.step(m);
      handle(to);
    }
    queue.length = 0;
  };
  const first = nodes[0]!;
  first.core.campaign();
  pump();
  if (first.core.status().role !== "leader") throw new Error("bench: n1 did not become leader");
  return { nodes, leader: first, pump };
}

const payloads = Array.from({ length: 1024 }, (_, i) => {
  const d = new Uint8Array(PAYLOAD);
  d.fill(i & 0xff);
  return d;
});

/** Proposes `total` entries in batches of `batch`, committing each batch on all nodes. */
function runRaft(total: number, batch: number): number {
  const { nodes, leader, pump } = createCluster();
  const start = performance.now();
  let last = 0;
  for (let done = 0; done < total; done += batch) {
    for (let i = 0; i < batch; i++) last = leader.core.propose(payloads[(done + i) & 1023]!).index;
    pump();
    for (const n of nodes) {
      if (n.applied < last) throw new Error(`bench: ${n.id} applied ${n.applied} < ${last}`);
    }
  }
  return (performance.now() - start) / 1000;
}

/**
 * The baseline: append every payload to a log on each of three nodes (copy into a
 * preallocated arena, remember the offset), then read each one back. No allocation per
 * entry: this is the cost of moving the bytes and nothing else.
 */
function runBaseline(total: number): number {
  const arenas = [0, 1, 2].map(() => new Uint8Array(total * PAYLOAD));
  const offsets = [0, 1, 2].map(() => new Float64Array(total));
  let sink = 0;
  const start = performance.now();
  for (let i = 0; i < total; i++) {
    const p = payloads[i & 1023]!;
    for (let k = 0; k < 3; k++) {
      const at = i * PAYLOAD;
      arenas[k]!.set(p, at);
      offsets[k]![i] = at;
    }
  }
  for (let k = 0; k < 3; k++) {
    const a = arenas[k]!;
    const o = offsets[k]!;
    for (let i = 0; i < total; i++) sink += a[o[i]!]!;
  }
  const secs = (performance.now() - start) / 1000;
  if (sink < 0) console.log(sink); // keeps the reads observable
  return secs;
}

function measure(label: string, total: number, run: () => number) {
  run(); // warm-up at the same size, so the JIT has settled
  const secs = Math.min(run(), run());
  return { label, total, secs, perSec: total / secs };
}

const N = Number(process.env.BENCH_ENTRIES ?? 100_000);
const base = measure("baseline: payload into 3 logs + read", N, () => runBaseline(N));
const rows = [
  measure("raft: 1 proposal per round trip", N / 5, () => runRaft(N / 5, 1)),
  measure("raft: batches of 16", N, () => runRaft(N, 16)),
  measure("raft: batches of 256", N, () => runRaft(N, 256)),
];

const fmt = (n: number) => Math.round(n).toLocaleString("en-US");
console.log(
  `Raft core, 3 in-memory nodes, ${PAYLOAD}-byte payloads, no I/O (best of 2 after warm-up)`,
);
console.log(
  `${"case".padEnd(36)} ${"entries".padStart(9)} ${"seconds".padStart(8)} ${"entries/s".padStart(12)} ${"vs baseline".padStart(12)}`,
);
for (const r of [base, ...rows]) {
  console.log(
    `${r.label.padEnd(36)} ${fmt(r.total).padStart(9)} ${r.secs.toFixed(3).padStart(8)} ${fmt(r.perSec).padStart(12)} ${(r.perSec / base.perSec).toFixed(4).padStart(12)}`,
  );
}
const [single, b16, b256] = rows as [typeof base, typeof base, typeof base];
console.log(
  JSON.stringify({
    bench: "raft-core",
    nodes: 3,
    payloadBytes: PAYLOAD,
    entriesPerSec: Math.round(single.perSec),
    entriesPerSecBatch16: Math.round(b16.perSec),
    entriesPerSecBatch256: Math.round(b256.perSec),
    baseline: "copy each payload into a preallocated log on each of 3 nodes, then read it back",
    baselineEntriesPerSec: Math.round(base.perSec),
    ratio: Number((single.perSec / base.perSec).toFixed(5)),
    ratioBatch256: Number((b256.perSec / base.perSec).toFixed(5)),
  }),
);
