import assert from "node:assert/strict";
import { afterEach, describe, it } from "node:test";
import { freeLoopbackPort } from "../../../test/e2e/harness.js";
import { makeClusterPki, stateOf } from "../../../test/pki/fixtures.js";
import { type ClusterPortServer, createClusterPortServer } from "../../cluster/port/server.js";
import { RaftService } from "../../gen/gastrolog/v1/raft_pb.js";
import { message } from "../core/test-network.js";
import type { RaftTransportSink } from "../node.js";
import type { Message } from "../types.js";
import { createGrpcRaftTransport, createRaftInbound } from "./grpc-transport.js";

/** Polls `cond` every 5 ms until true or `ms` elapse. */
async function until(cond: () => boolean, ms: number): Promise<boolean> {
  const deadline = performance.now() + ms;
  while (!cond() && performance.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  return cond();
}

function heartbeat(): Message {
  return message({ type: "heartbeat", from: "a", to: "b", term: 1 });
}

describe("raft transport: the first message to a node that is still starting", () => {
  const cleanup: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const f of cleanup.splice(0).reverse()) await f();
  });

  async function setup(port: number) {
    const tls = stateOf(await makeClusterPki());
    const ports: ClusterPortServer[] = [];
    const mk = (nodeId: string, p: number) => {
      const s = createClusterPortServer({
        tls,
        nodeId,
        host: "127.0.0.1",
        port: p,
        drainTimeoutMs: 200,
      });
      ports.push(s);
      cleanup.push(() => s.close());
      return s;
    };
    const senderPort = mk("a", 0);
    await senderPort.listen();
    const unreachable: string[] = [];
    const sink: RaftTransportSink = {
      receive: () => {},
      unreachable: (id) => unreachable.push(id),
      snapshotStatus: () => {},
    };
    const transport = createGrpcRaftTransport({
      id: "a",
      dial: (addr) => senderPort.peers.transport(addr),
    })(sink);
    cleanup.push(() => transport.close());
    transport.setPeers({ a: "127.0.0.1:1", b: `127.0.0.1:${port}` });
    const received: Message[] = [];
    const inbound = createRaftInbound({ id: "b" });
    const receiver = mk("b", port);
    receiver.register(RaftService, inbound.impl);
    cleanup.push(() => inbound.attach(undefined));
    const attach = () =>
      inbound.attach({
        receive: (m) => received.push(m),
        unreachable: () => {},
        snapshotStatus: () => {},
      });
    return { transport, receiver, attach, received, unreachable };
  }

  it("is sent again once the node's port is up, without Raft sending it again", async () => {
    const port = await freeLoopbackPort();
    const t = await setup(port);
    t.transport.send([heartbeat()]); // refused: nothing listens yet
    assert.ok(await until(() => t.unreachable.length > 0, 5000), "the refusal was reported");
    t.attach();
    await t.receiver.listen();
    assert.ok(await until(() => t.received.length > 0, 5000), "delivered after all");
    assert.equal(t.received[0]!.type, "heartbeat");
  });

  it("waits for the node's Raft to be attached instead of failing the stream", async () => {
    const port = await freeLoopbackPort();
    const t = await setup(port);
    await t.receiver.listen(); // port up, Raft not attached yet (a joining node starting)
    t.transport.send([heartbeat()]);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(t.received.length, 0);
    t.attach();
    assert.ok(await until(() => t.received.length > 0, 5000), "delivered on attach");
    assert.deepEqual(t.unreachable, [], "the stream never failed");
  });
});
