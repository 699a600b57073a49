import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Cluster, type ServerProc } from "./harness.js";
import { type MemberRecord, putInProcess, settled } from "./server-support.js";

const NAMES = ["n1", "n2", "n3"] as const;
const KEYS = { "app/a": "1", "app/b": "two", "svc/x/limit": "300" };

/**
 * Issue 5, test 3: restarting every node one by one, then all at once, keeps the cluster:
 * the same cluster id, the same members (ids, names, addresses, suffrage) and the same
 * config values. Restarts come from the home alone (no token), after a SIGTERM that must
 * end the process with exit code 0.
 */
describe("e2e: restarts keep the cluster (issue 5, test 3)", () => {
  let c: Cluster;
  let clusterId: string;
  let members: MemberRecord[];
  before(async () => {
    c = await Cluster.create();
    await c.up(3);
    for (const [k, v] of Object.entries(KEYS)) await putInProcess(c, "n2", k, v);
    const { statuses } = await settled(c, NAMES);
    clusterId = statuses[0]!.clusterId;
    members = membersOf(statuses[0]!);
  });
  after(async () => {
    await c.cleanup();
  });

  function membersOf(s: { members: MemberRecord[] }): MemberRecord[] {
    return s.members
      .map((m) => ({ id: m.id, name: m.name, suffrage: m.suffrage, clusterAddr: m.clusterAddr }))
      .sort((a, b) => a.id.localeCompare(b.id));
  }

  /** Same cluster, same members on every node, and every key readable with the CLI. */
  async function assertKept(when: string): Promise<void> {
    const { statuses } = await settled(c, NAMES);
    for (const s of statuses) {
      assert.equal(s.clusterId, clusterId, `${when}: ${s.nodeName} is in another cluster`);
      assert.deepEqual(membersOf(s), members, `${when}: ${s.nodeName}'s members changed`);
    }
    for (const n of NAMES) {
      const r = await c.cli(n, ["config", "list", "-o", "json"]);
      assert.equal(r.code, 0, r.stderr);
      const got = Object.fromEntries(
        (JSON.parse(r.stdout) as { kvs: { key: string; value: string }[] }).kvs.map((e) => [
          e.key,
          e.value,
        ]),
      );
      for (const [k, v] of Object.entries(KEYS)) {
        assert.equal(got[k], v, `${when}: ${n} reads ${k}=${got[k]}`);
      }
    }
  }

  async function stopClean(p: ServerProc, signal: "SIGTERM" | "SIGINT" = "SIGTERM"): Promise<void> {
    const e = await p.stop(signal);
    assert.deepEqual(e, { code: 0, signal: null }, `${p.name} did not exit 0 on ${signal}`);
  }

  function startFromHome(name: string): Promise<ServerProc> {
    // No --bootstrap, no join flags: the home alone says what the node is.
    return c.start(name, { home: c.homeOf(name) });
  }

  test("one by one: each node stops cleanly and rejoins from its home", async () => {
    for (const [i, n] of NAMES.entries()) {
      // Ctrl-C (SIGINT) stops a node as cleanly as SIGTERM.
      await stopClean(c.byName.get(n)!, i % 2 === 1 ? "SIGINT" : "SIGTERM");
      const p = await startFromHome(n);
      await p.serving();
      // The join token was shown once, at bootstrap; a restart does not show it again.
      assert.doesNotMatch(p.stdout.join("\n"), /token/i, `${n} printed a token on restart`);
      await p.waitLog((l) => l.msg === "restarting as a member", 1_000, "the restart line");
      assert.equal(
        p.logs.some((l) => String(l.msg).startsWith("join:")),
        false,
        "a restart enrolled again",
      );
      // The next node goes down only once this one is back in the quorum.
      await settled(c, NAMES);
    }
    await assertKept("after one-by-one restarts");
  });

  test("all at once: every node stops, then every node starts", async () => {
    await Promise.all(NAMES.map((n) => stopClean(c.byName.get(n)!)));
    const procs = await Promise.all(NAMES.map(startFromHome));
    await Promise.all(procs.map((p) => p.serving()));
    await assertKept("after a full-cluster restart");
    // And the cluster still takes writes.
    await putInProcess(c, "n3", "after/restart", "yes");
    const r = await c.cli("n1", ["config", "get", "after/restart", "--linearizable"]);
    assert.equal(r.stdout.trim(), "yes", r.stderr);
  });
});

describe("e2e: a write right after a restart", () => {
  test("a single-node cluster restarted after a crash takes a write issued the moment it serves", async () => {
    const c = await Cluster.create();
    try {
      await c.bootstrap("solo");
      await c.byName.get("solo")!.kill9();
      const p = await c.start("solo", { home: c.homeOf("solo") });
      await p.serving();
      // It has not elected itself yet: the write waits for that instead of "no quorum".
      const r = await c.cli("solo", ["config", "put", "after/crash", "yes"]);
      assert.equal(r.code, 0, r.stderr);
    } finally {
      await c.cleanup();
    }
  });
});
