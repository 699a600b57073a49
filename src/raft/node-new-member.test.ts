import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { createRaftNode, type RaftNode } from "./node.js";
import { createRaftStorage } from "./storage/index.js";

describe("raft node: a member added by a membership change", () => {
  let dir: string;
  let node: RaftNode;
  const known = new Set<string>();
  /** For each message to "b": was "b" a peer of the transport when it was sent? */
  const toB: boolean[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "gastrolog-raft-member-"));
    node = await createRaftNode({
      id: "a",
      fsm: { apply: () => undefined, snapshot: () => new Uint8Array(0), restore: () => {} },
      storage: await createRaftStorage({ dir }),
      transport: () => ({
        send(messages) {
          for (const m of messages) if (m.to === "b") toB.push(known.has("b"));
        },
        setPeers(addrs) {
          known.clear();
          for (const id of Object.keys(addrs)) known.add(id);
        },
        async close() {},
      }),
      bootstrap: { addr: "127.0.0.1:1" },
      heartbeatMs: 20,
      electionTimeoutMs: 60,
    });
  });
  after(async () => {
    await node.shutdown();
    await rm(dir, { recursive: true, force: true });
  });

  it("has its link before the first message to it is sent", async () => {
    const deadline = performance.now() + 10_000;
    while (!node.leader().self && performance.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.ok(node.leader().self, "the bootstrap node leads");
    await node.addNonvoter("b", "127.0.0.1:2", { timeoutMs: 5000 });
    assert.ok(toB.length > 0, "something was sent to b");
    assert.equal(toB[0], true, "the first message to b went to a known peer, not dropped");
  });
});
