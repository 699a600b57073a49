import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { FsmEvent } from "./events.js";
import { FsmDriver, fakeCert, fakeHash, initCommand, T0 } from "./testing.js";

const init = initCommand() as Extract<ReturnType<typeof initCommand>, { kind: "initCluster" }>;
const CA1 = init.ca.fingerprint!;
const CERT1 = init.clusterCert.fingerprint!;
const cert2 = fakeCert("cert2");
const CERT2 = cert2.fingerprint!;

describe("config FSM: certificate rotation", () => {
  it("begin → acks from every member → finish; accepted set goes {old,new} then {new}", () => {
    const d = FsmDriver.cluster(3);
    const events: FsmEvent[] = [];
    d.fsm.subscribe((e) => events.push(e));
    const b = d.ok({ kind: "beginRotation", cert: cert2 });
    assert.deepEqual(b.value, {
      kind: "beginRotation",
      fingerprint: CERT2,
      pending: ["n1", "n2", "n3"],
    });
    let tls = d.fsm.tls()!;
    assert.deepEqual(tls.acceptedFingerprints, [CERT2, CERT1]);
    assert.equal(tls.current.fingerprint, CERT2);
    assert.equal(tls.current.signerFingerprint, CA1);
    assert.equal(tls.previous?.fingerprint, CERT1);
    assert.equal(tls.rotation?.oldFingerprint, CERT1);
    assert.ok(events.some((e) => e.type === "tls" && e.change === "rotation_begun"));

    d.rejected("failed_precondition", { kind: "finishRotation", fingerprint: CERT2 });
    d.ok({ kind: "ackRotation", nodeId: "n1", fingerprint: CERT2 });
    const dup = d.ok({ kind: "ackRotation", nodeId: "n1", fingerprint: CERT2 });
    assert.equal(dup.value.kind === "ackRotation" && dup.value.alreadyAcked, true);
    d.ok({ kind: "ackRotation", nodeId: "n2", fingerprint: CERT2 });
    tls = d.fsm.tls()!;
    assert.deepEqual(tls.rotation?.ackedBy, ["n1", "n2"]);
    assert.deepEqual(tls.rotation?.pending, ["n3"]);
    const held = d.rejected("failed_precondition", { kind: "finishRotation", fingerprint: CERT2 });
    assert.match(held.message, /n3/);
    d.ok({ kind: "ackRotation", nodeId: "n3", fingerprint: CERT2 });
    const f = d.ok({ kind: "finishRotation", fingerprint: CERT2 });
    assert.deepEqual(f.value, {
      kind: "finishRotation",
      fingerprint: CERT2,
      forced: false,
      leftBehind: [],
    });
    tls = d.fsm.tls()!;
    assert.deepEqual(tls.acceptedFingerprints, [CERT2]);
    assert.equal(tls.previous, null);
    assert.equal(tls.rotation, null);
    assert.deepEqual(tls.lastRotation?.leftBehind, []);
    assert.deepEqual(
      d.fsm
        .audit()
        .filter((a) => a.kind.startsWith("cert."))
        .map((a) => a.kind),
      [
        "cert.rotation_begun",
        "cert.rotation_acked",
        "cert.rotation_acked",
        "cert.rotation_acked",
        "cert.rotation_finished",
      ],
    );
  });

  it("force finishes with members pending and names them as left behind", () => {
    const d = FsmDriver.cluster(3);
    d.ok({ kind: "beginRotation", cert: cert2 });
    d.ok({ kind: "ackRotation", nodeId: "n1", fingerprint: CERT2 });
    const f = d.ok({ kind: "finishRotation", fingerprint: CERT2, force: true });
    assert.deepEqual(f.value, {
      kind: "finishRotation",
      fingerprint: CERT2,
      forced: true,
      leftBehind: ["n2", "n3"],
    });
    assert.deepEqual(d.fsm.tls()!.lastRotation, {
      fingerprint: CERT2,
      finishedAtUnixMs: T0,
      forced: true,
      leftBehind: ["n2", "n3"],
    });
  });

  it("pending members are computed from the current nodes: removing one releases it, a new one is acked", () => {
    const d = FsmDriver.cluster(3);
    d.ok({ kind: "beginRotation", cert: cert2 });
    d.ok({ kind: "ackRotation", nodeId: "n1", fingerprint: CERT2 });
    d.ok({ kind: "ackRotation", nodeId: "n2", fingerprint: CERT2 });
    d.ok({ kind: "removeNode", nodeId: "n3" });
    assert.deepEqual(d.fsm.tls()!.rotation?.pending, []);
    d.ok({
      kind: "enrollNode",
      tokenId: "tok-reusable",
      secretHash: fakeHash("reusable"),
      node: { id: "n9", name: "late", clusterAddr: "10.0.0.9:4566" },
    });
    assert.deepEqual(d.fsm.tls()!.rotation?.pending, []);
    d.ok({ kind: "finishRotation", fingerprint: CERT2 });
  });

  it("rejects stale or misdirected rotation commands without changing anything", () => {
    const d = FsmDriver.cluster(2);
    d.rejected("failed_precondition", { kind: "ackRotation", nodeId: "n1", fingerprint: CERT2 });
    d.rejected("failed_precondition", { kind: "finishRotation", fingerprint: CERT2 });
    d.rejected("failed_precondition", { kind: "beginRotation", cert: fakeCert("cert1") });
    d.rejected("failed_precondition", {
      kind: "beginRotation",
      cert: fakeCert("x", { signer: fakeCert("zz").fingerprint! }),
    });
    d.rejected("failed_precondition", {
      kind: "beginRotation",
      cert: fakeCert("x", { notAfterUnixMs: T0 }),
    });
    d.ok({ kind: "beginRotation", cert: cert2 });
    d.rejected("failed_precondition", { kind: "beginRotation", cert: fakeCert("cert3") });
    d.rejected("failed_precondition", { kind: "ackRotation", nodeId: "n1", fingerprint: CERT1 });
    d.rejected("not_found", { kind: "ackRotation", nodeId: "ghost", fingerprint: CERT2 });
    d.rejected("failed_precondition", { kind: "finishRotation", fingerprint: CERT1, force: true });
  });
});

describe("config FSM: trusted CAs", () => {
  const ca2 = fakeCert("ca2");
  const CA2 = ca2.fingerprint!;

  it("two-phase CA rotation: add, activate, rotate the certificate, retire the old CA", () => {
    const d = FsmDriver.cluster(2);
    d.ok({ kind: "addTrustedCa", ca: ca2 });
    assert.deepEqual(
      d.fsm
        .tls()!
        .trustedCas.map((c) => [c.fingerprint, c.active])
        .sort(),
      [
        [CA1, true],
        [CA2, false],
      ].sort(),
    );
    // New certificates must come from the active CA.
    d.rejected("failed_precondition", {
      kind: "beginRotation",
      cert: fakeCert("cert-b", { signer: CA2 }),
    });
    d.ok({ kind: "setActiveCa", fingerprint: CA2 });
    const certB = fakeCert("cert-b", { signer: CA2 });
    d.ok({ kind: "beginRotation", cert: certB });
    // The old CA signed the previous certificate: not while the rotation is open.
    d.rejected("failed_precondition", { kind: "retireCa", fingerprint: CA1 });
    d.ok({ kind: "ackRotation", nodeId: "n1", fingerprint: certB.fingerprint! });
    d.ok({ kind: "ackRotation", nodeId: "n2", fingerprint: certB.fingerprint! });
    d.ok({ kind: "finishRotation", fingerprint: certB.fingerprint! });
    d.ok({ kind: "retireCa", fingerprint: CA1 });
    const tls = d.fsm.tls()!;
    assert.deepEqual(
      tls.trustedCas.map((c) => c.fingerprint),
      [CA2],
    );
    assert.equal(tls.activeCaFingerprint, CA2);
    assert.equal(d.fsm.secrets.tlsMaterial()!.trustedCaCertsPem.length, 1);
  });

  it("cannot retire the CA that signs the current certificate, the active CA, or the last CA", () => {
    const d = FsmDriver.cluster();
    const last = d.rejected("failed_precondition", { kind: "retireCa", fingerprint: CA1 });
    assert.match(last.message, /last trusted CA/);
    d.ok({ kind: "addTrustedCa", ca: ca2, activate: true });
    const r = d.rejected("failed_precondition", { kind: "retireCa", fingerprint: CA1 });
    assert.match(r.message, /signed the current cluster certificate/);
    d.rejected("failed_precondition", { kind: "retireCa", fingerprint: CA2 });
    d.rejected("not_found", { kind: "retireCa", fingerprint: "a".repeat(64) });
    d.rejected("invalid_argument", { kind: "retireCa", fingerprint: "xyz" });
  });

  it("AddTrustedCA rejects duplicates, non-self-signed CAs and too many CAs", () => {
    const d = FsmDriver.cluster();
    d.rejected("already_exists", { kind: "addTrustedCa", ca: fakeCert("ca1") });
    d.rejected("invalid_argument", { kind: "addTrustedCa", ca: fakeCert("ca9", { signer: CA1 }) });
    for (let i = 2; i <= 8; i++) d.ok({ kind: "addTrustedCa", ca: fakeCert(`ca${i}`) });
    d.rejected("resource_exhausted", { kind: "addTrustedCa", ca: fakeCert("ca-extra") });
    d.rejected("not_found", { kind: "setActiveCa", fingerprint: "b".repeat(64) });
  });
});

describe("config FSM: eviction in one entry", () => {
  it("RemoveNode can begin a rotation and rotate the reusable token atomically", () => {
    const d = FsmDriver.cluster(3);
    const r = d.ok({
      kind: "removeNode",
      nodeId: "n3",
      beginRotation: { cert: cert2 },
      rotateReusableToken: { newTokenId: "tok-3", newSecretHash: fakeHash("after-evict") },
    });
    assert.deepEqual(r.value, {
      kind: "removeNode",
      nodeId: "n3",
      rotationFingerprint: CERT2,
      newReusableTokenId: "tok-3",
    });
    assert.equal(d.fsm.node("n3"), null);
    assert.deepEqual(d.fsm.tls()!.rotation?.pending, ["n1", "n2"]);
    assert.deepEqual(d.fsm.verifyToken(fakeHash("reusable"), T0), { ok: false, reason: "revoked" });
    assert.deepEqual(
      d.fsm
        .audit()
        .slice(-3)
        .map((a) => a.kind),
      ["node.removed", "cert.rotation_begun", "token.rotated"],
    );
  });

  it("if any part is invalid, nothing happens: the node stays and no rotation begins", () => {
    const d = FsmDriver.cluster(3);
    d.rejected("already_exists", {
      kind: "removeNode",
      nodeId: "n3",
      beginRotation: { cert: cert2 },
      rotateReusableToken: { newTokenId: "tok-reusable", newSecretHash: fakeHash("x") },
    });
    d.rejected("failed_precondition", {
      kind: "removeNode",
      nodeId: "n3",
      beginRotation: { cert: fakeCert("cert1") },
    });
    assert.ok(d.fsm.node("n3"));
    assert.equal(d.fsm.tls()!.rotation, null);
  });
});
