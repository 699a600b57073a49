import assert from "node:assert/strict";
import { link, mkdtemp, rm, stat } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  type AdminServerDouble,
  DOUBLE_FP,
  DOUBLE_NOW_MS,
  DOUBLE_ROTATED_TOKEN,
  DOUBLE_TOKEN,
  startAdminServerDouble,
} from "./testing/admin-server-double.js";
import { runCli } from "./testing/captured-io.js";

/**
 * The real CLI client against the admin-API test double on a real unix socket in a temp
 * directory: transport, encoding, streaming and error mapping, end to end.
 */

/** The last request the double received for `method`; fails the test if there was none. */
function lastRequest(double: AdminServerDouble, method: string): unknown {
  const call = double.calls.findLast((c) => c.method === method);
  assert.ok(call, `the double received no ${method} call`);
  return call.request;
}

/** Resolves when `pred` holds for the text written so far, or rejects at the deadline. */
function waitForText(get: () => string, pred: (text: string) => boolean, what: string, ms = 5_000) {
  return new Promise<void>((resolve, reject) => {
    const deadline = Date.now() + ms;
    const poll = () => {
      if (pred(get())) return resolve();
      if (Date.now() > deadline) return reject(new Error(`timed out waiting for ${what}`));
      setImmediate(poll);
    };
    poll();
  });
}

describe("CLI round trip over <home>/api.sock", () => {
  let home: string;
  let double: AdminServerDouble;
  let stderrSoFar = "";

  before(async () => {
    home = await mkdtemp(join(tmpdir(), "gl-cli-"));
    double = await startAdminServerDouble(home, {
      cert: {
        // Progress must reach stderr while the stream is still open: the second message is
        // only sent once the CLI has printed the first.
        async *rotateCert(req) {
          double.calls.push({ method: "RotateCert", request: req });
          yield { phase: "begin", message: "new certificate committed", pending: ["n2", "n3"] };
          await waitForText(
            () => stderrSoFar,
            (t) => t.includes("[begin] new certificate committed (waiting for: n2, n3)"),
            "the CLI to print the first progress message before the stream ends",
          );
          yield {
            phase: "waiting",
            message: "1 of 2 members applied the rotation",
            pending: ["n3"],
          };
          yield {
            phase: "finished",
            message: "certificate rotated; old certificate no longer accepted",
            done: true,
          };
        },
      },
    });
  });

  after(async () => {
    await double?.close();
    await rm(home, { recursive: true, force: true });
  });

  const gl = (...argv: string[]) => runCli([...argv, "--home", home]);

  it("serves the socket with mode 0600 (sanity of the double)", async () => {
    assert.equal((await stat(double.socketPath)).mode & 0o777, 0o600);
  });

  it("cluster status -o json prints the contract shape", async () => {
    const run = await gl("cluster", "status", "-o", "json");
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stderr, "");
    const j = JSON.parse(run.stdout);
    for (const key of [
      "clusterId",
      "nodeId",
      "nodeName",
      "role",
      "leaderId",
      "term",
      "commitIndex",
      "appliedIndex",
      "members",
      "tls",
    ]) {
      assert.ok(key in j, `missing ${key}`);
    }
    assert.equal(j.clusterId, "cl-7f3e");
    assert.equal(j.term, 4);
    assert.equal(j.members.length, 3);
    assert.deepEqual(Object.keys(j.members[0]).slice(0, 7), [
      "id",
      "name",
      "suffrage",
      "clusterAddr",
      "apiAddr",
      "healthy",
      "lastContactMs",
    ]);
    assert.deepEqual(j.tls.caFingerprints, [DOUBLE_FP.ca]);
    assert.equal(j.tls.certFingerprint, DOUBLE_FP.cert);
    assert.equal(j.tls.certNotAfter, new Date(DOUBLE_NOW_MS + 365 * 86_400_000).toISOString());
    assert.deepEqual(j.tls.rotation.pending, ["n3"]);
  });

  it("cluster status (table) shows health and the members", async () => {
    const run = await gl("cluster", "status");
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^n3\s+gamma\s+-\s+voter\s+UNHEALTHY/m);
  });

  it("config put stores UTF-8 bytes and get prints them raw; json carries the revision", async () => {
    const value = "héllo wörld";
    const put = await gl("config", "put", "app/greeting", value);
    assert.equal(put.code, 0, put.stderr);
    assert.match(put.stdout, /app\/greeting stored at revision 1/);
    const sent = lastRequest(double, "Put") as {
      value: Uint8Array;
      expectedRevision?: bigint;
    };
    assert.deepEqual(Buffer.from(sent.value), Buffer.from(value, "utf8"));
    assert.equal(sent.expectedRevision, undefined, "no --if-revision: no compare-and-set");

    const get = await gl("config", "get", "app/greeting");
    assert.equal(get.code, 0, get.stderr);
    assert.deepEqual(
      get.stdoutBytes,
      Buffer.from(value, "utf8"),
      "raw bytes, no newline when not a TTY",
    );
    assert.match(get.stderr, /local read, up to 2 entries behind/);

    const json = await gl("config", "get", "app/greeting", "--linearizable", "-o", "json");
    assert.equal(json.code, 0, json.stderr);
    assert.deepStrictEqual(JSON.parse(json.stdout), {
      key: "app/greeting",
      value,
      valueBase64: Buffer.from(value).toString("base64"),
      revision: 1,
      modifiedAt: new Date(DOUBLE_NOW_MS).toISOString(),
      staleEntries: 0,
    });
    assert.equal((lastRequest(double, "Get") as { linearizable: boolean }).linearizable, true);
  });

  it("config put --if-revision sends compare-and-set; a conflict is one line and exit 1", async () => {
    const ok = await gl("config", "put", "app/cas", "v1", "--if-revision", "0", "-o", "json");
    assert.equal(ok.code, 0, ok.stderr);
    const { revision } = JSON.parse(ok.stdout) as { revision: number };
    assert.equal(
      (lastRequest(double, "Put") as { expectedRevision?: bigint }).expectedRevision,
      0n,
    );

    const conflict = await gl("config", "put", "app/cas", "v2", "--if-revision", "0");
    assert.equal(conflict.code, 1);
    assert.match(
      conflict.stderr,
      /^gastrolog: revision mismatch for app\/cas: expected 0, it is \d+ — read it again \(`gastrolog config get app\/cas -o json` shows its revision\) and retry/,
    );
    assert.equal(conflict.stderr.trim().split("\n").length, 1);

    const next = await gl("config", "put", "app/cas", "v2", "--if-revision", String(revision));
    assert.equal(next.code, 0, next.stderr);
  });

  it("config get of a missing key exits 1 with a clear message", async () => {
    const run = await gl("config", "get", "no/such/key");
    assert.equal(run.code, 1);
    assert.equal(run.stdout, "");
    assert.match(run.stderr, /^gastrolog: key "no\/such\/key" not found — /);
  });

  it("config list shows key, revision and a value preview", async () => {
    const run = await gl("config", "list", "app/");
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^KEY\s+REVISION\s+MODIFIED\s+VALUE$/m);
    assert.match(run.stdout, /^app\/greeting\s+1\s+2030-01-01 00:00:00Z\s+héllo wörld$/m);
  });

  it("token create -o json returns { id, token, expiresAt, usesLeft } and sends the TTL and uses", async () => {
    const run = await gl(
      "token",
      "create",
      "--ttl",
      "1h30m",
      "--uses",
      "1",
      "--nonvoter",
      "--label",
      "ci",
      "-o",
      "json",
    );
    assert.equal(run.code, 0, run.stderr);
    const j = JSON.parse(run.stdout);
    assert.equal(j.id, "t-5c1e");
    assert.equal(j.token, DOUBLE_TOKEN);
    assert.equal(j.expiresAt, new Date(DOUBLE_NOW_MS + 5_400_000).toISOString());
    assert.equal(j.usesLeft, 1);
    assert.equal(
      j.joinCommand,
      `gastrolog server --join-addr 127.0.0.1:4566 --join-token ${DOUBLE_TOKEN} --nonvoter`,
    );
    const req = lastRequest(double, "CreateToken") as {
      ttlSeconds: bigint;
      maxUses: number;
      nonvoter: boolean;
      label: string;
    };
    assert.equal(req.ttlSeconds, 5_400n);
    assert.equal(req.maxUses, 1);
    assert.equal(req.nonvoter, true);
    assert.equal(req.label, "ci");
  });

  it("token create (table) prints the token once inside a join command for this node's cluster address", async () => {
    const run = await gl("token", "create");
    assert.equal(run.code, 0, run.stderr);
    assert.equal(
      (lastRequest(double, "CreateToken") as { ttlSeconds: bigint }).ttlSeconds,
      86_400n,
      "default TTL is a day",
    );
    assert.match(run.stdout, /gastrolog server --join-addr 127\.0\.0\.1:4566 --join-token /);
    assert.match(run.stdout, /uses: unlimited/);
    assert.equal(run.stderr, "", "the secret goes to stdout only");
  });

  it("token list never shows a secret", async () => {
    const run = await gl("token", "list");
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^t-5c1e\s+short-lived\s+usable\s+1\s+in 1h\s+nonvoter/m);
    assert.ok(!run.stdout.includes(DOUBLE_TOKEN.slice(0, 20)));
  });

  it("cert rotate prints progress to stderr as it arrives and the result to stdout", async () => {
    stderrSoFar = "";
    const run = await runCli(["cert", "rotate", "--force", "--home", home], {
      stderr: (t) => {
        stderrSoFar += t;
      },
    });
    assert.equal(run.code, 0, run.stderr);
    assert.equal(
      run.stderr,
      "[begin] new certificate committed (waiting for: n2, n3)\n[waiting] 1 of 2 members applied the rotation (waiting for: n3)\n",
    );
    assert.equal(run.stdout, "certificate rotated; old certificate no longer accepted\n");
    assert.equal((lastRequest(double, "RotateCert") as { force: boolean }).force, true);
  });

  it("ca rotate shows every phase and prints the new reusable token once", async () => {
    const run = await gl("ca", "rotate");
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /\[add-ca\].*\n\[rotate-cert\].*\n\[retire-ca\]/);
    assert.equal(
      run.stdout.split(DOUBLE_ROTATED_TOKEN).length - 1,
      2,
      "the token alone, then in the join command",
    );
    assert.match(run.stdout, /^CA rotated\n/);
    assert.ok(!run.stderr.includes(DOUBLE_ROTATED_TOKEN));
  });

  it("cluster remove passes the node through and prints the rotated token", async () => {
    const run = await gl("cluster", "remove", "gamma", "--rotate-ca");
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(
      (({ node, rotateCa, force }) => ({ node, rotateCa, force }))(
        lastRequest(double, "RemoveNode") as {
          node: string;
          rotateCa: boolean;
          force: boolean;
        },
      ),
      { node: "gamma", rotateCa: true, force: false },
    );
    assert.match(run.stderr, /^\[remove\] removed gamma from the Raft configuration\n/);
    assert.match(run.stdout, /^gamma removed\n/);
    assert.match(run.stdout, /The reusable join token was rotated/);
  });

  it("cluster promote, demote, transfer-leader and audit", async () => {
    const promote = await gl("cluster", "promote", "n2", "--timeout", "5m");
    assert.equal(promote.code, 0, promote.stderr);
    assert.equal((lastRequest(double, "PromoteNode") as { timeoutMs: bigint }).timeoutMs, 300_000n);
    assert.equal((await gl("cluster", "demote", "n2")).code, 0);
    const transfer = await gl("cluster", "transfer-leader");
    assert.equal(transfer.stdout, "leader is now n2\n");
    const audit = await gl("cluster", "audit", "-o", "json");
    assert.deepStrictEqual(JSON.parse(audit.stdout).events[0], {
      at: new Date(DOUBLE_NOW_MS - 5_000).toISOString(),
      kind: "enroll",
      nodeId: "n2",
      actor: "token:t1",
      details: { source: "127.0.0.1", suffrage: "nonvoter" },
    });
  });
});

describe("CLI errors talking to a node", () => {
  it("no api.sock: exit 1 and the 'start one' advice", async () => {
    const home = await mkdtemp(join(tmpdir(), "gl-cli-empty-"));
    try {
      const run = await runCli(["cluster", "status", "--home", home]);
      assert.equal(run.code, 1);
      assert.equal(
        run.stderr,
        `gastrolog: no gastrolog node is running with home ${home} (no api.sock). Start one with: gastrolog server --home ${home}\n`,
      );
      assert.equal(run.stdout, "");
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  });

  it("a stale api.sock (nothing accepting): exit 1, says stale", async () => {
    const home = await mkdtemp(join(tmpdir(), "gl-cli-stale-"));
    const live = join(home, "live.sock");
    const server = createServer();
    try {
      await new Promise<void>((resolve) => server.listen(live, resolve));
      // A second name for the socket survives the close, which unlinks only the first:
      // what a node killed with SIGKILL leaves behind.
      await link(live, join(home, "api.sock"));
      await new Promise<void>((resolve) => server.close(() => resolve()));
      const run = await runCli(["token", "list", "--home", home]);
      assert.equal(run.code, 1);
      assert.match(
        run.stderr,
        /^gastrolog: no gastrolog node is running with home .* \(api\.sock is stale.*Start one with: gastrolog server --home /,
      );
      assert.equal(run.stderr.split("\n").length, 2, "one line");
    } finally {
      server.close();
      await rm(home, { recursive: true, force: true });
    }
  });

  it("a Connect error from the node is one line with advice, never a stack trace", async () => {
    const home = await mkdtemp(join(tmpdir(), "gl-cli-err-"));
    const double = await startAdminServerDouble(home, {
      cluster: {
        getStatus() {
          throw new ConnectError("no quorum: 1 of 3 voters reachable\nsee logs", Code.Unavailable);
        },
      },
    });
    try {
      const run = await runCli(["cluster", "status", "--home", home]);
      assert.equal(run.code, 1);
      assert.equal(
        run.stderr,
        "gastrolog: no quorum: 1 of 3 voters reachable; see logs — the cluster may have lost quorum; check `gastrolog cluster status`\n",
      );
    } finally {
      await double.close();
      await rm(home, { recursive: true, force: true });
    }
  });

  it("a stream that ends before done is a failure (exit 1)", async () => {
    const home = await mkdtemp(join(tmpdir(), "gl-cli-cut-"));
    const double = await startAdminServerDouble(home, {
      cert: {
        async *rotateCert() {
          yield { phase: "begin", message: "new certificate committed" };
        },
      },
    });
    try {
      const run = await runCli(["cert", "rotate", "--home", home]);
      assert.equal(run.code, 1);
      assert.match(
        run.stderr,
        /^\[begin\] new certificate committed\ngastrolog: certificate rotation: the node ended the stream before the operation finished — check `gastrolog cert show`/,
      );
      assert.equal(run.stdout, "");
    } finally {
      await double.close();
      await rm(home, { recursive: true, force: true });
    }
  });
});
