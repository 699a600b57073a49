import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { AsyncQueue } from "./async-queue.js";
import { nextOrAbort } from "./grpc-transport.js";

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

describe("nextOrAbort (the inbound Raft stream's read loop)", () => {
  it("keeps nothing it delivered alive while the stream stays open", async () => {
    const q = new AsyncQueue<{ payload: Uint8Array }>();
    const stop = new AbortController();
    const it = q[Symbol.asyncIterator]();
    const refs: WeakRef<object>[] = [];
    for (let i = 0; i < 200; i++) {
      const item = { payload: new Uint8Array(1024) };
      refs.push(new WeakRef(item));
      q.push(item);
      const r = await nextOrAbort(it, stop.signal);
      assert.equal(r.done, false);
    }
    // Let the settled promises' reactions run, then collect.
    await new Promise((r) => setImmediate(r));
    gc();
    const alive = refs.filter((r) => r.deref() !== undefined).length;
    // Racing against one long-lived "stopped" promise kept all 200 alive.
    assert.ok(alive <= 2, `${alive} of 200 delivered batches are still reachable`);
    stop.abort();
  });

  it("answers done at once when the signal aborts while next() is pending, or was aborted before", async () => {
    const q = new AsyncQueue<number>();
    const stop = new AbortController();
    const pending = nextOrAbort(q[Symbol.asyncIterator](), stop.signal);
    stop.abort();
    assert.deepEqual(await pending, { done: true, value: undefined });
    assert.deepEqual(await nextOrAbort(q[Symbol.asyncIterator](), stop.signal), {
      done: true,
      value: undefined,
    });
  });
});
