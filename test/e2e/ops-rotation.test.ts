/**
 * Issue 6, tests 4 and 5: live certificate rotation on a 3-node cluster. One cluster is
 * shared: the plain rotation first, then a rotation held open by a member that is down,
 * then a forced rotation that leaves a member behind (last, as it takes that member out).
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import {
  agreedLeader,
  Cluster,
  cli,
  derFingerprint,
  eventually,
  isRefusal,
  probeHealth,
  readTlsDir,
  type ServerProc,
  type StatusJson,
  servedLeaf,
  startWriteLoop,
  type TlsFiles,
} from "./harness.js";

/** `cert show -o json`, the fields these tests read. */
interface CertShow {
  certFingerprint: string;
  previousCertFingerprint: string | null;
  rotation: { newFingerprint: string; pending: string[]; ackedBy: string[] } | null;
}

const NAMES = ["n1", "n2", "n3"] as const;

describe("e2e: certificate rotation (issue 6, tests 4-5)", () => {
  let c: Cluster;
  const addrs = new Map<string, string>();

  before(async () => {
    c = await Cluster.create("gastrolog-ops-rot-");
    const up = await c.up(3);
    for (const [k, v] of up.addrs) addrs.set(k, v);
    await agreedLeader(c, [...NAMES]);
  });
  after(async () => {
    await c.cleanup();
  });

  /** Waits until `home`'s tls/ files hold the certificate with fingerprint `fp`. */
  const tlsFilesWith = (home: string, fp: string): Promise<TlsFiles> =>
    eventually(
      async () => {
        const t = await readTlsDir(home);
        const der = Buffer.from(t.certPem.split("-----")[2]!.replace(/\s+/g, ""), "base64");
        return derFingerprint(der) === fp ? t : undefined;
      },
      `${home}/tls to hold certificate ${fp.slice(0, 12)}`,
    );

  test("test 4: cert rotate — every node serves the new leaf, the old certificate is refused everywhere, writes flow, no restart", async () => {
    const pids = new Map(NAMES.map((n) => [n, c.byName.get(n)!.pid]));
    const servingLines = new Map(
      NAMES.map((n) => [n, c.byName.get(n)!.logs.filter((l) => l.msg === "serving").length]),
    );
    const before = await c.cliJson<CertShow>("n1", ["cert", "show"]);
    const old = await readTlsDir(c.homeOf("n3"));
    // The old material works before the rotation: the refusal below is the rotation's doing.
    for (const n of NAMES) assert.deepEqual(await probeHealth(addrs.get(n)!, old), { ok: true });

    const writer = startWriteLoop(c.homeOf("n2"), "rot4/");
    const r = await c.cli("n1", ["cert", "rotate"]);
    // Keep writing a little past the finish: sessions with the old cert are being closed.
    const afterFinish = await eventually(async () => {
      const s = await c.cliJson<CertShow>("n3", ["cert", "show"]);
      return s.rotation === null && s.certFingerprint !== before.certFingerprint ? s : undefined;
    }, "n3 to apply the finish");
    const writes = await writer.stop();
    assert.equal(r.code, 0, `cert rotate failed: ${r.stderr}`);
    assert.match(r.stdout, /rotated to [0-9a-f]{64}/);
    assert.match(r.stderr, /rotation finished: every member presents the new certificate/);

    const shown = await c.cliJson<CertShow>("n1", ["cert", "show"]);
    assert.notEqual(shown.certFingerprint, before.certFingerprint, "a new certificate");
    assert.equal(shown.rotation, null, "no rotation in flight after the CLI returned");
    assert.equal(afterFinish.certFingerprint, shown.certFingerprint);

    // The leader held the members' acknowledgements and committed them together with the
    // finish, in one Raft round, instead of one round per member and then the finish.
    const batched = NAMES.flatMap((n) => c.byName.get(n)!.logs).filter(
      (l) =>
        l.fingerprint === shown.certFingerprint &&
        typeof l.msg === "string" &&
        l.msg.includes("committing the acks and the finish together"),
    );
    assert.equal(batched.length, 1, "one node (the leader) committed the acks with the finish");
    const acks = batched[0]!.acks as number;
    assert.ok(acks >= 1 && acks <= NAMES.length, `acks committed with the finish: ${acks}`);

    const fresh = await tlsFilesWith(c.homeOf("n1"), shown.certFingerprint);
    for (const n of NAMES) {
      const addr = addrs.get(n)!;
      const leaf = derFingerprint(await servedLeaf(addr, fresh));
      assert.equal(leaf, shown.certFingerprint, `${n} serves the new leaf`);
      assert.notEqual(leaf, before.certFingerprint);
      assert.deepEqual(await probeHealth(addr, fresh), { ok: true }, `${n} serves the new cert`);
      const refused = await eventually(async () => {
        const p = await probeHealth(addr, old);
        return isRefusal(p) ? p : undefined;
      }, `${n} to refuse the old certificate`);
      assert.equal(refused.ok, false);
      assert.equal(
        !refused.ok && refused.code,
        "permission_denied",
        `${n}: old cert is trusted but no longer accepted`,
      );
    }

    assert.ok(writes.ok > 0, "writes happened during the rotation");
    assert.ok(
      writes.longestOutageMs < 2000,
      `writes failed for ${Math.round(writes.longestOutageMs)} ms in a row: ${writes.errors.join("; ")}`,
    );
    for (const n of NAMES) {
      const p = c.byName.get(n)!;
      assert.ok(p.running, `${n} still runs`);
      assert.equal(p.pid, pids.get(n), `${n} was not restarted`);
      assert.equal(
        p.logs.filter((l) => l.msg === "serving").length,
        servingLines.get(n),
        `${n} did not start serving again`,
      );
    }
  });

  test("test 5: a member that is down holds the rotation open and is named; on return it catches up and the rotation finishes", async () => {
    const leader = await agreedLeader(c, [...NAMES]);
    const down = NAMES.find((n) => n !== leader.node)!;
    const downId = (await c.cliJson<StatusJson>(down, ["cluster", "status"])).nodeId;
    const before = await c.cliJson<CertShow>(leader.node, ["cert", "show"]);
    const stopped = await c.byName.get(down)!.stop("SIGTERM");
    assert.equal(stopped.signal, null, `${down} did not exit on SIGTERM within 20 s`);

    let exited = false;
    const rotating = cli(["cert", "rotate", "--home", c.homeOf(leader.node)], {
      timeoutMs: 60_000,
    }).finally(() => {
      exited = true;
    });
    // Once both live members have acknowledged, only the member that is down is pending.
    const pendingShow = await eventually(async () => {
      const s = await c.cliJson<CertShow>(leader.node, ["cert", "show"]);
      return s.rotation?.ackedBy.length === 2 ? s : undefined;
    }, "cert show to report a rotation in flight, acknowledged by both live members");
    assert.deepEqual(
      pendingShow.rotation!.pending.map((p) => p.includes(downId) && p.startsWith(down)),
      [true],
      `only ${down} holds the rotation: ${JSON.stringify(pendingShow.rotation)}`,
    );
    const live = NAMES.filter((n) => n !== down);
    for (const n of live) {
      const s = await eventually(async () => {
        const st = await c.cliJson<StatusJson>(n, ["cluster", "status"]);
        const rot = st.tls.rotation as CertShow["rotation"];
        return rot?.pending.some((p) => p.includes(downId)) ? st : undefined;
      }, `cluster status on ${n} to name ${down} in rotation.pending`);
      assert.ok(s);
    }
    // Still held open: every other member acknowledged, yet no finish without the member.
    const still = await c.cliJson<CertShow>(leader.node, ["cert", "show"]);
    assert.equal(still.rotation?.pending.length, 1, "still open");
    assert.equal(exited, false, "cert rotate keeps waiting while a member is down");

    const back = await c.restart(down);
    const r = await rotating;
    assert.equal(r.code, 0, `cert rotate failed: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`waiting for: [^\\n]*${down} \\(${downId.slice(0, 8)}`));
    assert.match(r.stderr, /rotation finished: every member presents the new certificate/);
    const shown = await c.cliJson<CertShow>(leader.node, ["cert", "show"]);
    assert.notEqual(shown.certFingerprint, before.certFingerprint);
    assert.equal(shown.rotation, null);
    const backStatus = await eventually(async () => {
      const s = await c.cliJson<StatusJson>(down, ["cluster", "status"]);
      return s.tls.certFingerprint === shown.certFingerprint && s.role === "follower"
        ? s
        : undefined;
    }, `${down} to present the new certificate and follow`);
    assert.equal(backStatus.notice, null);
    assert.equal(
      derFingerprint(await servedLeaf(addrs.get(down)!)),
      shown.certFingerprint,
      `${down} serves the new leaf`,
    );
    assert.ok(back.running);
  });

  test("test 5: cert rotate --force finishes without a member that is down; that member then says it must re-enroll and stops retrying", async () => {
    const leader = await agreedLeader(c, [...NAMES]);
    const down = NAMES.find((n) => n !== leader.node)!;
    const downId = (await c.cliJson<StatusJson>(down, ["cluster", "status"])).nodeId;
    const stopped = await c.byName.get(down)!.stop("SIGTERM");
    assert.equal(stopped.signal, null, `${down} did not exit on SIGTERM within 20 s`);

    const r = await cli(["cert", "rotate", "--force", "--home", c.homeOf(leader.node)], {
      timeoutMs: 60_000,
    });
    assert.equal(r.code, 0, `cert rotate --force failed: ${r.stderr}`);
    assert.match(
      r.stderr,
      new RegExp(
        `finished by force; left behind \\(must re-enroll; remove their old entries first with \`gastrolog cluster remove\`\\): ${down} \\(${downId.slice(0, 8)}`,
      ),
    );

    const p: ServerProc = await c.start(down, { home: c.homeOf(down) });
    const removed = await eventually(
      async () => {
        const s = await c.cliJson<StatusJson>(down, ["cluster", "status"]);
        return s.role === "removed" ? s : undefined;
      },
      `${down} to report role "removed"`,
      30_000,
    );
    assert.match(removed.notice ?? "", /must re-enroll/);
    assert.match(removed.notice ?? "", /gastrolog token create/);
    assert.match(removed.notice ?? "", new RegExp(`gastrolog cluster remove ${downId}`));
    const noticeLine = await p.waitLog(
      (l) => typeof l.msg === "string" && l.msg.includes("must re-enroll"),
      10_000,
      "the re-enroll notice",
    );
    assert.ok(noticeLine);

    // It does not retry forever: Raft is shut down, so its term stops moving and it starts
    // no elections. Watch it across several election timeouts (FAST_ENV: 400 ms).
    const first = await c.cliJson<StatusJson>(down, ["cluster", "status"]);
    const linesAt = p.stderr.length;
    const watchUntil = performance.now() + 2000;
    while (performance.now() < watchUntil) {
      const s = await c.cliJson<StatusJson>(down, ["cluster", "status"]);
      assert.equal(s.role, "removed");
      assert.equal(s.term, first.term, `${down} keeps campaigning (term moved)`);
    }
    const newLines = p.stderr.slice(linesAt);
    assert.ok(
      newLines.length <= 2,
      `${down} kept logging after it gave up:\n${newLines.slice(0, 10).join("\n")}`,
    );
    assert.ok(p.running, "it stays up to answer status");

    // The others carry on without it.
    const live = NAMES.filter((n) => n !== down);
    const put = await c.cli(live[0]!, ["config", "put", "after/force", "ok"]);
    assert.equal(put.code, 0, put.stderr);
  });
});
