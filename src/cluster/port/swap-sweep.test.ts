import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  clientOnSession,
  clientTls,
  eventually,
  openSession,
  type Started,
  startServer,
} from "../../../test/cluster-port/helpers.js";
import {
  CLUSTER_ID,
  type ClusterPki,
  makeClusterPki,
  stateOf,
} from "../../../test/pki/fixtures.js";
import { HealthService } from "../../gen/gastrolog/v1/health_pb.js";
import { type CertificateWithKey, issueClusterCert } from "../../pki/certificate.js";

/**
 * Which swaps sweep the open sessions. One that keeps the trusted CAs and only adds to
 * the accepted set (a rotation's begin) cannot make a session unacceptable and sweeps
 * nothing; any other one sends a GOAWAY to every session whose certificate it does not
 * accept.
 */
describe("cluster port: the session sweep on a swap", () => {
  let pki: ClusterPki;
  let outsider: CertificateWithKey;
  let started: Started;

  before(async () => {
    pki = await makeClusterPki();
    // Signed by the cluster CA, never in the accepted set: the gate refuses its calls.
    outsider = await issueClusterCert({ ca: pki.ca, clusterId: CLUSTER_ID });
    started = await startServer(stateOf(pki));
  });
  after(async () => {
    await started?.server.close();
  });

  it("a widening swap sweeps nothing; a narrowing one closes the sessions it does not accept", async () => {
    const { server, addr } = started;
    const inForce = server.tls();
    const member = await openSession(addr, clientTls(inForce, pki.cert));
    const refused = await openSession(addr, clientTls(inForce, outsider));
    try {
      assert.equal((await clientOnSession(HealthService, member, addr).check({})).nodeId, "node-a");
      await assert.rejects(clientOnSession(HealthService, refused, addr).check({}));

      const wider = inForce.withAccepted([...inForce.accepted, "0".repeat(64)]);
      assert.deepEqual(server.swapTls(wider), { closedSessions: 0 });
      assert.equal(refused.closed, false);

      const refusedGone = eventually(refused, "goaway", "the refused session's GOAWAY");
      assert.deepEqual(server.swapTls(wider.withAccepted([...inForce.accepted])), {
        closedSessions: 1,
      });
      await refusedGone;
      assert.equal((await clientOnSession(HealthService, member, addr).check({})).nodeId, "node-a");
    } finally {
      member.destroy();
      refused.destroy();
    }
  });
});
