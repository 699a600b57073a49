/**
 * A member that was down when an eviction's rotation began catches up through Raft; it
 * does not declare itself removed, and the rotation finishes.
 *
 * Four nodes; a follower (the "sleeper") is down while another follower is removed. The
 * removal's rotation begins without the sleeper (the other two voters are a quorum) and
 * waits for its ack. When the sleeper comes back it presents and accepts only the old
 * certificate. The leader still reaches it (members dial out with the old certificate
 * until the finish), but the sleeper's replies cannot get out: the peers it dials present
 * the new certificate, which it does not accept. It asks them for the TLS material in force
 * (SyncTls). A node was removed since the old certificate came into use, so they withhold
 * the key (the evicted node holds the old certificate too). Two bugs met here:
 *  - the refusal was `permission_denied`, which the sleeper counted toward "the others no
 *    longer accept me", so a majority of them made it declare itself removed;
 *  - with no way to accept the new certificate, its replies never reached the leader, so
 *    the leader never learned it needed the begin, and the rotation hung.
 * Now the answer carries the public part (certificates, accepted fingerprints, CAs) without
 * the key. The sleeper accepts the new certificate, its replies reach the leader, Raft
 * brings it the begin with the new key, it acks, and the rotation finishes.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { NodeService } from "../../src/gen/gastrolog/v1/node_pb.js";
import {
  agreedLeader,
  Cluster,
  cli,
  eventually,
  probeHealth,
  readTlsDir,
  type StatusJson,
  type TlsFiles,
} from "./harness.js";

/** Calls NodeService.SyncTls on `addr`, presenting `client` (any server leaf is taken). */
async function syncTlsWith(addr: string, client: TlsFiles) {
  const manager = new Http2SessionManager(
    `https://${addr}`,
    { idleConnectionTimeoutMs: 2000 },
    { cert: client.certPem, key: client.keyPem, rejectUnauthorized: false, ALPNProtocols: ["h2"] },
  );
  try {
    const transport = createGrpcTransport({ baseUrl: `https://${addr}`, sessionManager: manager });
    return await createClient(NodeService, transport).syncTls({}, { timeoutMs: 5000 });
  } finally {
    manager.abort();
  }
}

const NAMES = ["n1", "n2", "n3", "n4"] as const;

describe("e2e: a member stalled during an eviction's rotation", () => {
  let c: Cluster;
  const addrs = new Map<string, string>();

  before(async () => {
    c = await Cluster.create("gastrolog-ops-rot-evict-race-");
    const up = await c.up(4);
    for (const [k, v] of up.addrs) addrs.set(k, v);
    await agreedLeader(c, [...NAMES]);
  });
  after(async () => {
    await c.cleanup();
  });

  test("a member down during an eviction comes back, catches up through Raft, acks, and the rotation finishes; it is not removed", async () => {
    const leader = (await agreedLeader(c, [...NAMES])).node;
    const followers = NAMES.filter((n) => n !== leader);
    const sleeper = followers[0]!;
    const victim = followers[1]!;
    const status = (n: string) => c.cliJson<StatusJson>(n, ["cluster", "status"]);
    const sleeperId = (await status(sleeper)).nodeId;

    const oldFingerprint = (await status(leader)).tls.certFingerprint;
    const stopped = await c.byName.get(sleeper)!.stop("SIGTERM");
    assert.equal(stopped.signal, null, `${sleeper} did not exit on SIGTERM within 20 s`);
    const removal = cli(["cluster", "remove", victim, "--home", c.homeOf(leader)], {
      timeoutMs: 45_000,
    });
    // The removal's rotation has begun and waits for the member that is down.
    await eventually(async () => {
      const rot = (await status(leader)).tls.rotation as { pending?: string[] } | null;
      return rot?.pending?.some((p) => p.includes(sleeperId.slice(0, 8))) ?? false;
    }, `the rotation on ${leader} to wait for ${sleeper}`);

    // The evicted node still holds the old certificate, which is accepted until the finish:
    // asking for the TLS material gets it the public part, never the new key.
    const asked = await syncTlsWith(addrs.get(leader)!, await readTlsDir(c.homeOf(victim)));
    assert.equal(asked.keyWithheld, true);
    assert.equal(asked.keyPem, "");
    assert.ok(asked.acceptedFingerprints.length >= 2, "old and new certificates accepted");

    const back = await c.restart(sleeper);
    const r = await removal;
    assert.equal(r.code, 0, `cluster remove failed: ${r.stderr}`);
    const s = await eventually(async () => {
      const st = await status(sleeper);
      return st.role === "follower" || st.role === "removed" ? st : undefined;
    }, `${sleeper} to follow again`);
    assert.equal(s.role, "follower", `${sleeper} declared itself removed: ${s.notice}`);
    assert.equal(s.notice, null);
    assert.ok(back.running);
    // It caught up with the rotation: it presents the new certificate, like the leader,
    // and the evicted node's own material is refused by both.
    const now = await status(leader);
    assert.notEqual(now.tls.certFingerprint, oldFingerprint);
    assert.equal(now.tls.rotation, null);
    await eventually(
      async () => (await status(sleeper)).tls.certFingerprint === now.tls.certFingerprint,
      `${sleeper} to present the new certificate`,
    );
    const evicted = await readTlsDir(c.homeOf(victim));
    for (const n of [leader, sleeper]) {
      const p = await probeHealth(addrs.get(n)!, evicted);
      assert.equal(!p.ok && p.code, "permission_denied", `${n}: ${JSON.stringify(p)}`);
    }
  });
});
