import assert from "node:assert/strict";
import { once } from "node:events";
import { after, before, describe, it } from "node:test";
import * as tls from "node:tls";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { ClusterTlsState } from "../../src/cluster/tls/tls-state.js";
import { HealthService } from "../../src/gen/gastrolog/v1/health_pb.js";
import {
  type RaftBatchSchema,
  RaftMessageSchema,
  RaftService,
} from "../../src/gen/gastrolog/v1/raft_pb.js";
import { type CertificateWithKey, issueClusterCert } from "../../src/pki/certificate.js";
import { fingerprint } from "../../src/pki/fingerprint.js";
import { CLUSTER_ID, type ClusterPki, makeClusterPki } from "../pki/fixtures.js";
import {
  clientOnSession,
  clientTls,
  eventually,
  openSession,
  pushable,
  type Started,
  startServer,
} from "./helpers.js";

async function codeOf(p: Promise<unknown>): Promise<Code | "ok"> {
  try {
    await p;
    return "ok";
  } catch (err) {
    return ConnectError.from(err).code;
  }
}

/** The fingerprint of the leaf a fresh TLS connection to `port` is shown. */
async function presentedLeaf(port: number, state: ClusterTlsState): Promise<string> {
  const socket = tls.connect({
    host: "127.0.0.1",
    port,
    ca: state.trustedCaPem,
    servername: state.serverName,
    ALPNProtocols: ["h2"],
  });
  try {
    await once(socket, "secureConnect");
    return fingerprint(new Uint8Array(socket.getPeerX509Certificate()!.raw));
  } finally {
    socket.destroy();
  }
}

describe("hot reload of the cluster TLS state (real TLS on 127.0.0.1)", () => {
  let pki: ClusterPki;
  let certB: CertificateWithKey;
  /** Presents A, accepts A. */
  let s1: ClusterTlsState;
  /** Rotation in flight: presents B, accepts A and B. */
  let s2: ClusterTlsState;
  /** Rotation finished: presents B, accepts only B. */
  let s3: ClusterTlsState;

  before(async () => {
    pki = await makeClusterPki();
    certB = await issueClusterCert({ ca: pki.ca, clusterId: CLUSTER_ID });
    const material = (cert: CertificateWithKey, accepted: string[]) =>
      ClusterTlsState.fromPem({
        trustedCaPems: [pki.ca.certPem],
        certPem: cert.certPem,
        keyPem: cert.keyPem,
        accepted,
      });
    s1 = material(pki.cert, [pki.cert.fingerprint]);
    s2 = material(certB, [pki.cert.fingerprint, certB.fingerprint]);
    s3 = material(certB, [certB.fingerprint]);
  });

  let started: Started | undefined;
  after(async () => {
    await started?.server.close();
  });

  it("5. new connections see the new leaf; a removed peer's session is closed; an in-flight call completes", async () => {
    let firstMessage!: () => void;
    const gotFirst = new Promise<void>((r) => {
      firstMessage = r;
    });
    let received = 0;
    started = await startServer(s1);
    started.server.register(RaftService, {
      async stream(batches) {
        for await (const _ of batches) {
          received++;
          if (received === 1) firstMessage();
        }
        return {};
      },
    });
    const { server, addr, port } = started;

    assert.equal(await presentedLeaf(port, s1), pki.cert.fingerprint);

    // A peer holding certificate A opens a session and starts a long call on it.
    const sessionA = await openSession(addr, clientTls(s1, pki.cert));
    try {
      const raft = clientOnSession(RaftService, sessionA, addr);
      const input = pushable<MessageInitShape<typeof RaftBatchSchema>>();
      const call = raft.stream(input.iterable);
      input.push({ messages: [create(RaftMessageSchema, {})] });
      await gotFirst;

      // Rotation begins: the server presents B, accepts A and B. A's session is still good.
      assert.deepEqual(server.swapTls(s2), { closedSessions: 0 });
      assert.equal(await presentedLeaf(port, s2), certB.fingerprint, "new connections must see B");
      assert.equal(
        (await clientOnSession(HealthService, sessionA, addr).check({})).nodeId,
        "node-a",
      );

      // Rotation finishes: A is no longer accepted. A's session gets a GOAWAY...
      const goaway = eventually(sessionA, "goaway", "GOAWAY to the session authenticated with A");
      assert.deepEqual(server.swapTls(s3), { closedSessions: 1 });
      await goaway;

      // ...but the call in flight completes.
      input.push({ messages: [create(RaftMessageSchema, {})] });
      input.end();
      await call;
      assert.equal(received, 2);
      if (!sessionA.closed) await eventually(sessionA, "close", "the drained session closing");

      // A fresh connection with A is refused; with B it is served.
      const again = await openSession(addr, clientTls(s3, pki.cert));
      const withB = await openSession(addr, clientTls(s3, certB));
      try {
        assert.equal(
          await codeOf(clientOnSession(HealthService, again, addr).check({})),
          Code.PermissionDenied,
        );
        assert.equal(await codeOf(clientOnSession(HealthService, withB, addr).check({})), "ok");
      } finally {
        again.destroy();
        withB.destroy();
      }
    } finally {
      sessionA.destroy();
    }
  });

  it("5b. peer clients are rebuilt with the new credentials (the same transport object)", async () => {
    // A peer that accepts only B.
    const peer = await startServer(s3, { nodeId: "node-b" });
    const local = await startServer(
      ClusterTlsState.fromPem({
        ...s1.material(),
        accepted: [pki.cert.fingerprint, certB.fingerprint],
      }),
    );
    try {
      const transport = local.server.peers.transport(peer.addr);
      const health = createClient(HealthService, transport);
      assert.equal(
        await codeOf(health.check({})),
        Code.PermissionDenied,
        "A must be refused by the peer",
      );
      local.server.swapTls(s2);
      assert.equal((await health.check({})).nodeId, "node-b");
    } finally {
      await local.server.close();
      await peer.server.close();
    }
  });

  it("5c. a peer client refuses a server whose leaf is not in the accepted set", async () => {
    // The server presents B, but the client accepts only A: trusted CA, right name, refused.
    const peer = await startServer(s2, { nodeId: "node-b" });
    const local = await startServer(s1);
    try {
      const health = createClient(HealthService, local.server.peers.transport(peer.addr));
      const err = await health.check({}).then(
        () => assert.fail("the client accepted a server leaf outside its accepted set"),
        (e: unknown) => ConnectError.from(e),
      );
      assert.equal(err.code, Code.Unavailable);
      assert.match(err.message, /not in the accepted set/);
      local.server.swapTls(s2);
      assert.equal((await health.check({})).nodeId, "node-b");
    } finally {
      await local.server.close();
      await peer.server.close();
    }
  });
});
