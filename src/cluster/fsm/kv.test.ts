import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createConfigFsm } from "./config-fsm.js";
import type { KvEvent } from "./events.js";
import { FSM_LIMITS } from "./limits.js";
import { FsmDriver, initCommand } from "./testing.js";

const text = (v: Uint8Array | undefined): string => new TextDecoder().decode(v);

describe("config FSM: key/value entries", () => {
  it("put then get, list by prefix, revisions per key and global", () => {
    const d = FsmDriver.cluster();
    const r1 = d.ok({ kind: "putKey", key: "a/x", value: "1" });
    assert.deepEqual(r1.value, { kind: "putKey", key: "a/x", revision: 1, version: 1 });
    d.ok({ kind: "putKey", key: "b/y", value: "2" });
    const r3 = d.ok({ kind: "putKey", key: "a/x", value: "3" });
    assert.deepEqual(r3.value, { kind: "putKey", key: "a/x", revision: 3, version: 2 });
    const e = d.fsm.get("a/x");
    assert.ok(e);
    assert.equal(text(e.value), "3");
    assert.equal(e.createRevision, 1);
    assert.equal(e.modRevision, 3);
    assert.equal(d.fsm.revision(), 3);
    assert.deepEqual(
      d.fsm.list("a/").map((x) => x.key),
      ["a/x"],
    );
    assert.deepEqual(
      d.fsm.list().map((x) => x.key),
      ["a/x", "b/y"],
    );
    assert.equal(d.fsm.get("nope"), null);
  });

  it("views are copies: mutating a returned value does not change the state", () => {
    const d = FsmDriver.cluster();
    d.ok({ kind: "putKey", key: "k", value: "abc" });
    const e = d.fsm.get("k")!;
    (e.value as Uint8Array)[0] = 0x7a;
    assert.equal(text(d.fsm.get("k")!.value), "abc");
  });

  it("compare-and-set: expected 0 means must not exist; N must match the mod revision", () => {
    const d = FsmDriver.cluster();
    d.ok({ kind: "putKey", key: "k", value: "v1", expectedRevision: 0 });
    d.rejected("failed_precondition", {
      kind: "putKey",
      key: "k",
      value: "v2",
      expectedRevision: 0,
    });
    d.rejected("failed_precondition", {
      kind: "putKey",
      key: "k",
      value: "v2",
      expectedRevision: 7,
    });
    d.rejected("failed_precondition", {
      kind: "putKey",
      key: "absent",
      value: "v",
      expectedRevision: 1,
    });
    const rev = d.fsm.get("k")!.modRevision;
    d.ok({ kind: "putKey", key: "k", value: "v2", expectedRevision: rev });
    assert.equal(text(d.fsm.get("k")!.value), "v2");
  });

  it("delete: unknown key is not_found, CAS on delete, delete 0 is invalid", () => {
    const d = FsmDriver.cluster();
    d.rejected("not_found", { kind: "deleteKey", key: "k" });
    d.ok({ kind: "putKey", key: "k", value: "v" });
    d.rejected("failed_precondition", { kind: "deleteKey", key: "k", expectedRevision: 99 });
    d.rejected("invalid_argument", { kind: "deleteKey", key: "k", expectedRevision: 0 });
    const r = d.ok({ kind: "deleteKey", key: "k", expectedRevision: 1 });
    assert.deepEqual(r.value, { kind: "deleteKey", key: "k", revision: 2 });
    assert.equal(d.fsm.get("k"), null);
    // Re-creating starts a new life: create revision and version reset.
    d.ok({ kind: "putKey", key: "k", value: "again" });
    assert.equal(d.fsm.get("k")!.createRevision, 3);
    assert.equal(d.fsm.get("k")!.version, 1);
  });

  it("rejects bad and oversized keys and oversized values, changing nothing", () => {
    const d = FsmDriver.cluster();
    d.rejected("invalid_argument", { kind: "putKey", key: "", value: "v" });
    d.rejected("invalid_argument", { kind: "putKey", key: "has space", value: "v" });
    d.rejected("invalid_argument", { kind: "putKey", key: "ünïcode", value: "v" });
    d.rejected("invalid_argument", { kind: "putKey", key: "k".repeat(257), value: "v" });
    d.ok({ kind: "putKey", key: "k".repeat(256), value: "v" });
    d.rejected("invalid_argument", {
      kind: "putKey",
      key: "big",
      value: new Uint8Array(FSM_LIMITS.maxValueBytes + 1),
    });
    d.ok({ kind: "putKey", key: "big", value: new Uint8Array(FSM_LIMITS.maxValueBytes) });
  });

  it("refuses writes past the total size limit with resource_exhausted", () => {
    const d = FsmDriver.cluster();
    const v = new Uint8Array(FSM_LIMITS.maxValueBytes);
    const n = Math.floor(FSM_LIMITS.maxKvTotalBytes / (v.length + 8));
    for (let i = 0; i < n; i++)
      d.ok({ kind: "putKey", key: `k${String(i).padStart(6, "0")}`, value: v });
    d.rejected("resource_exhausted", { kind: "putKey", key: "one-more", value: v });
    // Overwriting an existing key with a smaller value still works.
    d.ok({ kind: "putKey", key: "k000000", value: "small" });
  });

  it("watch delivers applied puts and deletes under the prefix, and stops on unsubscribe", () => {
    const d = FsmDriver.cluster();
    const seen: KvEvent[] = [];
    const stop = d.fsm.watch("app/", (e) => seen.push(e));
    d.ok({ kind: "putKey", key: "app/one", value: "1" });
    d.ok({ kind: "putKey", key: "other", value: "x" });
    d.rejected("not_found", { kind: "deleteKey", key: "app/none" });
    d.ok({ kind: "deleteKey", key: "app/one" });
    stop();
    d.ok({ kind: "putKey", key: "app/two", value: "2" });
    assert.deepEqual(
      seen.map((e) => [e.type, e.type === "reset" ? "" : e.key, e.revision]),
      [
        ["put", "app/one", 1],
        ["delete", "app/one", 3],
      ],
    );
  });

  it("a throwing listener does not break apply or other listeners", () => {
    const errors: unknown[] = [];
    const d = new FsmDriver(createConfigFsm({ onListenerError: (e) => errors.push(e) }));
    d.ok(initCommand());
    let got = 0;
    d.fsm.watch("", () => {
      throw new Error("boom");
    });
    d.fsm.watch("", () => {
      got++;
    });
    d.ok({ kind: "putKey", key: "k", value: "v" });
    assert.equal(got, 1);
    assert.equal(errors.length, 1);
    assert.equal(text(d.fsm.get("k")!.value), "v");
  });
});
