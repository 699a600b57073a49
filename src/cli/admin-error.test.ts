import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Code, ConnectError } from "@connectrpc/connect";
import { describeAdminError } from "./admin-error.js";

/** A transport failure as connect-node reports it: a ConnectError caused by an errno error. */
function socketFailure(code: string): ConnectError {
  const cause = Object.assign(new Error(`connect ${code} /h/api.sock`), { code });
  const err = new ConnectError(cause.message, Code.Internal);
  err.cause = cause;
  return err;
}

describe("describeAdminError", () => {
  it("maps socket errno codes to advice", () => {
    assert.equal(
      describeAdminError(socketFailure("ENOENT"), "/h").line(),
      "gastrolog: no gastrolog node is running with home /h (no api.sock). Start one with: gastrolog server --home /h",
    );
    assert.match(
      describeAdminError(socketFailure("ECONNREFUSED"), "/h").line(),
      /api\.sock is stale/,
    );
    assert.equal(
      describeAdminError(socketFailure("EACCES"), "/h").line(),
      "gastrolog: permission denied on /h/api.sock (the socket is mode 0600) — run the command as the user the node runs as",
    );
    assert.match(
      describeAdminError(socketFailure("ECONNRESET"), "/h").line(),
      /closed the connection/,
    );
  });

  it("maps Connect codes to one line with the server's message", () => {
    const cases: [Code, RegExp][] = [
      [Code.InvalidArgument, /^gastrolog: bad\b.*— check the arguments/],
      [Code.NotFound, /^gastrolog: bad\b[^—]*$/],
      [Code.FailedPrecondition, /— check `gastrolog cluster status` and retry$/],
      [Code.Unavailable, /lost quorum/],
      [Code.DeadlineExceeded, /^gastrolog: timed out: bad/],
      [Code.PermissionDenied, /^gastrolog: not allowed: bad/],
      [Code.Unimplemented, /does not support this command/],
      [Code.Internal, /^gastrolog: the node failed: bad.*see the node's log$/],
    ];
    for (const [code, want] of cases) {
      const err = describeAdminError(new ConnectError("bad\nthing", code), "/h");
      assert.equal(err.exitCode, 1);
      assert.match(err.line(), want, Code[code]);
      assert.ok(!err.line().includes("\n"));
    }
  });

  it("rethrows what is neither a socket nor a Connect error (a bug shows its trace)", () => {
    const bug = new TypeError("x is undefined");
    assert.throws(() => describeAdminError(bug, "/h"), bug);
  });
});
