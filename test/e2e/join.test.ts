import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFile, stat } from "node:fs/promises";
import { request } from "node:https";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import {
  Cluster,
  eventually,
  freeLoopbackPort,
  type ServerProc,
  type StatusJson,
} from "./harness.js";
import { createTcpProxy } from "./tcp-proxy.js";

const run = promisify(execFile);

/** The `join` progress steps a joiner logged, in order. */
function progressSteps(p: ServerProc): string[] {
  return p.logs.filter((l) => typeof l.join === "string").map((l) => String(l.join));
}

/** GET or POST on a node's HTTPS port (self-signed certificate): status code and body. */
function https(
  port: number,
  path: string,
  method = "GET",
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: "127.0.0.1", port, path, method, rejectUnauthorized: false, timeout: 5000 },
      (res) => {
        let body = "";
        res.setEncoding("utf8").on("data", (d: string) => {
          body += d;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on("error", reject);
    req.on("timeout", () => req.destroy(new Error(`${method} ${path} timed out`)));
    if (method === "POST") req.setHeader("content-type", "application/proto");
    req.end();
  });
}

describe("e2e: bootstrap and join (issue 5, test 1)", () => {
  let c: Cluster;
  before(async () => {
    c = await Cluster.create();
  });
  after(async () => {
    await c.cleanup();
  });

  test("n2 joins via the leader, n3 via n2; all voters, same cluster, healthy, same TLS; follower write readable everywhere", async () => {
    const { proc: n1, token, clusterAddr } = await c.bootstrap("n1");
    // Bootstrap shows the token once, as saved in join-token, with a join command that can
    // be pasted as it is; the logs never carry it.
    const out = n1.stdout.join("\n");
    assert.equal(
      out.split(token).length - 1,
      2,
      "the token is shown once, and once in the command",
    );
    assert.ok(
      out.includes(`gastrolog server --join-addr ${clusterAddr} --join-token ${token}\n`),
      out,
    );
    assert.equal((await readFile(join(c.homeOf("n1"), "join-token"), "utf8")).trim(), token);
    assert.equal(
      (await readFile(join(c.homeOf("n1"), "join-token"), "utf8")).split("\n").length,
      2,
      "join-token is one line",
    );
    assert.ok(!n1.stderr.join("\n").includes(token), "the token is in n1's logs");

    const n2 = await c.join("n2", clusterAddr, token);
    const n2Addr = (await n2.serving()).clusterAddr;
    // n3 joins through n2, a follower: its Enroll is forwarded to the leader.
    assert.equal((await c.cliJson<StatusJson>("n2", ["cluster", "status"])).role, "follower");
    const n3 = await c.join("n3", n2Addr, token);
    const steps = ["connecting", "verified CA", "enrolling", "enrolled", "catching up", "voter"];
    for (const p of [n2, n3]) {
      assert.deepEqual(progressSteps(p), steps, `${p.name}'s progress lines`);
      assert.ok(!p.stderr.join("\n").includes(token), `the token is in ${p.name}'s logs`);
    }

    const statuses = await eventually(async () => {
      const all = await Promise.all(
        ["n1", "n2", "n3"].map((n) => c.cliJson<StatusJson>(n, ["cluster", "status"])),
      );
      const ok = all.every(
        (s) =>
          s.members.length === 3 && s.members.every((m) => m.healthy && m.suffrage === "voter"),
      );
      return ok ? all : undefined;
    }, "3 healthy voters on every node");
    assert.equal(new Set(statuses.map((s) => s.clusterId)).size, 1, "one cluster id");
    assert.equal(
      new Set(statuses.map((s) => s.tls.certFingerprint)).size,
      1,
      "one cluster certificate",
    );
    assert.equal(
      new Set(statuses.map((s) => s.tls.caFingerprints.join(","))).size,
      1,
      "one CA set",
    );
    assert.equal(statuses.filter((s) => s.role === "leader").length, 1, "exactly one leader");

    const follower = statuses.find((s) => s.role === "follower")!.nodeName;
    const put = await c.cli(follower, ["config", "put", "app/greeting", "hello"]);
    assert.equal(put.code, 0, put.stderr);
    for (const n of ["n1", "n2", "n3"]) {
      const v = await eventually(async () => {
        const r = await c.cli(n, ["config", "get", "app/greeting"]);
        return r.code === 0 ? r.stdout : undefined;
      }, `the write to be readable on ${n}`);
      assert.equal(v.trim(), "hello");
    }
    for (const p of c.procs) assert.ok(p.running, `${p.name} still runs`);
    // The Enroll handler and the leader's reconciler add a new node to Raft once, together:
    // no warning about a failed (duplicate) add on any join.
    for (const p of c.procs) {
      const dup = p.logs.filter((l) => /adding enrolled node to raft failed/.test(String(l.msg)));
      assert.deepEqual(dup, [], `${p.name} logged a failed add to Raft`);
    }

    // The HTTPS port serves /healthz and /readyz, and nothing else: no admin method is
    // reachable over the network (the same path answers on the admin socket).
    const apiPort = (await n1.serving()).apiPort;
    assert.deepEqual(await https(apiPort, "/healthz"), { status: 200, body: "ok\n" });
    assert.equal((await https(apiPort, "/readyz")).status, 200);
    for (const path of [
      "/gastrolog.v1.ConfigService/Put",
      "/gastrolog.v1.ClusterService/GetStatus",
      "/gastrolog.v1.TokenService/CreateToken",
    ]) {
      assert.equal((await https(apiPort, path, "POST")).status, 405, `POST ${path}`);
      assert.equal((await https(apiPort, path)).status, 404, `GET ${path}`);
    }

    // The TLS files are standard PEM that openssl takes as they are: the chain verifies
    // against ca.pem, the key is the certificate's, and together they pass the cluster
    // port's mTLS gate.
    const tlsDir = join(c.homeOf("n2"), "tls");
    const [ca, cert, key] = ["ca.pem", "cluster.pem", "cluster.key"].map((f) => join(tlsDir, f));
    const verified = await run("openssl", ["verify", "-CAfile", ca!, cert!]);
    assert.match(verified.stdout, /: OK/);
    const certKey = await run("openssl", ["x509", "-in", cert!, "-noout", "-pubkey"]);
    const keyPub = await run("openssl", ["pkey", "-in", key!, "-pubout"]);
    assert.equal(certKey.stdout, keyPub.stdout, "cluster.key is the key of cluster.pem");
    const [host, port] = clusterAddr.split(":");
    const serverName = statuses[0]!.tls.serverName ?? "";
    const sClient = run(
      "openssl",
      [
        "s_client",
        "-connect",
        `${host}:${port}`,
        "-servername",
        serverName,
        "-CAfile",
        ca!,
        "-cert",
        cert!,
        "-key",
        key!,
        "-verify_return_error",
        "-verify_hostname",
        serverName,
        "-alpn",
        "h2",
        "-brief",
      ],
      { timeout: 10_000 },
    );
    sClient.child.stdin?.end();
    const s = await sClient.catch((err: { stdout?: string; stderr?: string }) => err);
    const sOut = `${s.stdout ?? ""}${s.stderr ?? ""}`;
    assert.match(sOut, /Verification: OK/, sOut);
    assert.match(sOut, /Protocol version: TLSv1\.3/, sOut);

    // Files that hold secrets (keys, the token, the replicated store with the CA key) and
    // the admin socket are owner-only on every node.
    for (const n of ["n1", "n2", "n3"]) {
      const home = c.homeOf(n);
      const secret = ["tls/cluster.key", "raft/raft.mdb", "node.json", "api.sock"];
      if (n === "n1") secret.push("join-token");
      for (const f of secret) {
        const mode = (await stat(join(home, f))).mode & 0o777;
        assert.equal(mode, 0o600, `${n}: ${f} has mode ${mode.toString(8)}`);
      }
      assert.equal((await stat(home)).mode & 0o077, 0, `${n}: home is not owner-only`);
    }
  });
});

/** n1 bootstrapped, and n2 joining through it behind a proxy that is cut: n1 cannot reach n2. */
async function joinerBehindCutProxy(env: Record<string, string> = {}) {
  const c = await Cluster.create();
  const port = await freeLoopbackPort();
  const proxy = await createTcpProxy({ targetPort: port });
  const cleanup = async () => {
    await proxy.close();
    await c.cleanup();
  };
  try {
    const { token, clusterAddr } = await c.bootstrap("n1");
    proxy.setMode("cut");
    const advertise = `127.0.0.1:${proxy.port}`;
    const n2 = await c.start("n2", {
      joinAddr: clusterAddr,
      joinToken: token,
      clusterPort: port,
      args: ["--advertise-addr", advertise],
      env,
    });
    return { c, proxy, port, advertise, n2, cleanup };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

describe("e2e: a joining node's status while it catches up", () => {
  test("cluster status on the joiner answers 'joining' until the leader can reach it, then 'follower' as a voter", async () => {
    const { c, proxy, n2, cleanup } = await joinerBehindCutProxy();
    try {
      await n2.waitLog((l) => l.join === "catching up", 20_000, '"join: catching up"');
      const joining = await eventually(async () => {
        const r = await c.cli("n2", ["cluster", "status", "-o", "json"]);
        return r.code === 0 ? (JSON.parse(r.stdout) as StatusJson) : undefined;
      }, "cluster status on the joiner");
      assert.equal(joining.role, "joining");
      assert.ok(n2.running, "the joiner still runs");
      assert.ok(!n2.logs.some((l) => l.msg === "serving"), "the joiner says serving too early");
      const seen = await c.cliJson<StatusJson>("n1", ["cluster", "status"]);
      const rec = seen.members.find((m) => m.name === "n2");
      assert.equal(rec?.suffrage, "nonvoter", "the leader holds it as a nonvoter meanwhile");

      proxy.setMode("pass");
      await n2.waitLog((l) => l.join === "voter", 20_000, '"join: voter"');
      await n2.serving();
      const after = await c.cliJson<StatusJson>("n2", ["cluster", "status"]);
      assert.equal(after.role, "follower");
      assert.equal(after.clusterId, seen.clusterId);
    } finally {
      await cleanup();
    }
  });

  test("a joiner the leader cannot reach gives up with what to do; started again from its home, it finishes the join", async () => {
    const { c, proxy, port, advertise, n2, cleanup } = await joinerBehindCutProxy({
      GASTROLOG_JOIN_CATCHUP_MS: "1500",
    });
    try {
      const exit = await n2.exited;
      assert.equal(exit.code, 1);
      const line = n2.stderr.filter((l) => l.startsWith("gastrolog:"));
      assert.equal(line.length, 1, n2.stderr.join("\n"));
      assert.match(
        line[0]!,
        new RegExp(
          `did not receive the cluster state from the leader within 2 s\\. This node is a member now: check that the other members can reach it at ${advertise}.*start it again with the same --home`,
        ),
      );
      proxy.setMode("pass");
      const again = await c.start("n2", {
        home: c.homeOf("n2"),
        clusterPort: port,
        args: ["--advertise-addr", advertise],
      });
      await again.serving();
      await eventually(async () => {
        const s = await c.cliJson<StatusJson>("n1", ["cluster", "status"]);
        const rec = s.members.find((m) => m.name === "n2");
        return rec?.suffrage === "voter" && rec.healthy ? s : undefined;
      }, "n2 to be a healthy voter");
    } finally {
      await cleanup();
    }
  });

  test("a joiner removed with `cluster remove` while it catches up exits at once, saying it must re-enroll", async () => {
    const { c, n2, cleanup } = await joinerBehindCutProxy();
    try {
      await n2.waitLog((l) => l.join === "catching up", 20_000, '"join: catching up"');
      const rm = await c.cli("n1", ["cluster", "remove", "n2"]);
      assert.equal(rm.code, 0, rm.stderr);
      const exit = await n2.exited;
      assert.equal(exit.code, 1);
      const line = n2.stderr.filter((l) => l.startsWith("gastrolog:"));
      assert.equal(line.length, 1, n2.stderr.join("\n"));
      assert.match(line[0]!, /removed.*It must re-enroll/);
    } finally {
      await cleanup();
    }
  });
});
