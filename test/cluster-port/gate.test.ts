import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type { Http2SessionManager } from "@connectrpc/connect-node";
import { peerIdentityKey } from "../../src/cluster/port/peer-identity.js";
import type { ClusterTlsState } from "../../src/cluster/tls/tls-state.js";
import { EnrollResponseSchema, EnrollService } from "../../src/gen/gastrolog/v1/enroll_pb.js";
import { HealthService } from "../../src/gen/gastrolog/v1/health_pb.js";
import { RaftService } from "../../src/gen/gastrolog/v1/raft_pb.js";
import { clusterServerName, issueClusterCert } from "../../src/pki/certificate.js";
import { x509 } from "../../src/pki/x509.js";
import {
  CLUSTER_ID,
  type ClusterPki,
  makeClusterPki,
  makeCustomCert,
  stateOf,
} from "../pki/fixtures.js";
import { clientFor, clientTls, type Started, startServer } from "./helpers.js";

async function codeOf(p: Promise<unknown>): Promise<Code> {
  try {
    await p;
  } catch (err) {
    return ConnectError.from(err).code;
  }
  assert.fail("the call succeeded, it should have been refused");
}

describe("cluster port authentication gate (real TLS on 127.0.0.1)", () => {
  let pki: ClusterPki;
  let state: ClusterTlsState;
  let started: Started;
  let roleCalls = 0;
  let raftStreams = 0;
  const managers: Http2SessionManager[] = [];
  const track = <T extends { manager: Http2SessionManager }>(c: T): T => {
    managers.push(c.manager);
    return c;
  };

  before(async () => {
    pki = await makeClusterPki();
    state = stateOf(pki);
    started = await startServer(state, {
      role: () => {
        roleCalls++;
        return "leader";
      },
      clock: () => 1_700_000_000_123,
    });
    // A service registered by another module (the Raft transport) is gated like the rest.
    started.server.register(RaftService, {
      async stream(requests) {
        raftStreams++;
        for await (const _ of requests) {
          // drain
        }
        return {};
      },
    });
  });

  after(async () => {
    for (const m of managers) m.abort();
    await started?.server.close();
  });

  it("1. a client with the cluster certificate calls Health.Check and succeeds", async () => {
    const { client } = track(
      clientFor(HealthService, started.addr, state.clientOptions() as never),
    );
    const before = roleCalls;
    const res = await client.check({});
    assert.equal(res.nodeId, "node-a");
    assert.equal(res.role, "leader");
    assert.equal(res.timeUnixMs, 1_700_000_000_123n);
    assert.equal(roleCalls, before + 1);
  });

  it("1b. a service registered by another module is reachable with the cluster certificate", async () => {
    const { client } = track(clientFor(RaftService, started.addr, state.clientOptions() as never));
    const n = raftStreams;
    await client.stream((async function* () {})());
    assert.equal(raftStreams, n + 1);
  });

  it("2. a client without a certificate reaches Enroll and GetCABundle but not Health.Check", async () => {
    const anon = track(clientFor(EnrollService, started.addr, clientTls(state)));
    const bundle = await anon.client.getCABundle({});
    assert.deepEqual(bundle.trustedCaPems, [pki.ca.certPem]);
    assert.ok(!bundle.trustedCaPems.join("").includes("PRIVATE KEY"));

    // No handler yet: Enroll is reached and answers unimplemented (not unauthenticated).
    assert.equal(await codeOf(anon.client.enroll({ nodeId: "n2" })), Code.Unimplemented);

    // With a handler, the handler runs and learns that the peer is anonymous.
    let seen: string | undefined;
    started.server.setEnrollHandler(async (req, ctx) => {
      seen = ctx.values.get(peerIdentityKey)?.auth.t;
      return create(EnrollResponseSchema, { clusterId: `for-${req.nodeId}` });
    });
    try {
      const res = await anon.client.enroll({ nodeId: "n2" });
      assert.equal(res.clusterId, "for-n2");
      assert.equal(seen, "anonymous");
    } finally {
      started.server.setEnrollHandler(undefined);
    }

    const health = track(clientFor(HealthService, started.addr, clientTls(state)));
    const before = roleCalls;
    assert.equal(await codeOf(health.client.check({})), Code.Unauthenticated);
    assert.equal(roleCalls, before, "the Health handler must not run for a refused peer");

    const raft = track(clientFor(RaftService, started.addr, clientTls(state)));
    const n = raftStreams;
    assert.equal(await codeOf(raft.client.stream((async function* () {})())), Code.Unauthenticated);
    assert.equal(raftStreams, n, "a registered handler must not run for a refused peer");
  });

  it("3. a self-signed impostor with the same CN and SAN is refused", async () => {
    const name = clusterServerName(CLUSTER_ID);
    const impostor = await makeCustomCert({
      subject: `O=gastrolog, CN=${name}`,
      dnsNames: [name],
      eku: [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth],
    });
    const { client } = track(clientFor(HealthService, started.addr, clientTls(state, impostor)));
    const before = roleCalls;
    assert.equal(await codeOf(client.check({})), Code.Unauthenticated);
    assert.equal(roleCalls, before);
  });

  it("3b. an impostor that copies the CA's subject and key id as its issuer is refused", async () => {
    const name = clusterServerName(CLUSTER_ID);
    const ca = new x509.X509Certificate(pki.ca.certPem);
    const impostor = await makeCustomCert({
      subject: `O=gastrolog, CN=${name}`,
      issuerName: ca.subject,
      authorityKeyId: ca.getExtension(x509.SubjectKeyIdentifierExtension)!.keyId,
      dnsNames: [name],
      eku: [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth],
    });
    const { client } = track(clientFor(HealthService, started.addr, clientTls(state, impostor)));
    assert.equal(await codeOf(client.check({})), Code.Unauthenticated);
  });

  it("4. a certificate signed by the same CA but not in the accepted set is refused (revocation)", async () => {
    const revoked = await issueClusterCert({ ca: pki.ca, clusterId: CLUSTER_ID });
    const { client } = track(clientFor(HealthService, started.addr, clientTls(state, revoked)));
    const before = roleCalls;
    assert.equal(await codeOf(client.check({})), Code.PermissionDenied);
    assert.equal(roleCalls, before);

    // Control: the very same certificate is served once it is in the accepted set, so the
    // refusal above is the accepted set at work and nothing else.
    const accepting = await startServer(
      state.withAccepted([state.fingerprint, revoked.fingerprint]),
    );
    try {
      const ok = track(clientFor(HealthService, accepting.addr, clientTls(state, revoked)));
      assert.equal((await ok.client.check({})).nodeId, "node-a");
    } finally {
      for (const m of managers) m.abort();
      await accepting.server.close();
    }
  });
});
