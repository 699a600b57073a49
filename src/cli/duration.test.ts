import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DurationError, formatSeconds, humanizeMs, parseDuration } from "./duration.js";

describe("parseDuration", () => {
  const valid: [string, number][] = [
    ["30s", 30],
    ["30m", 1_800],
    ["1h", 3_600],
    ["7d", 604_800],
    ["1h30m", 5_400],
    ["1d12h", 129_600],
    ["2d3h4m5s", 2 * 86_400 + 3 * 3_600 + 4 * 60 + 5],
    [" 90m ", 5_400],
    ["0h30m", 1_800],
    ["36500d", 36_500 * 86_400],
  ];
  for (const [text, seconds] of valid) {
    it(`reads ${JSON.stringify(text)} as ${seconds}s`, () => {
      assert.equal(parseDuration(text), seconds);
    });
  }

  const invalid: [string, RegExp][] = [
    ["", /empty duration/],
    ["0", /is zero/],
    ["0s", /is zero/],
    ["0h0m", /is zero/],
    ["-1h", /negative/],
    ["90", /has no unit/],
    ["1.5h", /not a whole number.*1h30m/],
    ["1w", /unknown unit "w"/],
    ["1H", /unknown unit "H"/],
    ["30m1h", /largest first/],
    ["1h1h", /largest first/],
    ["h", /expected a number and a unit/],
    ["1h 30m", /expected a number and a unit/],
    ["+1h", /expected a number and a unit/],
    ["36501d", /too long/],
    ["99999999999999999999s", /too long/],
  ];
  for (const [text, message] of invalid) {
    it(`refuses ${JSON.stringify(text)} with a message matching ${message}`, () => {
      assert.throws(
        () => parseDuration(text),
        (err: unknown) => {
          assert.ok(err instanceof DurationError);
          assert.match(err.message, message);
          return true;
        },
      );
    });
  }
});

describe("formatSeconds", () => {
  it("writes the parser's notation and round-trips", () => {
    for (const s of [1, 59, 60, 5_400, 86_400, 129_661]) {
      assert.equal(parseDuration(formatSeconds(s)), s);
    }
    assert.equal(formatSeconds(5_400), "1h30m");
    assert.equal(formatSeconds(86_400), "1d");
  });
});

describe("humanizeMs", () => {
  it("uses one unit, rounded down", () => {
    assert.deepEqual(
      [
        0,
        999,
        1_000,
        59_999,
        60_000,
        3_599_999,
        3_600_000,
        86_399_999,
        86_400_000,
        3 * 86_400_000 + 5,
      ].map(humanizeMs),
      ["0ms", "999ms", "1s", "59s", "1m", "59m", "1h", "23h", "1d", "3d"],
    );
    assert.equal(humanizeMs(-90_000), "-1m");
  });
});
