import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create, toBinary } from "@bufbuild/protobuf";
import { ConfigCommandSchema } from "../../gen/gastrolog/v1/config_pb.js";
import { commandKindOf, encodeCommand } from "./commands.js";
import { createConfigFsm } from "./config-fsm.js";
import { FSM_LIMITS } from "./limits.js";
import { FsmInvariantError } from "./result.js";
import { DAY, FsmDriver, fakeCert, fakePem, initCommand, T0 } from "./testing.js";

type Init = Extract<ReturnType<typeof initCommand>, { kind: "initCluster" }>;
const init = (patch: Partial<Init> = {}): Init => ({ ...(initCommand() as Init), ...patch });

describe("config FSM: InitCluster and the command envelope", () => {
  it("InitCluster records identity, TLS, the reusable token and the bootstrap node as voter", () => {
    const d = new FsmDriver();
    assert.equal(d.fsm.initialized(), false);
    assert.equal(d.fsm.tls(), null);
    const r = d.ok(init());
    assert.deepEqual(r.value, { kind: "initCluster", clusterId: "c-0001" });
    assert.deepEqual(d.fsm.cluster(), { id: "c-0001", name: "test-cluster", createdAtUnixMs: T0 });
    const tls = d.fsm.tls()!;
    const i = init();
    assert.equal(tls.activeCaFingerprint, i.ca.fingerprint);
    assert.equal(tls.current.fingerprint, i.clusterCert.fingerprint);
    assert.equal(tls.current.signerFingerprint, i.ca.fingerprint);
    assert.deepEqual(tls.acceptedFingerprints, [i.clusterCert.fingerprint]);
    assert.equal(tls.rotation, null);
    assert.deepEqual(
      d.fsm.nodes().map((n) => [n.id, n.suffrage]),
      [["n1", "voter"]],
    );
    assert.deepEqual(
      d.fsm.tokens(T0).map((t) => [t.id, t.kind, t.state]),
      [["tok-reusable", "reusable", "usable"]],
    );
    assert.equal(d.fsm.audit()[0]?.kind, "cluster.initialized");
    assert.equal(d.fsm.stateIndex(), 1);
  });

  it("InitCluster twice is rejected and changes nothing", () => {
    const d = new FsmDriver();
    d.ok(init());
    const r = d.rejected("failed_precondition", init({ clusterId: "c-other" }));
    assert.match(r.message, /already initialised/);
    assert.equal(d.fsm.cluster()?.id, "c-0001");
  });

  it("commands before InitCluster are rejected", () => {
    const d = new FsmDriver();
    d.rejected("failed_precondition", { kind: "putKey", key: "k", value: "v" });
    d.rejected("failed_precondition", { kind: "recordAudit", auditKind: "enroll.failed" });
  });

  it("rejects bad TLS material in InitCluster", () => {
    const d = new FsmDriver();
    const ca = fakeCert("ca1");
    d.rejected("invalid_argument", init({ ca: { ...ca, fingerprint: "0".repeat(64) } }));
    d.rejected("invalid_argument", init({ ca: { ...ca, certPem: "not a pem" } }));
    d.rejected("invalid_argument", init({ ca: { ...ca, keyPem: fakePem("CERTIFICATE", "x") } }));
    d.rejected("invalid_argument", init({ ca: { ...ca, keyPem: "" } }));
    d.rejected(
      "invalid_argument",
      init({ ca: { ...ca, certPem: `${ca.certPem}${fakePem("CERTIFICATE", "second")}` } }),
    );
    d.rejected("failed_precondition", init({ ca: fakeCert("ca1", { notAfterUnixMs: T0 - 1 }) }));
    d.rejected(
      "invalid_argument",
      init({ ca: fakeCert("ca1", { notBeforeUnixMs: T0 + DAY, notAfterUnixMs: T0 + 1 }) }),
    );
    d.rejected(
      "invalid_argument",
      init({ clusterCert: fakeCert("cert1", { signer: fakeCert("other").fingerprint! }) }),
    );
    d.rejected(
      "invalid_argument",
      init({ clusterCert: fakeCert("ca1", { signer: ca.fingerprint! }) }),
    );
    d.rejected("invalid_argument", init({ reusableTokenSecretHash: new Uint8Array(31) }));
    d.rejected("invalid_argument", init({ clusterId: "bad id" }));
    d.rejected("invalid_argument", init({ node: { id: "n1", name: "n", clusterAddr: "0.0.0.0" } }));
    assert.equal(d.fsm.initialized(), false);
  });

  it("garbage, empty, unknown-kind and oversized commands get a typed rejection", () => {
    const d = FsmDriver.cluster();
    d.rejected("invalid_argument", new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x0f]));
    d.rejected("invalid_argument", new Uint8Array(0));
    const noKind = toBinary(
      ConfigCommandSchema,
      create(ConfigCommandSchema, { atUnixMs: BigInt(T0), actor: "x" }),
    );
    const r = d.rejected("invalid_argument", noKind);
    assert.equal(r.command, null);
    d.rejected("invalid_argument", new Uint8Array(FSM_LIMITS.maxCommandBytes + 1));
  });

  it("requires the proposer's time and an actor in the envelope", () => {
    const d = FsmDriver.cluster();
    const cmd = { kind: "putKey", key: "k", value: "v" } as const;
    d.rejected("invalid_argument", encodeCommand({ atUnixMs: 0, actor: "x" }, cmd));
    d.rejected("invalid_argument", encodeCommand({ atUnixMs: -5, actor: "x" }, cmd));
    d.rejected("invalid_argument", encodeCommand({ atUnixMs: T0, actor: "" }, cmd));
    d.rejected("invalid_argument", encodeCommand({ atUnixMs: T0, actor: "a\nb" }, cmd));
    d.rejected(
      "invalid_argument",
      encodeCommand({ atUnixMs: T0, actor: "x", originNodeId: "bad id" }, cmd),
    );
    d.ok(cmd);
  });

  it("throws FsmInvariantError for a non-increasing or invalid index", () => {
    const fsm = createConfigFsm();
    const data = encodeCommand({ atUnixMs: T0, actor: "t" }, initCommand());
    assert.equal(fsm.apply(data, 5).ok, true);
    assert.throws(() => fsm.apply(data, 5), FsmInvariantError);
    assert.throws(() => fsm.apply(data, 4), FsmInvariantError);
    assert.throws(() => fsm.apply(data, 0.5), FsmInvariantError);
    assert.equal(fsm.lastAppliedIndex(), 5);
  });

  it("a rejected command does not move the state index; an applied one does", () => {
    const d = FsmDriver.cluster();
    const before = d.fsm.stateIndex();
    d.rejected("not_found", { kind: "deleteKey", key: "k" });
    assert.equal(d.fsm.stateIndex(), before);
    assert.equal(d.fsm.lastAppliedIndex(), d.index);
    d.ok({ kind: "putKey", key: "k", value: "v" });
    assert.equal(d.fsm.stateIndex(), d.index);
  });

  it("commandKindOf names the command without decoding anything else", () => {
    assert.equal(
      commandKindOf(
        encodeCommand({ atUnixMs: T0, actor: "t" }, { kind: "revokeToken", tokenId: "x" }),
      ),
      "revokeToken",
    );
    assert.equal(commandKindOf(new Uint8Array([0xff, 0xff])), null);
  });
});
