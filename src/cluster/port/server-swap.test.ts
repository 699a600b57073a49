import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createClient } from "@connectrpc/connect";
import { type PortPair, startPortPair } from "../../../test/cluster-port/helpers.js";
import type { TcpProxy } from "../../../test/e2e/tcp-proxy.js";
import { makeClusterPki, stateOf } from "../../../test/pki/fixtures.js";
import { HealthService } from "../../gen/gastrolog/v1/health_pb.js";
import { ClusterTlsState } from "../tls/tls-state.js";
import type { ClusterPortServer } from "./server.js";

describe("cluster port: swapping in the TLS state already in force", () => {
  let pair: PortPair;
  let a: ClusterPortServer;
  let proxy: TcpProxy;

  before(async () => {
    const pki = await makeClusterPki();
    // A counts the connections it opens to B through the proxy.
    pair = await startPortPair(() => stateOf(pki));
    ({ a, proxy } = pair);
  });
  after(async () => {
    await pair?.close();
  });

  it("keeps the state, the sessions and the peer connections; a real change still applies", async () => {
    const health = createClient(HealthService, a.peers.transport(pair.viaProxy));
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
