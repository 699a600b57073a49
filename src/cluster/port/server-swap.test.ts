import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createClient } from "@connectrpc/connect";
import { createTcpProxy, type TcpProxy } from "../../../test/e2e/tcp-proxy.js";
import { makeClusterPki, stateOf } from "../../../test/pki/fixtures.js";
import { HealthService } from "../../gen/gastrolog/v1/health_pb.js";
import { ClusterTlsState } from "../tls/tls-state.js";
import { type ClusterPortServer, createClusterPortServer } from "./server.js";

describe("cluster port: swapping in the TLS state already in force", () => {
  let a: ClusterPortServer;
  let b: ClusterPortServer;
  let proxy: TcpProxy;

  before(async () => {
    const pki = await makeClusterPki();
    const start = async (nodeId: string) => {
      const s = createClusterPortServer({ tls: stateOf(pki), nodeId, host: "127.0.0.1", port: 0 });
      await s.listen();
      return s;
    };
    a = await start("node-a");
    b = await start("node-b");
    // A counts the connections it opens to B through the proxy.
    proxy = await createTcpProxy({ targetPort: b.address()!.port });
  });
  after(async () => {
    await a?.close();
    await b?.close();
    await proxy?.close();
  });

  it("keeps the state, the sessions and the peer connections; a real change still applies", async () => {
    const health = createClient(HealthService, a.peers.transport(`127.0.0.1:${proxy.port}`));
    assert.equal((await health.check({})).nodeId, "node-b");
    assert.equal(proxy.accepted, 1);

    const inForce = a.tls();
    const same = ClusterTlsState.fromPem(inForce.material());
    assert.deepEqual(a.swapTls(same), { closedSessions: 0 });
    assert.equal(a.tls(), inForce, "the state in force (and its cached verdicts) is kept");
    assert.equal((await health.check({})).nodeId, "node-b");
    assert.equal(proxy.accepted, 1, "the peer connection was kept, not rebuilt");

    // A different state is a real swap. One that only widens the accepted set keeps the
    // peer connections (see peer-clients-keep.test.ts); one that narrows it rebuilds the
    // peer clients, and the next call dials anew.
    const wider = inForce.withAccepted([...inForce.accepted, "0".repeat(64)]);
    a.swapTls(wider);
    assert.equal(a.tls(), wider);
    assert.equal((await health.check({})).nodeId, "node-b");
    assert.equal(proxy.accepted, 1);
    const narrower = wider.withAccepted([...inForce.accepted]);
    a.swapTls(narrower);
    assert.equal(a.tls(), narrower);
    assert.equal((await health.check({})).nodeId, "node-b");
    assert.equal(proxy.accepted, 2);
  });
});
