import assert from "node:assert/strict";
import { connect } from "node:net";
import { after, describe, it } from "node:test";
import { createClient } from "@connectrpc/connect";
import { makeClusterPki, stateOf } from "../../../test/pki/fixtures.js";
import { HealthService } from "../../gen/gastrolog/v1/health_pb.js";
import { holdPort } from "./held-port.js";
import { type ClusterPortServer, createClusterPortServer } from "./server.js";

describe("cluster port bound before its server exists (a joining node's)", () => {
  const closers: (() => Promise<void>)[] = [];
  after(async () => {
    for (const close of closers.splice(0).reverse()) await close();
  });

  it("a call made while the port is only held is answered once the server serves it", async () => {
    const pki = await makeClusterPki();
    let heldOne!: () => void;
    const waiting = new Promise<void>((resolve) => {
      heldOne = resolve;
    });
    const held = await holdPort("127.0.0.1", 0, { onHeld: () => heldOne() });
    closers.push(() => held.close());
    const addr = `127.0.0.1:${held.address().port}`;
    // A peer (here: another port's client) calls the held port before any server exists.
    const caller = createClusterPortServer({ tls: stateOf(pki), nodeId: "caller" });
    closers.push(() => caller.close());
    const health = createClient(HealthService, caller.peers.transport(addr));
    let answered = false;
    const call = health.check({}, { timeoutMs: 10_000 }).then((r) => {
      answered = true;
      return r;
    });
    // The connection is accepted and held (not refused), and the call is not answered:
    // nothing reads its TLS hello until a server takes the port over.
    await waiting;
    assert.equal(answered, false);
    const port: ClusterPortServer = createClusterPortServer({
      tls: stateOf(pki),
      nodeId: "joiner",
      listener: held,
    });
    closers.push(() => port.close());
    assert.equal(await port.listen(), held.address().port);
    assert.equal(port.address()?.port, held.address().port);
    assert.equal((await call).nodeId, "joiner");
    // Later connections go straight to the server.
    const again = createClusterPortServer({ tls: stateOf(pki), nodeId: "again" });
    closers.push(() => again.close());
    const res = await createClient(HealthService, again.peers.transport(addr)).check({});
    assert.equal(res.nodeId, "joiner");
  });

  it("close() stops listening and drops waiting connections; at most maxHeld wait", async () => {
    const held = await holdPort("127.0.0.1", 0, { maxHeld: 2 });
    const port = held.address().port;
    const ended: boolean[] = [];
    const sockets = [0, 1, 2].map((i) => {
      const s = connect(port, "127.0.0.1");
      s.on("error", () => undefined);
      s.on("close", () => {
        ended[i] = true;
      });
      return s;
    });
    await Promise.all(sockets.map((s) => new Promise((r) => s.once("connect", r))));
    // The third is over the limit and closed at once.
    await new Promise<void>((resolve) => sockets[2]!.once("close", () => resolve()));
    assert.deepEqual([ended[0] ?? false, ended[1] ?? false], [false, false]);
    await held.close();
    await Promise.all(
      sockets
        .slice(0, 2)
        .map((s) => (s.closed ? undefined : new Promise((r) => s.once("close", r)))),
    );
    await assert.rejects(
      new Promise((resolve, reject) => {
        const s = connect(port, "127.0.0.1");
        s.once("connect", () => {
          s.destroy();
          resolve(undefined);
        });
        s.once("error", reject);
      }),
      /ECONNREFUSED/,
    );
  });
});
