import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { ConfigStateSchema } from "../../gen/gastrolog/v1/config_pb.js";
import type { CommandInput } from "./commands.js";
import { encodeCommand } from "./commands.js";
import type { ConfigFsm } from "./config-fsm.js";
import { createConfigFsm } from "./config-fsm.js";
import type { FsmEvent } from "./events.js";
import { FsmInvariantError, FsmRestoreError } from "./result.js";
import { FsmDriver, fakeHash, richScript, T0 } from "./testing.js";

function run(steps: [CommandInput, number][]): FsmDriver {
  const d = new FsmDriver();
  for (const [cmd, at] of steps) d.ok(cmd, at);
  return d;
}

function everyView(fsm: ConfigFsm) {
  return {
    cluster: fsm.cluster(),
    tls: fsm.tls(),
    tokens: fsm.tokens(T0 + 100),
    nodes: fsm.nodes(),
    kv: fsm.list(),
    revision: fsm.revision(),
    audit: fsm.audit(),
    stateIndex: fsm.stateIndex(),
    verify: fsm.verifyToken(fakeHash("tz"), T0 + 100),
    material: JSON.stringify(fsm.secrets.tlsMaterial()),
    caKey: fsm.secrets.activeCa()?.keyPem.reveal(),
  };
}

describe("config FSM: snapshots", () => {
  it("snapshot → restore → snapshot is byte-identical and the restored FSM answers the same", () => {
    const d = run(richScript());
    const snap = d.fsm.snapshot();
    const other = createConfigFsm();
    other.restore(snap);
    assert.deepEqual(Buffer.from(other.snapshot()), Buffer.from(snap));
    assert.deepEqual(everyView(other), everyView(d.fsm));
    assert.equal(other.lastAppliedIndex(), d.fsm.stateIndex());
    // And it keeps working identically afterwards.
    const next = new FsmDriver(other);
    next.index = d.index;
    const cmd: CommandInput = { kind: "putKey", key: "after", value: "restore" };
    assert.deepEqual(next.ok(cmd, T0 + 60), d.ok(cmd, T0 + 60));
    assert.deepEqual(Buffer.from(other.snapshot()), Buffer.from(d.fsm.snapshot()));
  });

  it("restore with the Raft index refuses later applies at or below it", () => {
    const d = run(richScript());
    const other = createConfigFsm();
    other.restore(d.fsm.snapshot(), d.index + 5);
    assert.equal(other.lastAppliedIndex(), d.index + 5);
    const put = encodeCommand(
      { atUnixMs: T0, actor: "t" },
      { kind: "putKey", key: "k", value: "v" },
    );
    assert.throws(() => other.apply(put, d.index + 5), FsmInvariantError);
    assert.equal(other.apply(put, d.index + 6).ok, true);
  });

  it("an empty FSM snapshots and restores too", () => {
    const a = createConfigFsm();
    const b = createConfigFsm();
    b.restore(a.snapshot());
    assert.deepEqual(Buffer.from(b.snapshot()), Buffer.from(a.snapshot()));
    assert.equal(b.initialized(), false);
  });

  it("is deterministic: two FSMs fed the same commands produce identical snapshots", () => {
    const a = run(richScript());
    const b = run(richScript());
    assert.deepEqual(Buffer.from(a.fsm.snapshot()), Buffer.from(b.fsm.snapshot()));
  });

  it("writes every map sorted, whatever the insertion order", () => {
    const d = run(richScript());
    const msg = fromBinary(ConfigStateSchema, d.fsm.snapshot());
    const sorted = (xs: string[]) => [...xs].sort();
    const keys = msg.kv.map((e) => e.key);
    assert.deepEqual(keys, ["alpha/1", "alpha/2", "zeta"]);
    const tokens = msg.tokens.map((t) => t.id);
    assert.deepEqual(tokens, sorted(tokens));
    const nodes = msg.nodes.map((n) => n.info?.id ?? "");
    assert.deepEqual(nodes, ["n1", "n2", "n3", "n4"]);
    const cas = msg.cas.map((c) => c.cert?.fingerprint ?? "");
    assert.deepEqual(cas, sorted(cas));
    assert.deepEqual(msg.rotation?.ackedBy, ["n1", "n3"]);
  });

  it("restore of garbage, a wrong format version or broken invariants throws and keeps the state", () => {
    const d = run(richScript());
    const before = Buffer.from(d.fsm.snapshot());
    const bad = [
      new Uint8Array([0xff, 0xff, 0xff]),
      toBinary(ConfigStateSchema, create(ConfigStateSchema, { formatVersion: 99 })),
      toBinary(
        ConfigStateSchema,
        create(ConfigStateSchema, {
          formatVersion: 1,
          cluster: { id: "c", name: "n", createdAtUnixMs: 1n },
        }),
      ),
      toBinary(
        ConfigStateSchema,
        create(ConfigStateSchema, {
          formatVersion: 1,
          kv: [{ key: "b" }, { key: "a" }],
        }),
      ),
    ];
    // A real snapshot with its keys out of order.
    const reordered = fromBinary(ConfigStateSchema, before);
    reordered.kv.reverse();
    bad.push(toBinary(ConfigStateSchema, reordered));
    for (const bytes of bad) {
      assert.throws(() => d.fsm.restore(bytes), FsmRestoreError);
      assert.deepEqual(Buffer.from(d.fsm.snapshot()), before);
    }
  });

  it("restore notifies subscribers and KV watchers with a reset", () => {
    const d = run(richScript());
    const fresh = createConfigFsm();
    const events: FsmEvent[] = [];
    fresh.subscribe((e) => events.push(e));
    const kv: string[] = [];
    fresh.watch("alpha/", (e) => kv.push(e.type));
    fresh.restore(d.fsm.snapshot());
    assert.deepEqual(
      events.map((e) => e.type),
      ["restored", "kv"],
    );
    assert.deepEqual(kv, ["reset"]);
  });
});
