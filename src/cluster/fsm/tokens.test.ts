import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create, toBinary } from "@bufbuild/protobuf";
import { ConfigCommandSchema, ConfigTokenKind } from "../../gen/gastrolog/v1/config_pb.js";
import type { CommandInput } from "./commands.js";
import { FSM_LIMITS } from "./limits.js";
import { DAY, FsmDriver, fakeHash, T0 } from "./testing.js";

let nodeSeq = 100;
function enroll(
  tokenId: string,
  secret: string,
  extra: Partial<CommandInput & { kind: "enrollNode" }> = {},
): CommandInput {
  nodeSeq++;
  return {
    kind: "enrollNode",
    tokenId,
    secretHash: fakeHash(secret),
    node: { id: `n${nodeSeq}`, name: `node-${nodeSeq}`, clusterAddr: `10.0.0.1:${nodeSeq}` },
    sourceAddr: "10.0.0.1:40000",
    ...extra,
  };
}

describe("config FSM: join tokens", () => {
  it("a single-use token enrolls exactly once; the second EnrollNode is rejected", () => {
    const d = FsmDriver.cluster();
    d.ok({ kind: "createToken", tokenId: "t1", secretHash: fakeHash("s1"), maxUses: 1 });
    const r = d.ok(enroll("t1", "s1"));
    assert.equal(r.value.kind === "enrollNode" && r.value.usesLeft, 0);
    const rej = d.rejected("failed_precondition", enroll("t1", "s1"));
    assert.equal(rej.message, "invalid or expired token");
    assert.equal(rej.tokenRefusal, "used_up");
    const t = d.fsm.token("t1", T0)!;
    assert.equal(t.uses, 1);
    assert.equal(t.state, "used_up");
    assert.equal(d.fsm.nodes().length, 2);
  });

  it("a token with N uses is consumed once per enrollment", () => {
    const d = FsmDriver.cluster();
    d.ok({ kind: "createToken", tokenId: "t3", secretHash: fakeHash("s3"), maxUses: 3 });
    for (let i = 0; i < 3; i++) d.ok(enroll("t3", "s3"));
    d.rejected("failed_precondition", enroll("t3", "s3"));
    assert.equal(d.fsm.token("t3", T0)!.usesLeft, 0);
  });

  it("expiry is judged by the command's time, not the applier's clock", () => {
    const d = FsmDriver.cluster();
    const expires = T0 + 30 * 60_000;
    d.ok({
      kind: "createToken",
      tokenId: "ttl",
      secretHash: fakeHash("ttl"),
      expiresAtUnixMs: expires,
    });
    d.ok(enroll("ttl", "ttl"), expires - 1);
    const r = d.rejected("failed_precondition", enroll("ttl", "ttl"), expires);
    assert.equal(r.tokenRefusal, "expired");
    assert.equal(d.fsm.token("ttl", expires - 1)!.state, "usable");
    assert.equal(d.fsm.token("ttl", expires)!.state, "expired");
  });

  it("a revoked token is refused; revoking twice or an unknown id is rejected", () => {
    const d = FsmDriver.cluster();
    d.ok({ kind: "createToken", tokenId: "t1", secretHash: fakeHash("s1") });
    d.ok({ kind: "revokeToken", tokenId: "t1" });
    const r = d.rejected("failed_precondition", enroll("t1", "s1"));
    assert.equal(r.tokenRefusal, "revoked");
    d.rejected("failed_precondition", { kind: "revokeToken", tokenId: "t1" });
    d.rejected("not_found", { kind: "revokeToken", tokenId: "nope" });
    assert.deepEqual(d.fsm.verifyToken(fakeHash("s1"), T0), { ok: false, reason: "revoked" });
  });

  it("rotating the reusable token stops the old secret at once and the new one works", () => {
    const d = FsmDriver.cluster();
    const r = d.ok({
      kind: "rotateReusableToken",
      newTokenId: "tok-2",
      newSecretHash: fakeHash("new"),
    });
    assert.deepEqual(r.value, {
      kind: "rotateReusableToken",
      tokenId: "tok-2",
      previousTokenId: "tok-reusable",
    });
    const old = d.rejected("failed_precondition", enroll("tok-reusable", "reusable"));
    assert.equal(old.tokenRefusal, "revoked");
    // A caller that looked the old token up and proposes with the new id still fails.
    assert.equal(
      d.rejected("failed_precondition", enroll("tok-2", "reusable")).tokenRefusal,
      "mismatch",
    );
    d.ok(enroll("tok-2", "new"));
    assert.deepEqual(d.fsm.verifyToken(fakeHash("reusable"), T0), { ok: false, reason: "revoked" });
    const v = d.fsm.verifyToken(fakeHash("new"), T0);
    assert.equal(v.ok && v.token.id, "tok-2");
    assert.equal(d.fsm.token("tok-reusable", T0)!.revokedReason, "rotated");
  });

  it("EnrollNode re-checks the secret hash and refuses unknown tokens", () => {
    const d = FsmDriver.cluster();
    assert.equal(
      d.rejected("failed_precondition", enroll("tok-reusable", "wrong")).tokenRefusal,
      "mismatch",
    );
    assert.equal(
      d.rejected("failed_precondition", enroll("ghost", "reusable")).tokenRefusal,
      "unknown",
    );
    d.rejected("invalid_argument", {
      ...(enroll("tok-reusable", "reusable") as object),
      secretHash: new Uint8Array(5),
    } as CommandInput);
  });

  it("EnrollNode rejects a node id that is already a member", () => {
    const d = FsmDriver.cluster(2);
    const r = d.rejected("already_exists", {
      ...(enroll("tok-reusable", "reusable") as Extract<CommandInput, { kind: "enrollNode" }>),
      node: { id: "n2", name: "dup", clusterAddr: "10.0.0.9:1" },
    });
    assert.match(r.message, /n2/);
    assert.equal(d.fsm.token("tok-reusable", T0)!.uses, 1);
  });

  it("records an enrolled node as a nonvoter first; a nonvoter-only token forces nonvoter", () => {
    const d = FsmDriver.cluster();
    const a = d.ok(enroll("tok-reusable", "reusable"));
    assert.equal(a.value.kind === "enrollNode" && a.value.targetSuffrage, "voter");
    const na = d.fsm.node(a.value.kind === "enrollNode" ? a.value.nodeId : "")!;
    assert.equal(na.suffrage, "nonvoter");
    assert.equal(na.viaTokenId, "tok-reusable");
    d.ok({ kind: "createToken", tokenId: "nv", secretHash: fakeHash("nv"), nonvoterOnly: true });
    const b = d.ok(enroll("nv", "nv"));
    assert.equal(b.value.kind === "enrollNode" && b.value.targetSuffrage, "nonvoter");
    const nb = d.fsm.node(b.value.kind === "enrollNode" ? b.value.nodeId : "")!;
    assert.equal(nb.nonvoterForced, true);
    assert.equal(nb.suffrageAsked, "voter");
    assert.equal(nb.targetSuffrage, "nonvoter");
  });

  it("CreateToken validation: duplicate id, bad hash, past expiry, reusable kind", () => {
    const d = FsmDriver.cluster();
    d.ok({ kind: "createToken", tokenId: "t1", secretHash: fakeHash("a"), label: "ci runner" });
    d.rejected("already_exists", { kind: "createToken", tokenId: "t1", secretHash: fakeHash("b") });
    d.rejected("invalid_argument", {
      kind: "createToken",
      tokenId: "t2",
      secretHash: new Uint8Array(16),
    });
    d.rejected("invalid_argument", {
      kind: "createToken",
      tokenId: "t2",
      secretHash: fakeHash("b"),
      expiresAtUnixMs: T0,
    });
    d.rejected("invalid_argument", {
      kind: "createToken",
      tokenId: "t2",
      secretHash: fakeHash("b"),
      label: "a\u0000b",
    });
    const reusable = toBinary(
      ConfigCommandSchema,
      create(ConfigCommandSchema, {
        atUnixMs: BigInt(T0),
        actor: "t",
        kind: {
          case: "createToken",
          value: { tokenId: "t3", secretHash: fakeHash("c"), kind: ConfigTokenKind.REUSABLE },
        },
      }),
    );
    d.rejected("invalid_argument", reusable);
    const t = d.fsm.token("t1", T0)!;
    assert.equal(t.label, "ci runner");
    assert.equal(t.createdBy, "test");
    assert.equal(t.expiresAtUnixMs, null);
    assert.equal(t.usesLeft, null);
  });

  it("verifyToken finds usable tokens by hash and names why others are not", () => {
    const d = FsmDriver.cluster();
    d.ok({ kind: "createToken", tokenId: "one", secretHash: fakeHash("one"), maxUses: 1 });
    d.ok({
      kind: "createToken",
      tokenId: "ttl",
      secretHash: fakeHash("ttl"),
      expiresAtUnixMs: T0 + 1000,
    });
    const v = d.fsm.verifyToken(fakeHash("one"), T0);
    assert.equal(v.ok && v.token.id, "one");
    assert.deepEqual(d.fsm.verifyToken(fakeHash("ttl"), T0 + 1000), {
      ok: false,
      reason: "expired",
    });
    assert.deepEqual(d.fsm.verifyToken(fakeHash("none"), T0), { ok: false, reason: "unknown" });
    assert.deepEqual(d.fsm.verifyToken(new Uint8Array(3), T0), { ok: false, reason: "unknown" });
    d.ok(enroll("one", "one"));
    assert.deepEqual(d.fsm.verifyToken(fakeHash("one"), T0), { ok: false, reason: "used_up" });
  });

  it("dead tokens are pruned by a later token command once past the retention", () => {
    const d = FsmDriver.cluster();
    d.ok({
      kind: "createToken",
      tokenId: "old",
      secretHash: fakeHash("old"),
      expiresAtUnixMs: T0 + 1000,
    });
    d.ok({ kind: "createToken", tokenId: "mid", secretHash: fakeHash("mid") }, T0 + 1000 + DAY - 1);
    assert.ok(d.fsm.token("old", T0));
    d.ok({ kind: "createToken", tokenId: "new", secretHash: fakeHash("new") }, T0 + 1000 + DAY);
    assert.equal(d.fsm.token("old", T0), null);
    assert.deepEqual(
      d.fsm.tokens(T0).map((t) => t.id),
      ["mid", "new", "tok-reusable"],
    );
  });

  it("the token table is bounded", () => {
    const d = FsmDriver.cluster();
    for (let i = 1; i < FSM_LIMITS.maxTokens; i++) {
      d.ok({ kind: "createToken", tokenId: `t${i}`, secretHash: fakeHash(`t${i}`) });
    }
    d.rejected("resource_exhausted", {
      kind: "createToken",
      tokenId: "over",
      secretHash: fakeHash("over"),
    });
  });
});
