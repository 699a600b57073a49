import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createConfigFsm } from "./config-fsm.js";
import { FSM_LIMITS } from "./limits.js";
import { FsmDriver } from "./testing.js";

describe("config FSM: nodes", () => {
  it("UpdateNode records promotion and demotion, with audit kinds to match", () => {
    const d = FsmDriver.cluster(2);
    assert.equal(d.fsm.node("n2")!.suffrage, "voter");
    d.ok({ kind: "updateNode", nodeId: "n2", suffrage: "nonvoter" });
    assert.equal(d.fsm.node("n2")!.suffrage, "nonvoter");
    d.ok({ kind: "updateNode", nodeId: "n2", suffrage: "voter", apiAddr: "10.1.1.1:4564" });
    assert.equal(d.fsm.node("n2")!.apiAddr, "10.1.1.1:4564");
    d.ok({ kind: "updateNode", nodeId: "n2", name: "renamed" });
    const auditLength = d.fsm.audit().length;
    // Repeating a promotion (a retry after a leader change) is accepted and records nothing.
    d.ok({ kind: "updateNode", nodeId: "n2", suffrage: "voter" });
    assert.equal(d.fsm.audit().length, auditLength);
    const kinds = d.fsm.audit().map((a) => a.kind);
    assert.deepEqual(kinds.slice(-3), ["node.demoted", "node.promoted", "node.updated"]);
  });

  it("an operator's target suffrage (setTarget) is what the node is steered to; the recorded one follows Raft", () => {
    const d = FsmDriver.cluster(2);
    assert.equal(d.fsm.node("n2")!.targetSuffrage, "voter");
    d.ok({ kind: "updateNode", nodeId: "n2", suffrage: "nonvoter", setTarget: true });
    assert.equal(d.fsm.node("n2")!.targetSuffrage, "nonvoter");
    assert.equal(d.fsm.node("n2")!.suffrage, "voter", "recorded once Raft has made the change");
    const audit = d.fsm.audit().length;
    d.ok({ kind: "updateNode", nodeId: "n2", suffrage: "nonvoter", setTarget: true });
    assert.equal(d.fsm.audit().length, audit, "repeating it records nothing");
    assert.equal(d.fsm.audit().at(-1)?.kind, "node.target_set");
    // The system recording Raft's change does not move the target back.
    d.ok({ kind: "updateNode", nodeId: "n2", suffrage: "nonvoter" });
    d.ok({ kind: "updateNode", nodeId: "n2", suffrage: "voter" });
    assert.equal(d.fsm.node("n2")!.targetSuffrage, "nonvoter");
    d.ok({ kind: "updateNode", nodeId: "n2", suffrage: "voter", setTarget: true });
    assert.equal(d.fsm.node("n2")!.targetSuffrage, "voter");
    d.rejected("invalid_argument", { kind: "updateNode", nodeId: "n2", setTarget: true });
    // Survives a snapshot.
    const other = createConfigFsm();
    other.restore(d.fsm.snapshot());
    assert.equal(other.node("n2")!.targetSuffrage, "voter");
  });

  it("the last voter cannot be demoted or removed without force", () => {
    const d = FsmDriver.cluster(2);
    d.ok({ kind: "updateNode", nodeId: "n2", suffrage: "nonvoter" });
    d.rejected("failed_precondition", { kind: "updateNode", nodeId: "n1", suffrage: "nonvoter" });
    d.rejected("failed_precondition", { kind: "removeNode", nodeId: "n1" });
    d.ok({ kind: "removeNode", nodeId: "n2" });
    d.ok({ kind: "removeNode", nodeId: "n1", force: true });
    assert.deepEqual(d.fsm.nodes(), []);
  });

  it("unknown node ids are rejected by remove, update and ack", () => {
    const d = FsmDriver.cluster();
    d.rejected("not_found", { kind: "removeNode", nodeId: "ghost" });
    d.rejected("not_found", { kind: "updateNode", nodeId: "ghost", suffrage: "voter" });
    d.rejected("invalid_argument", { kind: "removeNode", nodeId: "" });
    d.rejected("invalid_argument", { kind: "updateNode", nodeId: "n1" });
    d.rejected("invalid_argument", { kind: "updateNode", nodeId: "n1", clusterAddr: "nope" });
  });
});

describe("config FSM: audit trail", () => {
  it("RecordAudit stores an outside event with time, node and actor; details are sorted", () => {
    const d = FsmDriver.cluster();
    const r = d.ok(
      {
        kind: "recordAudit",
        auditKind: "enroll.failed",
        details: { source: "10.9.9.9:5000", reason: "mismatch" },
      },
      d.now + 5,
      "node:n1",
    );
    const last = d.fsm.audit().at(-1)!;
    assert.equal(r.value.kind === "recordAudit" && r.value.seq, last.seq);
    assert.deepEqual(last, {
      seq: last.seq,
      atUnixMs: d.now + 5,
      index: d.index,
      nodeId: "n1",
      actor: "node:n1",
      kind: "enroll.failed",
      details: { reason: "mismatch", source: "10.9.9.9:5000" },
    });
  });

  it("RecordAudit refuses bad kinds, bad keys, oversized values and key material", () => {
    const d = FsmDriver.cluster();
    d.rejected("invalid_argument", { kind: "recordAudit", auditKind: "Bad Kind" });
    d.rejected("invalid_argument", {
      kind: "recordAudit",
      auditKind: "x",
      details: { "Bad-Key": "v" },
    });
    d.rejected("invalid_argument", {
      kind: "recordAudit",
      auditKind: "x",
      details: Object.fromEntries([["__proto__", "v"]]),
    });
    d.rejected("invalid_argument", {
      kind: "recordAudit",
      auditKind: "x",
      details: { v: "y".repeat(FSM_LIMITS.maxAuditValueChars + 1) },
    });
    d.rejected("invalid_argument", {
      kind: "recordAudit",
      auditKind: "x",
      details: { v: "-----BEGIN PRIVATE KEY-----" },
    });
    const many: Record<string, string> = {};
    for (let i = 0; i <= FSM_LIMITS.maxAuditDetails; i++) many[`k${i}`] = "v";
    d.rejected("invalid_argument", { kind: "recordAudit", auditKind: "x", details: many });
  });

  it("is bounded: keeps the newest entries, sequence numbers keep counting", () => {
    const d = FsmDriver.cluster();
    const extra = FSM_LIMITS.auditEntries + 50;
    for (let i = 0; i < extra; i++) {
      d.ok({ kind: "recordAudit", auditKind: "test.event", details: { i: String(i) } });
    }
    const audit = d.fsm.audit();
    assert.equal(audit.length, FSM_LIMITS.auditEntries);
    assert.equal(audit.at(-1)!.details.i, String(extra - 1));
    assert.equal(audit[0]!.details.i, String(extra - FSM_LIMITS.auditEntries));
    for (let i = 1; i < audit.length; i++) assert.equal(audit[i]!.seq, audit[i - 1]!.seq + 1);
    // The init entry (seq 1) has been dropped; the newest has seq = 1 + extra.
    assert.equal(audit.at(-1)!.seq, 1 + extra);
  });
});
