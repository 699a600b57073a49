import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Cluster, eventually } from "./harness.js";
import { putInProcess, settled, statusOf } from "./server-support.js";

const NAMES = ["n1", "n2", "n3"];

/**
 * Issue 5, test 6: kill -9 the leader and the survivors elect a new one and keep taking
 * config writes; kill a quorum and a write fails fast with "no quorum" while local reads
 * and status still answer.
 */
describe("e2e: leader loss and quorum loss (issue 5, test 6)", () => {
  let c: Cluster;
  let survivors: string[];
  before(async () => {
    c = await Cluster.create();
    await c.up(3);
    await settled(c, NAMES);
  });
  after(async () => {
    await c.cleanup();
  });

  test("kill -9 the leader: a new leader is elected and writes continue through a survivor", async () => {
    const { leader, statuses } = await settled(c, NAMES);
    const oldLeaderId = statuses[0]!.leaderId;
    const oldTerm = Math.max(...statuses.map((s) => s.term));
    await putInProcess(c, leader, "before/kill", "1");
    const e = await c.byName.get(leader)!.kill9();
    assert.equal(e.signal, "SIGKILL");
    survivors = NAMES.filter((n) => n !== leader);

    const next = await eventually(
      async () => {
        const ss = await Promise.all(survivors.map((n) => statusOf(c, n)));
        const l = ss.find((s) => s.role === "leader");
        return l && ss.every((s) => s.leaderId === l.nodeId) ? l : undefined;
      },
      "the survivors to agree on a new leader",
      15_000,
      100,
    );
    assert.notEqual(next.nodeId, oldLeaderId, "the dead node is still the leader");
    assert.ok(next.term > oldTerm, `term ${next.term} did not advance past ${oldTerm}`);

    const follower = survivors.find((n) => n !== next.nodeName)!;
    const put = await c.cli(follower, ["config", "put", "after/kill", "2"]);
    assert.equal(put.code, 0, put.stderr);
    for (const n of survivors) {
      const r = await c.cli(n, ["config", "get", "after/kill", "--linearizable"]);
      assert.equal(r.stdout.trim(), "2", `${n}: ${r.stderr}`);
    }
  });

  test("kill a quorum: a write fails fast with 'no quorum'; local reads and status still answer", async () => {
    assert.ok(survivors, "the previous test left two survivors");
    const [doomed, last] = survivors as [string, string];
    await c.byName.get(doomed)!.kill9();

    const t0 = performance.now();
    const put = await c.cli(last, ["config", "put", "after/quorum-loss", "3"]);
    const ms = performance.now() - t0;
    assert.notEqual(put.code, 0, "a write without quorum succeeded");
    assert.match(put.stderr, /no quorum/, put.stderr);
    assert.equal(put.stderr.trim().split("\n").length, 1, `one line: ${put.stderr}`);
    assert.ok(ms < 5_000, `the write took ${Math.round(ms)} ms to fail (CLI timeout is 30 s)`);

    const get = await c.cli(last, ["config", "get", "after/kill"]);
    assert.equal(get.code, 0, get.stderr);
    assert.equal(get.stdout.trim(), "2");
    const missing = await c.cli(last, ["config", "get", "after/quorum-loss"]);
    assert.notEqual(missing.code, 0, "the refused write is readable");

    const st = await c.cli(last, ["cluster", "status", "-o", "json"]);
    assert.equal(st.code, 0, st.stderr);
    const s = JSON.parse(st.stdout) as {
      role: string;
      members: { name: string; healthy: boolean }[];
    };
    assert.equal(s.members.length, 3);
    assert.deepEqual(
      s.members.filter((m) => m.healthy).map((m) => m.name),
      [last],
      "only the survivor is healthy",
    );
    assert.notEqual(s.role, "leader", "a lone node of three still calls itself leader");
  });
});
