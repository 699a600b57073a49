import assert from "node:assert/strict";
import { existsSync, readdirSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, it, mock } from "node:test";
import { bootstrapState } from "./core/bootstrap.js";
import { createRaftNode, type RaftNode, type RaftTransportSink } from "./node.js";
import type { RaftNodeError } from "./node-errors.js";
import { createRaftStorage } from "./storage/index.js";
import type { Message } from "./types.js";

/**
 * Two or more RaftNodes over an in-memory network: messages are delivered on the next
 * event-loop turn, unless the link is held (then they wait until released).
 */
class Net {
  readonly sinks = new Map<string, RaftTransportSink>();
  readonly held = new Set<string>();
  private readonly waiting: Message[] = [];
  readonly peerUps: [string, string][] = [];

  transport(self: string) {
    return (sink: RaftTransportSink) => {
      this.sinks.set(self, sink);
      return {
        send: (messages: readonly Message[]) => {
          for (const m of messages) {
            if (this.held.has(m.from) || this.held.has(m.to)) this.waiting.push(m);
            else setImmediate(() => this.sinks.get(m.to)?.receive(m));
          }
        },
        setPeers: () => {},
        peerUp: (id: string) => this.peerUps.push([self, id]),
        close: async () => {},
      };
    };
  }

  release(id: string): void {
    this.held.delete(id);
    for (const m of this.waiting.splice(0)) setImmediate(() => this.sinks.get(m.to)?.receive(m));
  }
}

const fsm = (applied: Uint8Array[] = []) => ({
  apply: (e: { data: Uint8Array }) => {
    applied.push(e.data);
  },
  snapshot: () => new Uint8Array(0),
  restore: () => {},
});

async function until(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > deadline) throw new Error(`${what} did not happen within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe("raft node: bootstrap and joining", () => {
  const dirs: string[] = [];
  const nodes: RaftNode[] = [];
  afterEach(async () => {
    mock.timers.reset();
    for (const n of nodes.splice(0)) await n.shutdown();
    for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
  });
  const tmp = async () => {
    const d = await mkdtemp(join(tmpdir(), "gastrolog-raft-join-"));
    dirs.push(d);
    return d;
  };
  /** Node a, bootstrapped (or reopened from `dir`), once it leads. */
  async function leader(
    net: Net,
    core?: { maxSizePerMsg?: number },
    dir?: string,
  ): Promise<RaftNode> {
    const a = await createRaftNode({
      id: "a",
      fsm: fsm(),
      storage: await createRaftStorage({ dir: dir ?? (await tmp()) }),
      transport: net.transport("a"),
      bootstrap: { addr: "addr-a" },
      heartbeatMs: 20,
      electionTimeoutMs: 60,
      ...(core ? { core } : {}),
    });
    nodes.push(a);
    await until(() => a.leader().self, "a leads");
    return a;
  }
  async function joiner(net: Net, applied?: Uint8Array[]): Promise<RaftNode> {
    const b = await createRaftNode({
      id: "b",
      fsm: fsm(applied),
      storage: await createRaftStorage({ dir: await tmp() }),
      transport: net.transport("b"),
      seedPeers: { a: "addr-a" },
      heartbeatMs: 20,
      electionTimeoutMs: 60,
    });
    nodes.push(b);
    return b;
  }

  it("bootstraps with a committed conf entry at index 1 and no snapshot", async () => {
    const net = new Net();
    const a = await leader(net);
    const dir = dirs[0]!;
    const snaps = join(dir, "snapshots");
    assert.ok(!existsSync(snaps) || readdirSync(snaps).length === 0, "no snapshot file");
    const s = a.stats();
    assert.equal(s.snapshotIndex, 0);
    assert.deepEqual(s.conf.voters, ["a"]);
    assert.deepEqual(s.conf.addrs, { a: "addr-a" });
    await a.shutdown();
    const st = await createRaftStorage({ dir });
    try {
      const p = st.load();
      assert.equal(p.snapshot, undefined);
      assert.equal(p.entries[0]?.index, 1);
      assert.equal(p.entries[0]?.type, "conf");
      assert.deepEqual(p.entries[0]?.change, { type: "addVoter", nodeId: "a", addr: "addr-a" });
    } finally {
      await st.close();
    }
  });

  it("promotes a caught-up nonvoter on the ack itself, without a timer", async () => {
    const net = new Net();
    const a = await leader(net);
    await a.apply(new TextEncoder().encode("x"), { timeoutMs: 5000 });
    net.held.add("b");
    await joiner(net);
    await a.addNonvoter("b", "addr-b", { timeoutMs: 5000 });
    // From here on no interval timer runs (no ticks, no polls): only the ack that catches
    // b up can let the promotion go on.
    mock.timers.enable({ apis: ["setInterval"] });
    const promoted = a.promote("b", { timeoutMs: 5000 });
    net.release("b");
    await promoted;
    assert.deepEqual(a.stats().conf.voters, ["a", "b"]);
  });

  it("a promotion waiting for a nonvoter that cannot be reached does not hold up removing it", async () => {
    const net = new Net();
    const a = await leader(net);
    await a.apply(new TextEncoder().encode("x"), { timeoutMs: 5000 });
    net.held.add("b");
    await a.addNonvoter("b", "addr-b", { timeoutMs: 5000 });
    const promoted = a.promote("b", { timeoutMs: 30_000 });
    promoted.catch(() => undefined);
    // Serialised with the promotion, the removal used to wait out its whole timeout.
    await a.removeServer("b", { timeoutMs: 2000 });
    assert.deepEqual(a.stats().conf.learners, []);
    await assert.rejects(promoted, (err: RaftNodeError) => err.code === "InvalidArgument");
  });

  it("two removals of the same member queued together both succeed; removing a stranger fails", async () => {
    const net = new Net();
    const a = await leader(net);
    await joiner(net);
    await a.addNonvoter("b", "addr-b", { timeoutMs: 5000 });
    // An operator's removal and the leader's reconciler, both having seen b a member.
    const [first, second] = await Promise.all([
      a.removeServer("b", { timeoutMs: 5000 }),
      a.removeServer("b", { timeoutMs: 5000 }),
    ]);
    assert.ok(first > 0 && second >= first);
    assert.deepEqual(a.stats().conf.learners, []);
    await assert.rejects(a.removeServer("zz", { timeoutMs: 5000 }));
  });

  it("persistCommit makes a follower's deferred commit index durable at once", async () => {
    const net = new Net();
    const a = await leader(net);
    // b's storage, with its saves observed.
    const saved: number[] = [];
    const st = await createRaftStorage({ dir: await tmp() });
    const save = st.save.bind(st);
    st.save = (u) => {
      if (u.hardState) saved.push(u.hardState.commit);
      return save(u);
    };
    const b = await createRaftNode({
      id: "b",
      fsm: fsm(),
      storage: st,
      transport: net.transport("b"),
      seedPeers: { a: "addr-a" },
      heartbeatMs: 20,
      electionTimeoutMs: 60,
    });
    nodes.push(b);
    await a.addNonvoter("b", "addr-b", { timeoutMs: 5000 });
    // A voter: the leader commits an entry only once b has it, and tells b afterwards.
    await a.promote("b", { timeoutMs: 5000 });
    const { index } = await a.apply(new TextEncoder().encode("x"), { timeoutMs: 5000 });
    await until(() => b.stats().commitIndex >= index, "b learns the commit");
    // b learned that commit after it wrote the entry: only in memory so far.
    assert.ok(Math.max(0, ...saved) < b.stats().commitIndex, `saved ${saved.join(",")}`);
    const commit = b.stats().commitIndex;
    await b.persistCommit();
    assert.ok(Math.max(...saved) >= commit, `saved ${saved.join(",")}, commit ${commit}`);
  });

  it("a joiner whose first append ends before the entry adding it is not removed", async () => {
    const net = new Net();
    const a = await leader(net, { maxSizePerMsg: 64 });
    for (let i = 0; i < 6; i++) await a.apply(new Uint8Array(100).fill(i), { timeoutMs: 5000 });
    const applied: Uint8Array[] = [];
    const b = await joiner(net, applied);
    let removed = false;
    b.events.on("removed", () => {
      removed = true;
    });
    await a.addNonvoter("b", "addr-b", { timeoutMs: 5000 });
    await until(() => b.stats().conf.learners.includes("b") && applied.length === 6, "b caught up");
    assert.equal(removed, false);
    assert.notEqual(b.stats().role, "removed");
  });

  it("a hello at term 0 reaches the transport as peerUp, not the core", async () => {
    const net = new Net();
    const a = await leader(net);
    const term = a.stats().term;
    const b = await joiner(net);
    b.announce("a");
    await until(() => net.peerUps.length > 0, "a heard b's hello");
    assert.deepEqual(net.peerUps, [["a", "b"]]);
    assert.equal(a.stats().term, term);
    assert.ok(a.leader().self);
  });

  it("a home bootstrapped with the old layout (a snapshot at index 1) still runs and takes joiners", async () => {
    const dir = await tmp();
    const old = await createRaftStorage({ dir });
    const init = bootstrapState({ voters: ["a"], learners: [], addrs: { a: "addr-a" } });
    await old.snapshots.save(init.snapshot!, init.snapshotData!);
    await old.save({ hardState: init.hardState, snapshot: init.snapshot! });
    await old.close();
    const net = new Net();
    const a = await leader(net, undefined, dir);
    assert.equal(a.stats().snapshotIndex, 1);
    await a.apply(new TextEncoder().encode("x"), { timeoutMs: 5000 });
    const applied: Uint8Array[] = [];
    const b = await joiner(net, applied);
    await a.addNonvoter("b", "addr-b", { timeoutMs: 5000 });
    await a.promote("b", { timeoutMs: 5000 });
    await until(() => b.stats().conf.voters.includes("b") && applied.length === 1, "b caught up");
    assert.equal(b.stats().snapshotIndex, 1, "b installed the bootstrap snapshot");
  });
});
