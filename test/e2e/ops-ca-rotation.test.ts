/**
 * Issue 6, test 6: `ca rotate` on a 3-node cluster with writes flowing. Afterwards the
 * chain every node serves verifies against the new CA only (checked in Node, no openssl),
 * tokens from before fail on the joiner's chain check with the "create a new token"
 * message, and a new token works.
 */
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import {
  agreedLeader,
  Cluster,
  derFingerprint,
  eventually,
  isRefusal,
  probeHealth,
  readTlsDir,
  type StatusJson,
  servedLeaf,
  startWriteLoop,
} from "./harness.js";

interface CertShow {
  certFingerprint: string;
  caFingerprints: string[];
  rotation: unknown;
}

const NAMES = ["n1", "n2", "n3"] as const;

describe("e2e: CA rotation (issue 6, test 6)", () => {
  let c: Cluster;
  const addrs = new Map<string, string>();

  before(async () => {
    c = await Cluster.create("gastrolog-ops-ca-");
    const up = await c.up(3);
    for (const [k, v] of up.addrs) addrs.set(k, v);
    await agreedLeader(c, [...NAMES]);
  });
  after(async () => {
    await c.cleanup();
  });

  test("ca rotate: three phases with writes flowing; served chains verify against the new CA only; old tokens fail with the create-a-new-token message; a new token works", async () => {
    const before = await c.cliJson<CertShow>("n1", ["cert", "show"]);
    assert.equal(before.caFingerprints.length, 1);
    const oldTls = await readTlsDir(c.homeOf("n1"));
    const oldCa = new X509Certificate(oldTls.caPem);
    assert.equal(oldCa.fingerprint256.replace(/:/g, "").toLowerCase(), before.caFingerprints[0]);
    const oldReusable = (await readFile(join(c.homeOf("n1"), "join-token"), "utf8")).trim();
    const oldShort = await c.cliJson<{ token: string }>("n1", ["token", "create", "--ttl", "1h"]);

    const writer = startWriteLoop(c.homeOf("n2"), "ca6/");
    const r = await c.cli("n1", ["ca", "rotate"]);
    const writes = await writer.stop();
    assert.equal(r.code, 0, `ca rotate failed: ${r.stderr}`);
    assert.match(r.stderr, /\[ca-added\] phase 1\/3/);
    assert.match(r.stderr, /\[cert-begin\] phase 2\/3/);
    assert.match(r.stderr, /\[finished\] rotation finished: every member/);
    assert.match(r.stderr, /\[ca-retired\] phase 3\/3/);
    const newReusable = /([A-Za-z0-9_-]{43}:[0-9a-f]{64})/.exec(r.stdout)?.[1];
    assert.ok(newReusable, `prints the new reusable token: ${r.stdout}`);
    assert.ok(writes.ok > 0, "writes happened during the CA rotation");
    assert.ok(
      writes.longestOutageMs < 2000,
      `writes failed for ${Math.round(writes.longestOutageMs)} ms in a row: ${writes.errors.join("; ")}`,
    );

    const shown = await c.cliJson<CertShow>("n1", ["cert", "show"]);
    assert.equal(shown.caFingerprints.length, 1, "only one trusted CA is left");
    assert.notEqual(shown.caFingerprints[0], before.caFingerprints[0], "and it is a new one");
    assert.equal(shown.rotation, null);
    assert.ok(newReusable.endsWith(`:${shown.caFingerprints[0]}`), "the new token pins the new CA");

    const newCaPem = await eventually(async () => {
      const t = await readTlsDir(c.homeOf("n1"));
      const ca = new X509Certificate(t.caPem);
      return ca.fingerprint256.replace(/:/g, "").toLowerCase() === shown.caFingerprints[0]
        ? t.caPem
        : undefined;
    }, "n1's tls/ca.pem to hold only the new CA");
    const newCa = new X509Certificate(newCaPem);
    for (const n of NAMES) {
      const status = await eventually(async () => {
        const s = await c.cliJson<StatusJson>(n, ["cluster", "status"]);
        return s.tls.caFingerprints.length === 1 ? s : undefined;
      }, `${n} to retire the old CA`);
      assert.deepEqual(status.tls.caFingerprints, shown.caFingerprints, `${n}'s trusted set`);
      const der = await servedLeaf(addrs.get(n)!);
      assert.equal(derFingerprint(der), shown.certFingerprint, `${n} serves the new leaf`);
      const leaf = new X509Certificate(der);
      assert.equal(leaf.verify(newCa.publicKey), true, `${n}'s leaf is signed by the new CA`);
      assert.equal(leaf.verify(oldCa.publicKey), false, `${n}'s leaf is not signed by the old CA`);
      assert.equal(leaf.checkIssued(newCa), true);
      // A holder of the old CA's leaf is now refused: its issuer is no longer trusted.
      const p = await eventually(async () => {
        const x = await probeHealth(addrs.get(n)!, oldTls);
        return isRefusal(x) ? x : undefined;
      }, `${n} to refuse the old leaf`);
      assert.equal(!p.ok && p.code, "unauthenticated", `${n}: the old CA is untrusted`);
    }

    for (const [what, token] of [
      ["the reusable token from before", oldReusable],
      ["a short-lived token from before", oldShort.token],
    ] as const) {
      const p = await c.start(`old-${what.length}`, {
        joinAddr: addrs.get("n2")!,
        joinToken: token,
      });
      const exit = await p.exited;
      const err = p.stderr.join("\n");
      assert.notEqual(exit.code, 0, `${what} is refused`);
      assert.match(err, /did not prove it belongs to the cluster the token names/, what);
      assert.match(err, /gastrolog token create/, `${what}: tells the operator what to do`);
    }

    const fresh = await c.cliJson<{ token: string }>("n1", ["token", "create"]);
    await c.join("n4", addrs.get("n2")!, fresh.token);
    const joined = await eventually(async () => {
      const s = await c.cliJson<StatusJson>("n4", ["cluster", "status"]);
      return s.tls.certFingerprint === shown.certFingerprint && s.members.length === 4
        ? s
        : undefined;
    }, "n4 to join with a token made after the rotation");
    assert.deepEqual(joined.tls.caFingerprints, shown.caFingerprints);
  });

  // Admin commands run against any member's home. Run on a follower, the step after the
  // finish used to be forwarded with the certificate the finish had just retired.
  test("ca rotate run on a follower's home finishes all three phases too", async () => {
    const all = [...NAMES, "n4"];
    const leader = await agreedLeader(c, all);
    const follower = all.find((n) => n !== leader.node)!;
    const before = await c.cliJson<CertShow>(follower, ["cert", "show"]);
    const r = await c.cli(follower, ["ca", "rotate"]);
    assert.equal(r.code, 0, `ca rotate on ${follower} failed: ${r.stderr}`);
    assert.match(r.stderr, /\[ca-retired\] phase 3\/3/);
    const shown = await c.cliJson<CertShow>(follower, ["cert", "show"]);
    assert.equal(shown.caFingerprints.length, 1, "only the new CA is trusted");
    assert.notEqual(shown.caFingerprints[0], before.caFingerprints[0]);
    for (const n of all) {
      await eventually(async () => {
        const s = await c.cliJson<StatusJson>(n, ["cluster", "status"]);
        return s.tls.caFingerprints.join() === shown.caFingerprints.join() ? s : undefined;
      }, `${n} to trust only the new CA`);
    }
  });
});
