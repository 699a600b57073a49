import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { connect, createServer, type Server } from "node:net";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import {
  adminClient,
  agreedLeader,
  Cluster,
  configSnapshot,
  eventually,
  freeLoopbackPort,
  leaderView,
} from "./harness.js";
import { createTcpProxy, type TcpProxy } from "./tcp-proxy.js";

const NODES = ["n1", "n2", "n3"];
/** FAST_ENV's election timeout; randomized up to 2x. */
const ELECTION_MS = 400;

/** Sends `msg` through the proxy to an echo server; resolves with what came back, or "" on close/quiet. */
function roundTrip(port: number, msg: string, quietMs = 300): Promise<string> {
  return new Promise((resolve) => {
    const s = connect({ host: "127.0.0.1", port });
    let got = "";
    const done = () => {
      clearTimeout(t);
      s.destroy();
      resolve(got);
    };
    // The quiet period is how a blackhole shows: nothing comes back, nothing closes.
    const t = setTimeout(done, quietMs);
    s.on("connect", () => s.write(msg));
    s.on("data", (d) => {
      got += d.toString();
      if (got === msg) done();
    });
    s.on("error", done);
    s.on("close", done);
  });
}

describe("e2e raft: tcp proxy (fault injection used by the partition test)", () => {
  let echo: Server;
  let proxy: TcpProxy;
  before(async () => {
    echo = createServer((s) => s.pipe(s));
    await new Promise<void>((r) => echo.listen(0, "127.0.0.1", () => r()));
    proxy = await createTcpProxy({ targetPort: (echo.address() as { port: number }).port });
  });
  after(async () => {
    await proxy.close();
    await new Promise<void>((r) => echo.close(() => r()));
  });

  test("pass forwards, cut closes at once, blackhole swallows silently, pass again heals", async () => {
    assert.equal(await roundTrip(proxy.port, "hello"), "hello");
    // An open connection is cut too, not only new ones.
    const open = connect({ host: "127.0.0.1", port: proxy.port });
    await new Promise((r) => open.once("connect", r));
    const closed = new Promise((r) => open.once("close", r));
    proxy.setMode("cut");
    await closed;
    const t0 = performance.now();
    assert.equal(await roundTrip(proxy.port, "x", 5000), "");
    assert.ok(performance.now() - t0 < 2000, "a cut port closes at once, it does not hang");
    proxy.setMode("blackhole");
    assert.equal(await roundTrip(proxy.port, "y"), "");
    proxy.setMode("pass");
    assert.equal(await roundTrip(proxy.port, "again"), "again");
  });
});

describe("e2e raft: a partitioned follower rejoins without disrupting the leader (issue 4, test 5)", () => {
  let c: Cluster;
  const proxies = new Map<string, TcpProxy>();
  before(async () => {
    c = await Cluster.create("gastrolog-raft-partition-");
  });
  after(async () => {
    for (const p of proxies.values()) await p.close();
    await c.cleanup();
  });

  test("pre-vote: the leader and the term are unchanged after the heal, and the follower catches up", async () => {
    // Every node listens on its own port and advertises its proxy's: everything sent TO a
    // node (Raft streams, health checks, forwarded writes, enrollment) goes through its
    // proxy. The proxy listens before the node starts, so the advertised port is known.
    const opts = new Map<string, { clusterPort: number; args: string[] }>();
    for (const n of NODES) {
      const real = await freeLoopbackPort();
      const proxy = await createTcpProxy({ targetPort: real });
      proxies.set(n, proxy);
      opts.set(n, { clusterPort: real, args: ["--advertise-addr", `127.0.0.1:${proxy.port}`] });
    }
    const n1 = await c.start("n1", { bootstrap: true, ...opts.get("n1")! });
    const s1 = await n1.serving();
    assert.equal(s1.clusterAddr, `127.0.0.1:${proxies.get("n1")!.port}`, "n1 advertises its proxy");
    const token = (await readFile(join(n1.home, "join-token"), "utf8")).trim();
    await c.join("n2", s1.clusterAddr, token, opts.get("n2")!);
    await c.join("n3", s1.clusterAddr, token, opts.get("n3")!);

    const leader = await agreedLeader(c, NODES);
    const [f, g] = NODES.filter((n) => n !== leader.leaderName) as [string, string];
    const writes = adminClient(c.homeOf(leader.leaderName));
    let seq = 0;
    const put = () =>
      writes.config.put(
        { key: `p/${String(seq).padStart(4, "0")}`, value: new TextEncoder().encode(`v${seq++}`) },
        { timeoutMs: 10_000 },
      );
    try {
      for (let i = 0; i < 10; i++) await put();

      // Isolate f's inbound traffic. Its outbound streams go through the other nodes'
      // proxies, which still pass: f's (pre-)vote requests reach the leader and g, but
      // nothing they send back (answers, appends, heartbeats) reaches f. That is the
      // asymmetric partition in which a node without pre-vote keeps raising its term and,
      // on the heal, forces it on the leader through its first append response (the
      // leader steps down: docs/raft.md, "Freeing a node stuck at a higher term").
      proxies.get(f)!.setMode("cut");
      await eventually(
        async () => (await leaderView(c, f)).role === "candidate",
        `${f} notices the lost leader and (pre-)campaigns`,
      );
      // Keep it cut for several election timeouts (up to 2x each), writing meanwhile:
      // the leader and g still make a majority.
      const until = performance.now() + 6 * 2 * ELECTION_MS;
      while (performance.now() < until) await put();
      const during = await leaderView(c, g);
      assert.equal(during.leaderName, leader.leaderName, "the majority side kept its leader");
      assert.equal(during.term, leader.term, "and its term");
      const fDuring = await leaderView(c, f);
      assert.equal(
        fDuring.term,
        leader.term,
        `${f} did not raise its term while cut off (pre-vote)`,
      );

      proxies.get(f)!.setMode("pass");
      for (let i = 0; i < 10; i++) await put();
    } finally {
      writes.close();
    }

    const want = await configSnapshot(c, leader.leaderName);
    assert.equal(want.size, seq);
    await eventually(async () => {
      const got = await configSnapshot(c, f);
      return got.size === want.size && [...want].every(([k, v]) => got.get(k) === v);
    }, `${f} catches up with the ${seq} writes`);
    const healed = await agreedLeader(c, NODES);
    assert.equal(healed.leaderName, leader.leaderName, "the leader did not change");
    assert.equal(healed.term, leader.term, "the term did not change: the rejoin disrupted nothing");
  });
});
