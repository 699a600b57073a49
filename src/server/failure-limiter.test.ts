import assert from "node:assert/strict";
import { test } from "node:test";
import { createFailureLimiter } from "./failure-limiter.js";

test("failure limiter: blocks a source after maxFailures, others unaffected, then releases", () => {
  let t = 0;
  const l = createFailureLimiter({ maxFailures: 3, windowMs: 1000, now: () => t });
  for (let i = 0; i < 3; i++) {
    assert.equal(l.allow("a"), true);
    assert.equal(l.failed("a"), true);
  }
  assert.equal(l.allow("a"), false, "a is blocked after 3 failures");
  assert.equal(l.failed("a"), false, "failures past the limit are not worth auditing");
  assert.equal(l.allow("b"), true, "another source is not blocked");
  t = 1001;
  assert.equal(l.allow("a"), true, "the block ends");
});

test("failure limiter: repeat offenders are blocked longer, up to the cap", () => {
  let t = 0;
  const l = createFailureLimiter({ maxFailures: 1, windowMs: 100, maxBlockMs: 300, now: () => t });
  l.failed("a");
  t = 101;
  assert.equal(l.allow("a"), true);
  l.failed("a");
  t = 250;
  assert.equal(l.allow("a"), false, "second block is 200 ms");
  t = 302;
  assert.equal(l.allow("a"), true);
});

test("failure limiter: memory is bounded by maxSources, least recently seen evicted", () => {
  const l = createFailureLimiter({ maxSources: 100 });
  for (let i = 0; i < 10_000; i++) l.failed(`10.0.${i >> 8}.${i & 255}`);
  assert.equal(l.size(), 100);
});
