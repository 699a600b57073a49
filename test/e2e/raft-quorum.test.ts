import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Code, ConnectError } from "@connectrpc/connect";
import { adminClient, agreedLeader, Cluster } from "./harness.js";

const NODES = ["n1", "n2", "n3"];
/** "Fails fast": well below the 10 s forwarding/apply deadlines and the CLI's 30 s. */
const FAST_MS = 3000;
/**
 * Nodes are stopped with SIGTERM (a clean stop), falling back to SIGKILL after this long;
 * the last test checks that a clean stop is prompt.
 */
const STOP_MS = 5000;

async function putAll(c: Cluster, via: string, prefix: string, count: number): Promise<void> {
  const a = adminClient(c.homeOf(via));
  try {
    for (let i = 0; i < count; i++) {
      await a.config.put(
        { key: `${prefix}/${i}`, value: new TextEncoder().encode("x") },
        { timeoutMs: 10_000 },
      );
    }
  } finally {
    a.close();
  }
}

/**
 * A write on the lone survivor must fail within FAST_MS with Unavailable saying "no
 * quorum". Timed with an in-test client (a CLI process's own start-up would dominate the
 * figure on a loaded machine); the CLI is then checked for the same clear message.
 */
async function assertWriteFailsFast(c: Cluster, survivor: string, key: string): Promise<void> {
  const a = adminClient(c.homeOf(survivor));
  const t0 = performance.now();
  let err: ConnectError | undefined;
  try {
    await a.config.put({ key, value: new TextEncoder().encode("lost") }, { timeoutMs: 30_000 });
  } catch (e) {
    err = ConnectError.from(e);
  } finally {
    a.close();
  }
  const ms = performance.now() - t0;
  assert.ok(err, `the write on ${survivor} without quorum must fail`);
  assert.equal(err.code, Code.Unavailable, `typed: unavailable (${err.message})`);
  assert.match(err.rawMessage, /no quorum/i, `the error says why: ${err.rawMessage}`);
  assert.ok(
    ms < FAST_MS,
    `failed in ${Math.round(ms)} ms, not within ${FAST_MS} ms (${err.rawMessage})`,
  );

  const r = await c.cli(survivor, ["config", "put", `${key}-cli`, "lost"]);
  assert.notEqual(r.code, 0, `the CLI write must fail (stdout: ${r.stdout})`);
  assert.match(r.stderr, /no quorum/i, `the CLI says why: ${r.stderr.trim()}`);
}

/** A local read on the survivor still answers, with the value written before. */
async function assertLocalRead(
  c: Cluster,
  survivor: string,
  key: string,
  want: string,
): Promise<void> {
  const r = await c.cli(survivor, ["config", "get", key]);
  assert.equal(r.code, 0, `local read on ${survivor}: ${r.stderr.trim()}`);
  assert.equal(r.stdout.trim(), want);
}

describe("e2e raft: a stopped node and a stopped quorum (issue 4, test 6)", () => {
  let c: Cluster;
  before(async () => {
    c = await Cluster.create("gastrolog-raft-quorum-");
  });
  after(async () => {
    await c.cleanup();
  });

  test("one follower down: writes succeed; two down: the leader's writes fail fast with 'no quorum', local reads answer", async () => {
    await c.up(3);
    const l = await agreedLeader(c, NODES);
    const [f1, f2] = NODES.filter((n) => n !== l.leaderName) as [string, string];
    await putAll(c, l.leaderName, "base", 3);

    await c.byName.get(f1)!.stop("SIGTERM", STOP_MS);
    // Through the leader and through the remaining follower (forwarded).
    await putAll(c, l.leaderName, "one-down", 5);
    await putAll(c, f2, "one-down-fwd", 5);

    await c.byName.get(f2)!.stop("SIGTERM", STOP_MS);
    // At once, before any timer has noticed: the hardest case for "fast".
    await assertWriteFailsFast(c, l.leaderName, "nq/1");
    await assertWriteFailsFast(c, l.leaderName, "nq/2");
    await assertLocalRead(c, l.leaderName, "one-down-fwd/4", "x");
    const list = await c.cliJson<{ kvs: { key: string }[] }>(l.leaderName, [
      "config",
      "list",
      "nq/",
    ]);
    assert.deepEqual(list.kvs, [], "no write without quorum was applied");
  });

  test("leader and one follower down: the surviving follower's writes fail fast, local reads answer", async () => {
    // Bring the two stopped followers back, then stop the leader and one of them.
    const down = NODES.filter((n) => !c.byName.get(n)!.running);
    await Promise.all(down.map((n) => c.restart(n)));
    const l = await agreedLeader(c, NODES);
    const [f1, f2] = NODES.filter((n) => n !== l.leaderName) as [string, string];
    await putAll(c, f2, "before", 3);
    // The follower must hold the value before it is cut off, to read it locally afterwards.
    const a = adminClient(c.homeOf(f2));
    try {
      await a.config.get({ key: "before/2", linearizable: true }, { timeoutMs: 10_000 });
    } finally {
      a.close();
    }

    await Promise.all([
      c.byName.get(l.leaderName)!.stop("SIGTERM", STOP_MS),
      c.byName.get(f1)!.stop("SIGTERM", STOP_MS),
    ]);
    await assertWriteFailsFast(c, f2, "nq/3");
    await assertWriteFailsFast(c, f2, "nq/4");
    await assertLocalRead(c, f2, "before/2", "x");
  });

  test("SIGTERM stops a member of a running cluster cleanly and promptly (exit 0)", async () => {
    const down = NODES.filter((n) => !c.byName.get(n)!.running);
    await Promise.all(down.map((n) => c.restart(n)));
    await agreedLeader(c, NODES);
    const victim = c.byName.get(NODES[0]!)!;
    const t0 = performance.now();
    const exit = await victim.stop("SIGTERM", 10_000);
    const ms = performance.now() - t0;
    assert.deepEqual(
      exit,
      { code: 0, signal: null },
      `clean exit, not SIGKILL after ${Math.round(ms)} ms`,
    );
    assert.ok(
      victim.logs.some((l) => l.msg === "stopped"),
      '"stopped" logged',
    );
  });
});
