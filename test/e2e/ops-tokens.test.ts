/**
 * Issue 6, tests 1-3: the join-token lifecycle through the real CLI and real joins.
 * One cluster (n1 bootstrapped, n2 joined with the reusable token) takes every scenario;
 * each successful join adds a member, each refused join starts a fresh home that must
 * exit non-zero with the operator-facing message.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { agreedLeader, Cluster, eventually, type StatusJson } from "./harness.js";

/** `token create -o json`. */
interface CreatedToken {
  id: string;
  token: string;
  expiresAt: string;
  usesLeft: number;
}

/** `token list -o json`. */
interface TokenList {
  tokens: { id: string; kind: string; state: string; usesLeft: number; revoked: boolean }[];
}

const REFUSED = /the cluster refused the join token: invalid or expired token/;

describe("e2e: join tokens (issue 6, tests 1-3)", () => {
  let c: Cluster;
  let clusterAddr = "";
  let attempt = 0;

  before(async () => {
    c = await Cluster.create("gastrolog-ops-tok-");
    const b = await c.bootstrap("n1");
    clusterAddr = b.clusterAddr;
    await c.join("n2", clusterAddr, b.token);
  });
  after(async () => {
    await c.cleanup();
  });

  /** A join from a fresh home that must be refused: non-zero exit, the message, not a member. */
  async function refusedJoin(token: string, via = clusterAddr): Promise<string> {
    const name = `refused${++attempt}`;
    const p = await c.start(name, { joinAddr: via, joinToken: token });
    const exit = await p.exited;
    const stderr = p.stderr.join("\n");
    assert.notEqual(exit.code, 0, `${name} should have been refused:\n${stderr}`);
    assert.equal(
      p.logs.some((l) => l.msg === "serving"),
      false,
      `${name} never served`,
    );
    return stderr;
  }

  async function memberNames(): Promise<string[]> {
    const s = await c.cliJson<StatusJson>("n1", ["cluster", "status"]);
    return s.members.map((m) => m.name).sort();
  }

  test("test 1: a --uses 1 token works once, then fails, also after a leader transfer", async () => {
    const t = await c.cliJson<CreatedToken>("n1", ["token", "create", "--uses", "1"]);
    assert.equal(t.usesLeft, 1);
    await c.join("n3", clusterAddr, t.token);
    await eventually(
      async () => (await memberNames()).includes("n3"),
      "n3 to be a member after its single-use join",
    );
    const listed = await c.cliJson<TokenList>("n1", ["token", "list"]);
    const entry = listed.tokens.find((x) => x.id === t.id);
    assert.equal(entry?.usesLeft, 0, `the use was consumed: ${JSON.stringify(entry)}`);

    assert.match(await refusedJoin(t.token), REFUSED, "second use refused");

    const before = await agreedLeader(c, ["n1", "n2", "n3"]);
    const tr = await c.cli(before.node, ["cluster", "transfer-leader"]);
    assert.equal(tr.code, 0, tr.stderr);
    const now = await eventually(async () => {
      const v = await agreedLeader(c, ["n1", "n2", "n3"]);
      return v.node !== before.node ? v : undefined;
    }, "leadership to move");
    // Through the new leader, directly: the consumed use is in its replicated state.
    const leaderAddr = (await c.byName.get(now.node)!.serving()).clusterAddr;
    assert.match(await refusedJoin(t.token, leaderAddr), REFUSED, "refused after the transfer");
    assert.deepEqual(await memberNames(), ["n1", "n2", "n3"]);
  });

  test("test 2: a --ttl token works before it expires and fails after", async () => {
    // Long enough for a join on a loaded 2-core machine (a 4 s TTL once expired first).
    const t = await c.cliJson<CreatedToken>("n1", ["token", "create", "--ttl", "10s"]);
    const expiresAt = Date.parse(t.expiresAt);
    assert.ok(expiresAt - Date.now() <= 10_000 && expiresAt - Date.now() > 0, t.expiresAt);
    await c.join("n4", clusterAddr, t.token);
    await eventually(async () => (await memberNames()).includes("n4"), "n4 to be a member");

    // Wait for the expiry as the cluster sees it, not for a fixed time.
    const expired = await eventually(
      async () => {
        const l = await c.cliJson<TokenList>("n1", ["token", "list"]);
        const e = l.tokens.find((x) => x.id === t.id);
        return e?.state === "expired" ? e : undefined;
      },
      "token list to show the TTL token as expired",
      25_000,
      200,
    );
    assert.ok(Date.now() >= expiresAt, "listed expired only after its expiry time");
    assert.equal(expired.revoked, false);
    assert.match(await refusedJoin(t.token), REFUSED);
  });

  test("test 3: a revoked token fails; after token rotate the old reusable token fails and the new one works", async () => {
    const t = await c.cliJson<CreatedToken>("n1", ["token", "create", "--ttl", "1h"]);
    const rv = await c.cli("n1", ["token", "revoke", t.id]);
    assert.equal(rv.code, 0, rv.stderr);
    const listed = await c.cliJson<TokenList>("n1", ["token", "list"]);
    assert.equal(listed.tokens.find((x) => x.id === t.id)?.revoked, true);
    assert.match(await refusedJoin(t.token), REFUSED, "revoked token refused");

    const oldReusable = (await readFile(join(c.homeOf("n1"), "join-token"), "utf8")).trim();
    const rot = await c.cliJson<{ id: string; token: string }>("n1", ["token", "rotate"]);
    assert.notEqual(rot.token, oldReusable);
    assert.match(await refusedJoin(oldReusable), REFUSED, "old reusable token refused");
    await c.join("n5", clusterAddr, rot.token);
    await eventually(
      async () => (await memberNames()).includes("n5"),
      "n5 to be a member with the new reusable token",
    );
    const file = (await readFile(join(c.homeOf("n1"), "join-token"), "utf8")).trim();
    assert.equal(file, rot.token, "the bootstrap node's join-token file holds the new token");
  });

  test("a rotation run on another member removes the bootstrap node's stale join-token; the next one run there, after a restart, writes it again", async () => {
    const path = join(c.homeOf("n1"), "join-token");
    const elsewhere = await c.cliJson<{ token: string }>("n2", ["token", "rotate"]);
    assert.equal(existsSync(join(c.homeOf("n2"), "join-token")), false, "n2 keeps no file");
    await eventually(async () => !existsSync(path), "n1 to remove its stale join-token");
    const n1 = c.byName.get("n1")!;
    assert.equal((await n1.stop()).code, 0);
    await c.start("n1", { home: c.homeOf("n1") }).then((p) => p.serving());
    const here = await c.cliJson<{ token: string }>("n1", ["token", "rotate"]);
    assert.notEqual(here.token, elsewhere.token);
    assert.equal((await readFile(path, "utf8")).trim(), here.token);
  });
});
