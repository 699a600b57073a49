import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type CommandInput, encodeCommand } from "../cluster/fsm/index.js";
import { rotationCommandOf, rotationCommandOfInput } from "./cluster-node.js";

const FP = "ab".repeat(32);

describe("which commands the leader treats as a rotation's ack or finish", () => {
  it("reads the same from a command before encoding as from its encoded bytes", () => {
    const commands: CommandInput[] = [
      { kind: "ackRotation", nodeId: "n2", fingerprint: FP },
      { kind: "finishRotation", fingerprint: FP },
      { kind: "finishRotation", fingerprint: FP, force: true },
      { kind: "putKey", key: "k", value: "v" },
      { kind: "deleteKey", key: "k" },
    ];
    for (const c of commands) {
      const bytes = encodeCommand({ atUnixMs: 1, actor: "test" }, c);
      assert.deepEqual(rotationCommandOfInput(c), rotationCommandOf(bytes), c.kind);
    }
    assert.deepEqual(rotationCommandOfInput(commands[0]!), {
      kind: "ack",
      nodeId: "n2",
      fingerprint: FP,
    });
    assert.deepEqual(rotationCommandOfInput(commands[1]!), { kind: "finish" });
    assert.equal(rotationCommandOfInput(commands[3]!), null);
    assert.equal(rotationCommandOf(new Uint8Array([0xff, 0xff])), null, "garbage decodes to none");
  });
});
