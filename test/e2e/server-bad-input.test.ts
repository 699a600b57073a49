import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { createServer as createHttpServer, type Server as HttpServer } from "node:http";
import * as http2 from "node:http2";
import { createServer as createNetServer, type Server } from "node:net";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { type CliResult, Cluster, freeLoopbackPort, type StatusJson } from "./harness.js";
import {
  auditEvents,
  closedPort,
  errorLines,
  memberRecords,
  serverOnce,
  stateSnapshot,
} from "./server-support.js";

/** Fixed, well-formed values that no cluster issued (deterministic, not random). */
const WRONG_SECRET = Buffer.alloc(32, 0x5a).toString("base64url");
const WRONG_CA_HASH = "ab".repeat(32);

async function listenOn(server: Server | HttpServer): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  return (server.address() as { port: number }).port;
}

/** A TCP server that holds a port; `close()` also drops whatever connected to it. */
function blockerServer(): Server {
  const sockets = new Set<import("node:net").Socket>();
  const srv = createNetServer((s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
    s.on("error", () => {});
  });
  srv.on("close", () => {});
  const close = srv.close.bind(srv);
  srv.close = (cb) => {
    for (const s of sockets) s.destroy();
    return close(cb);
  };
  return srv;
}

function close(server: Server | HttpServer): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

/**
 * Issue 5, test 4 and the "Bad input" list: every refused start exits non-zero with one
 * `gastrolog: ...` line, and changes nothing in the cluster except for an `enroll.failed`
 * audit entry when the attempt reached it. One single-node cluster serves every case;
 * the cases that restart it run last.
 */
describe("e2e: bad input to gastrolog server (issue 5, test 4)", () => {
  let c: Cluster;
  let token: string;
  let secret: string;
  let caHash: string;
  let addr: string;
  let clusterId: string;
  let n = 0;
  /** A fresh, empty home for one attempt. */
  const freshHome = () => c.homeOf(`bad${++n}`);

  before(async () => {
    c = await Cluster.create();
    const b = await c.bootstrap("n1");
    token = b.token;
    addr = b.clusterAddr;
    [secret = "", caHash = ""] = token.split(":");
    clusterId = (await c.cliJson<StatusJson>("n1", ["cluster", "status"])).clusterId;
  });
  after(async () => {
    await c.cleanup();
  });

  const snapshot = () => stateSnapshot(c, "n1");

  /** Runs a join that must be refused; returns its result and the one error line. */
  async function refusedJoin(
    home: string,
    joinArgs: string[],
    env: Record<string, string> = {},
  ): Promise<{ r: CliResult; line: string }> {
    const r = await serverOnce(
      [
        "--home",
        home,
        "--name",
        "intruder",
        "--listen",
        "127.0.0.1:0",
        "--cluster-addr",
        "127.0.0.1:0",
        ...joinArgs,
      ],
      { env },
    );
    assert.notEqual(r.code, 0, `expected a refusal; stderr:\n${r.stderr}`);
    const lines = errorLines(r.stderr);
    assert.equal(lines.length, 1, `exactly one error line, got:\n${r.stderr}`);
    assert.ok(!r.stderr.includes(secret), "the secret was echoed on stderr");
    assert.ok(!r.stdout.includes(secret), "the secret was echoed on stdout");
    return { r, line: lines[0]! };
  }

  /** A refused join leaves its home uninitialised, so a later good join can use it. */
  /** Starts a second server on n1's home with `clusterAddr`; it must exit 1 with one line. */
  async function refusedStartOfN1(clusterAddr: string): Promise<string> {
    const r = await serverOnce([
      "--home",
      c.homeOf("n1"),
      "--listen",
      "127.0.0.1:0",
      "--cluster-addr",
      clusterAddr,
    ]);
    assert.equal(r.code, 1, r.stderr);
    const lines = errorLines(r.stderr);
    assert.equal(lines.length, 1, r.stderr);
    return lines[0]!;
  }

  /** A join with the cluster's token through 127.0.0.1:`port`, from a fresh home, refused. */
  async function refusedJoinVia(
    port: number,
  ): Promise<{ home: string; r: CliResult; line: string }> {
    const home = freshHome();
    return {
      home,
      ...(await refusedJoin(home, ["--join-addr", `127.0.0.1:${port}`, "--join-token", token])),
    };
  }

  function assertHomeUntouched(home: string): void {
    assert.equal(existsSync(join(home, "node.json")), false, "node.json was written");
    assert.equal(existsSync(join(home, "raft")), false, "raft state was written");
  }

  test("a wrong secret (valid format, right CA hash) is refused and audited as enroll.failed only", async () => {
    const before = await snapshot();
    const home = freshHome();
    const { r, line } = await refusedJoin(home, [
      "--join-addr",
      addr,
      "--join-token",
      `${WRONG_SECRET}:${caHash}`,
    ]);
    assert.equal(r.code, 1);
    assert.match(line, /invalid or expired token/);
    assert.ok(!r.stderr.includes(WRONG_SECRET), "the wrong secret was echoed");
    assertHomeUntouched(home);
    const now = await snapshot();
    assert.deepEqual(now.members, before.members, "membership changed");
    assert.deepEqual(now.audit.slice(0, before.audit.length), before.audit, "old audit changed");
    const added = now.audit.slice(before.audit.length);
    assert.equal(added.length, 1, `one new audit entry, got ${JSON.stringify(added)}`);
    assert.equal(added[0]?.kind, "enroll.failed");
    assert.ok(!JSON.stringify(added).includes(WRONG_SECRET), "the audit entry holds the secret");
  });

  test("a wrong CA hash (right secret) is refused before anything is sent: no audit entry", async () => {
    const before = await snapshot();
    const home = freshHome();
    const { r, line } = await refusedJoin(home, [
      "--join-addr",
      addr,
      "--join-token",
      `${secret}:${WRONG_CA_HASH}`,
    ]);
    assert.equal(r.code, 1);
    assert.match(line, /did not prove it belongs to the cluster/);
    assert.match(line, /nothing was sent/);
    assertHomeUntouched(home);
    assert.deepEqual(await snapshot(), before, "membership or audit changed");
  });

  test("a malformed token is a usage error (exit 2) that never echoes the secret", async () => {
    const before = await snapshot();
    for (const bad of [
      "no-separator-at-all",
      `${secret}:abc`,
      `${secret.slice(0, 20)}:${caHash}`,
    ]) {
      const home = freshHome();
      const { r, line } = await refusedJoin(home, ["--join-addr", addr, "--join-token", bad]);
      assert.equal(r.code, 2, `exit code for ${bad.length}-char token; stderr:\n${r.stderr}`);
      assert.match(line, /malformed join token/);
      assert.equal(existsSync(home), false, "a usage error created the home");
    }
    assert.deepEqual(await snapshot(), before, "membership or audit changed");
  });

  test("an unreachable join address is retried with backoff for a bounded time, then refused", async () => {
    const before = await snapshot();
    const home = freshHome();
    const port = await closedPort();
    const { r, line } = await refusedJoin(
      home,
      ["--join-addr", `127.0.0.1:${port}`, "--join-token", token],
      { GASTROLOG_JOIN_RETRY_MS: "1500" },
    );
    assert.equal(r.code, 1);
    assert.match(line, new RegExp(`cannot reach 127\\.0\\.0\\.1:${port}`));
    assert.match(r.stderr, /join: unreachable, retrying/, "no retry was made");
    assertHomeUntouched(home);
    assert.deepEqual(await snapshot(), before, "membership or audit changed");
  });

  test("a join address that is not a gastrolog cluster port is refused at once", async () => {
    const before = await snapshot();
    const http = createHttpServer((_req, res) => res.end("hello"));
    const port = await listenOn(http);
    try {
      const { home, r, line } = await refusedJoinVia(port);
      assert.equal(r.code, 1);
      assert.match(line, /is not a gastrolog cluster port/);
      assertHomeUntouched(home);
    } finally {
      http.closeAllConnections();
      await close(http);
    }
    // The likeliest mistake: a member's HTTPS port. TLS works there but HTTP/2 (gRPC) does
    // not; the one line says so in words, without OpenSSL's file and line dump.
    const { apiPort } = await c.byName.get("n1")!.serving();
    const { home, r, line } = await refusedJoinVia(apiPort);
    assert.equal(r.code, 1);
    assert.match(
      line,
      /is not a gastrolog cluster port \(.*no application protocol.*\); check --join-addr/,
    );
    assert.doesNotMatch(r.stderr, /rec_layer|\.c:\d+|SSL routines/);
    assert.equal(r.stderr.split("\n").filter((l) => l && !l.startsWith("{")).length, 1, r.stderr);
    assertHomeUntouched(home);
    assert.deepEqual(await snapshot(), before, "membership or audit changed");
  });

  test("an Enroll call that breaks off (the member dies mid-call) says the node may be recorded and what to do", async () => {
    // A stand-in for a member that dies once it has the request: it presents the
    // cluster's real certificate (so the joiner's chain check passes) and then drops the
    // connection.
    const tlsDir = join(c.homeOf("n1"), "tls");
    const [cert, key] = await Promise.all([
      readFile(join(tlsDir, "cluster.pem"), "utf8"),
      readFile(join(tlsDir, "cluster.key"), "utf8"),
    ]);
    const dying = http2.createSecureServer({ cert, key, ALPNProtocols: ["h2"], allowHTTP1: false });
    dying.on("stream", (stream) => {
      stream.on("error", () => {});
      stream.session?.destroy();
    });
    dying.on("sessionError", () => {});
    const before = await snapshot();
    const port = await listenOn(dying as unknown as Server);
    try {
      const { home, r, line } = await refusedJoinVia(port);
      assert.equal(r.code, 1);
      assert.match(
        line,
        /enrollment through 127\.0\.0\.1:\d+ broke off \(.+\); the cluster may or may not have recorded this node.*same command can be run again.*gastrolog cluster remove/,
      );
      assert.ok(!r.stderr.includes(token.split(":")[0]!), "the secret is not in the output");
      assertHomeUntouched(home);
    } finally {
      await close(dying as unknown as Server);
    }
    assert.deepEqual(await snapshot(), before, "membership or audit changed");
  });

  test("a home left by an interrupted join (Raft state, no node.json) is refused with what to do", async () => {
    const home = freshHome();
    await mkdir(join(home, "raft"), { recursive: true });
    const r = await serverOnce(["--home", home, "--name", "halfway", "--listen", "127.0.0.1:0"]);
    assert.equal(r.code, 1, r.stderr);
    const lines = errorLines(r.stderr);
    assert.equal(lines.length, 1, r.stderr);
    assert.match(
      lines[0]!,
      /holds Raft state but no node\.json: a bootstrap or join was interrupted/,
    );
    assert.match(lines[0]!, /Move .* aside and start again/);
    assert.match(lines[0]!, /gastrolog cluster remove halfway/);
  });

  test("--bootstrap together with join flags on an empty home is an error", async () => {
    const home = freshHome();
    const { r, line } = await refusedJoin(home, [
      "--bootstrap",
      "--join-addr",
      addr,
      "--join-token",
      token,
    ]);
    assert.equal(r.code, 1);
    assert.match(line, /--bootstrap and --join-addr\/--join-token were both given/);
    assertHomeUntouched(home);
  });

  test("--home that cannot be a directory (a path under a file) is a clear error", async () => {
    const file = join(c.dir, "a-file");
    await writeFile(file, "not a directory\n");
    const r = await serverOnce(["--home", join(file, "home"), "--bootstrap"]);
    assert.equal(r.code, 1, r.stderr);
    const lines = errorLines(r.stderr);
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0]!, /--home .*a-file\/home is not a directory|not writable/);
  });

  test("a cluster port already in use is a clear error, and the home stays usable", async () => {
    const blocker = blockerServer();
    const port = await listenOn(blocker);
    const home = freshHome();
    try {
      const r = await serverOnce([
        "--home",
        home,
        "--bootstrap",
        "--listen",
        "127.0.0.1:0",
        "--cluster-addr",
        `127.0.0.1:${port}`,
      ]);
      assert.equal(r.code, 1, r.stderr);
      const lines = errorLines(r.stderr);
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0]!, /address already in use/);
    } finally {
      await close(blocker);
    }
    // Nothing was half-created: the same home bootstraps once the port is free.
    const p = await c.start("retry", { home, bootstrap: true });
    await p.serving();
    assert.equal((await p.stop()).code, 0);
  });

  test("a cluster port already in use refuses the join before it enrolls (no membership change)", async () => {
    const before = await snapshot();
    const blocker = blockerServer();
    const port = await listenOn(blocker);
    const home = freshHome();
    try {
      const r = await serverOnce([
        "--home",
        home,
        "--name",
        "busy",
        "--listen",
        "127.0.0.1:0",
        "--cluster-addr",
        `127.0.0.1:${port}`,
        "--join-addr",
        addr,
        "--join-token",
        token,
      ]);
      assert.equal(r.code, 1, r.stderr);
      const lines = errorLines(r.stderr);
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0]!, /address already in use/);
      assert.doesNotMatch(r.stderr, /join: enrolled/, "it enrolled before finding the port taken");
    } finally {
      await close(blocker);
    }
    assertHomeUntouched(home);
    assert.deepEqual(await snapshot(), before, "a refused start enrolled a node");
  });

  test("an API port already in use refuses the join before it enrolls (no membership change)", async () => {
    const before = await snapshot();
    const blocker = blockerServer();
    const port = await listenOn(blocker);
    const home = freshHome();
    try {
      const r = await serverOnce([
        "--home",
        home,
        "--name",
        "busy",
        "--listen",
        `127.0.0.1:${port}`,
        "--cluster-addr",
        "127.0.0.1:0",
        "--join-addr",
        addr,
        "--join-token",
        token,
      ]);
      assert.equal(r.code, 1, r.stderr);
      const lines = errorLines(r.stderr);
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0]!, /address already in use/);
      assert.doesNotMatch(r.stderr, /join: enrolled/, "it enrolled before finding the port taken");
    } finally {
      await close(blocker);
    }
    assertHomeUntouched(home);
    assert.deepEqual(await snapshot(), before, "a refused start enrolled a node");
  });

  test("--bootstrap on an initialised home is a no-op with a notice", async () => {
    const tokenFile = await readFile(join(c.homeOf("n1"), "join-token"), "utf8");
    const before = await snapshot();
    assert.equal((await c.byName.get("n1")!.stop()).code, 0);
    const p = await c.start("n1", { bootstrap: true });
    await p.serving();
    await p.waitLog(
      (l) => l.level === 40 && /already initialised; --bootstrap does nothing/.test(String(l.msg)),
      1_000,
      "the --bootstrap notice",
    );
    assert.ok(!p.stdout.join("\n").includes("Join token"), "a second token was printed");
    assert.equal(await readFile(join(c.homeOf("n1"), "join-token"), "utf8"), tokenFile);
    const s = await c.cliJson<StatusJson>("n1", ["cluster", "status"]);
    assert.equal(s.clusterId, clusterId, "a second cluster was made");
    assert.deepEqual(await snapshot(), before);
  });

  test("join flags on an initialised home are ignored with a notice", async () => {
    const before = await snapshot();
    assert.equal((await c.byName.get("n1")!.stop()).code, 0);
    const port = await closedPort();
    const p = await c.start("n1", { joinAddr: `127.0.0.1:${port}`, joinToken: token });
    await p.serving();
    await p.waitLog(
      (l) => l.level === 40 && /join flags are ignored/.test(String(l.msg)),
      1_000,
      "the join-flags notice",
    );
    assert.equal(
      p.logs.some((l) => String(l.msg).startsWith("join:")),
      false,
      "the member tried to join again",
    );
    const s = await c.cliJson<StatusJson>("n1", ["cluster", "status"]);
    assert.equal(s.clusterId, clusterId);
    assert.deepEqual(await snapshot(), before);
  });

  test("a second server on a home whose node is running is refused, and the first one is untouched", async () => {
    const before = await snapshot();
    const line = await refusedStartOfN1("127.0.0.1:0");
    assert.match(line, /a gastrolog server is already running with home .*stop it first/);
    assert.ok(c.byName.get("n1")!.running);
    const s = await c.cliJson<StatusJson>("n1", ["cluster", "status"]);
    assert.equal(s.clusterId, clusterId);
    assert.deepEqual(await snapshot(), before);
  });

  test("a member restarted on another cluster port than it joined with is refused, and says which", async () => {
    const before = await snapshot();
    assert.equal((await c.byName.get("n1")!.stop()).code, 0);
    // The port it is started on is in use (as another node's would be): the message says
    // what is wrong with the start, not just "address in use".
    const other = await freeLoopbackPort();
    const squatter = createNetServer();
    await new Promise<void>((resolve) => squatter.listen(other, "127.0.0.1", resolve));
    const line = await refusedStartOfN1(`127.0.0.1:${other}`).finally(
      () => new Promise<void>((resolve) => squatter.close(() => resolve())),
    );
    assert.match(
      line,
      new RegExp(
        `cluster port is \\d+ .*not ${other}: start it with the --cluster-addr it joined with`,
      ),
    );
    // Started as it joined, it serves as before.
    const p = await c.start("n1", { home: c.homeOf("n1") });
    await p.serving();
    assert.deepEqual(await snapshot(), before);
  });

  test("the in-process snapshots above are what `cluster nodes/audit -o json` print", async () => {
    const snap = await snapshot();
    assert.deepEqual(await memberRecords(c, "n1"), snap.members);
    assert.deepEqual(await auditEvents(c, "n1"), snap.audit);
  });
});
