import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createClient } from "@connectrpc/connect";
import { type PortPair, startPortPair } from "../../../test/cluster-port/helpers.js";
import type { TcpProxy } from "../../../test/e2e/tcp-proxy.js";
import { CLUSTER_ID, type ClusterPki, makeClusterPki } from "../../../test/pki/fixtures.js";
import { HealthService } from "../../gen/gastrolog/v1/health_pb.js";
import { type CertificateWithKey, issueClusterCert } from "../../pki/certificate.js";
import { ClusterTlsState } from "../tls/tls-state.js";
import type { ClusterPortServer } from "./server.js";

/**
 * The peer clients keep their connections across a swap that changes neither what they
 * present nor whom they trust and only widens the accepted set (the begin of a rotation),
 * and rebuild them for anything else. Node A dials node B through a proxy that counts
 * connections.
 */
describe("peer clients: which swaps keep the outgoing connections", () => {
  let pki: ClusterPki;
  let next: CertificateWithKey;
  let pair: PortPair;
  let a: ClusterPortServer;
  let b: ClusterPortServer;
  let proxy: TcpProxy;

  /** A node's state: presents `cert`, accepts `accepted`, dials with `client` if given. */
  const state = (
    cert: CertificateWithKey,
    accepted: CertificateWithKey[],
    client?: CertificateWithKey,
  ): ClusterTlsState => {
    const s = ClusterTlsState.fromPem({
      trustedCaPems: [pki.ca.certPem],
      certPem: cert.certPem,
      keyPem: cert.keyPem,
      accepted: accepted.map((c) => c.fingerprint),
    });
    return client ? s.withClientIdentity(client.certPem, client.keyPem) : s;
  };

  before(async () => {
    pki = await makeClusterPki();
    next = await issueClusterCert({ ca: pki.ca, clusterId: CLUSTER_ID });
    pair = await startPortPair(() => state(pki.cert, [pki.cert]));
    ({ a, b, proxy } = pair);
  });
  after(async () => {
    await pair?.close();
  });

  it("a rotation's begin keeps them and checks reconnects against the widened set; its finish rebuilds them", async () => {
    const health = createClient(HealthService, a.peers.transport(pair.viaProxy));
    assert.equal((await health.check({})).nodeId, "node-b");
    assert.equal(proxy.accepted, 1);

    // Begin on A: presents the new certificate, accepts both, still dials with the old one.
    a.swapTls(state(next, [pki.cert, next], pki.cert));
    assert.equal((await health.check({})).nodeId, "node-b");
    assert.equal(proxy.accepted, 1, "the connection to B was kept");

    // Begin on B too: B now presents the new certificate to new connections. Cut A's
    // connection: the reconnect must accept B's new leaf, which only the widened accepted
    // set (not the one A's transport was built with) contains.
    b.swapTls(state(next, [pki.cert, next], pki.cert));
    proxy.setMode("cut");
    await assert.rejects(health.check({}, { timeoutMs: 2000 }));
    proxy.setMode("pass");
    const beforeReconnect = proxy.accepted;
    assert.equal((await health.check({})).nodeId, "node-b");
    assert.equal(proxy.accepted, beforeReconnect + 1, "one reconnect, which B's new leaf passed");

    // Finish on A: dials with the new certificate and accepts only it: rebuilt.
    a.swapTls(state(next, [next]));
    assert.equal((await health.check({})).nodeId, "node-b");
    assert.equal(
      proxy.accepted,
      beforeReconnect + 2,
      "the finish dials anew with the new certificate",
    );
  });

  it("a swap that changes the client identity or narrows the accepted set rebuilds them", () => {
    const begin = state(next, [pki.cert, next], pki.cert);
    assert.equal(a.peers.swap(begin), true, "from the finished state above");
    assert.equal(a.peers.swap(state(next, [pki.cert, next], pki.cert)), false);
    assert.equal(a.peers.swap(state(next, [next], pki.cert)), true, "narrowed");
    assert.equal(a.peers.swap(state(next, [pki.cert, next], next)), true, "other identity");
    assert.equal(a.peers.swap(state(next, [pki.cert, next], next)), false);
  });
});
