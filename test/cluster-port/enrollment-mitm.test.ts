import assert from "node:assert/strict";
import { once } from "node:events";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import * as tls from "node:tls";
import { create } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { dialEnrollment, EnrollmentChainError } from "../../src/cluster/tls/enrollment-dial.js";
import { EnrollResponseSchema, EnrollService } from "../../src/gen/gastrolog/v1/enroll_pb.js";
import { clusterServerName } from "../../src/pki/certificate.js";
import { generateJoinToken } from "../../src/pki/join-token.js";
import { certificatesToPem } from "../../src/pki/pem.js";
import { x509 } from "../../src/pki/x509.js";
import {
  CLUSTER_ID,
  type ClusterPki,
  makeClusterPki,
  makeCustomCert,
  parsed,
  stateOf,
} from "../pki/fixtures.js";
import { type Started, startServer } from "./helpers.js";

const NAME = clusterServerName(CLUSTER_ID);
const BOTH = [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth];

/**
 * A man in the middle: a TLS server presenting `chain` (its own leaf, then the real CA)
 * that records every byte it receives after the handshake.
 */
interface Mitm {
  port: number;
  received: Buffer[];
  /** Resolves when the n-th accepted connection has closed. */
  closed(n: number): Promise<void>;
  close(): Promise<void>;
}

async function startMitm(chainPem: string, keyPem: string): Promise<Mitm> {
  const received: Buffer[] = [];
  const closes: Promise<void>[] = [];
  const sockets = new Set<tls.TLSSocket>();
  const server = tls.createServer(
    { cert: chainPem, key: keyPem, ALPNProtocols: ["h2"], minVersion: "TLSv1.3" },
    (socket) => {
      sockets.add(socket);
      closes.push(once(socket, "close").then(() => undefined));
      socket.on("data", (chunk: Buffer) => received.push(chunk));
      socket.on("error", () => {});
    },
  );
  // A client that gives up mid-handshake counts as a connection too (nothing to record).
  server.on("tlsClientError", () => closes.push(Promise.resolve()));
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return {
    port: (server.address() as AddressInfo).port,
    received,
    async closed(n) {
      const deadline = Date.now() + 5_000;
      while (closes.length < n) {
        if (Date.now() > deadline) assert.fail(`the MITM never saw connection #${n}`);
        await new Promise((r) => setImmediate(r));
      }
      await closes[n - 1];
    },
    async close() {
      for (const s of sockets) s.destroy();
      server.close();
      await once(server, "close");
    },
  };
}

describe("enrollment dial: chain check before sending anything (real TLS on 127.0.0.1)", () => {
  let pki: ClusterPki;
  let real: Started;
  const token = generateJoinToken("00".repeat(32));
  let secret: Uint8Array;
  const secretText = () => Buffer.from(secret).toString("base64url");

  before(async () => {
    pki = await makeClusterPki();
    const t = generateJoinToken(pki.ca.fingerprint);
    secret = t.secret;
    real = await startServer(stateOf(pki));
    real.server.setEnrollHandler(async (req) =>
      create(EnrollResponseSchema, {
        clusterId: Buffer.from(req.secret).equals(Buffer.from(secret)) ? CLUSTER_ID : "wrong",
      }),
    );
  });

  after(async () => {
    await real?.server.close();
  });

  /** What a joining node does: dial, and only if that succeeds, send the secret. */
  async function join(port: number): Promise<string> {
    const conn = await dialEnrollment({ host: "127.0.0.1", port, caHash: pki.ca.fingerprint });
    try {
      const client = createClient(EnrollService, conn.transport);
      const res = await client.enroll({ secret, nodeId: "joiner" }, { timeoutMs: 2_000 });
      return res.clusterId;
    } finally {
      conn.close();
    }
  }

  it("accepts the real cluster port and enrolls over the verified connection", async () => {
    assert.notEqual(token.token, ""); // unrelated token object, keeps the generator exercised
    assert.equal(await join(real.port), CLUSTER_ID);
    const conn = await dialEnrollment({
      host: "127.0.0.1",
      port: real.port,
      caHash: pki.ca.fingerprint,
    });
    try {
      assert.equal(conn.leafFingerprint, pki.cert.fingerprint);
      const bundle = await createClient(EnrollService, conn.transport).getCABundle({});
      assert.deepEqual(bundle.trustedCaPems, [pki.ca.certPem]);
    } finally {
      conn.close();
    }
  });

  it("refuses a wrong CA hash on the real server", async () => {
    await assert.rejects(
      dialEnrollment({ host: "127.0.0.1", port: real.port, caHash: "ab".repeat(32) }),
      (err: unknown) => err instanceof EnrollmentChainError && err.reason === "hash-not-found",
    );
  });

  for (const variant of ["own issuer", "copies the CA's subject and key id"] as const) {
    it(`refuses a man in the middle presenting [its own leaf, the real CA] (${variant}) and sends it nothing`, async () => {
      const caCert = parsed(pki.ca.certPem);
      const mitmLeaf = await makeCustomCert({
        subject: `O=gastrolog, CN=${NAME}`,
        dnsNames: [NAME],
        eku: BOTH,
        ...(variant === "own issuer"
          ? {}
          : {
              issuerName: caCert.subject,
              authorityKeyId: caCert.getExtension(x509.SubjectKeyIdentifierExtension)!.keyId,
            }),
      });
      const mitm = await startMitm(mitmLeaf.certPem + certificatesToPem([caCert]), mitmLeaf.keyPem);
      try {
        // Control: the recorder does see what a client sends after the handshake.
        const probe = tls.connect({
          host: "127.0.0.1",
          port: mitm.port,
          rejectUnauthorized: false,
        });
        await once(probe, "secureConnect");
        probe.end("probe-bytes");
        await mitm.closed(1);
        assert.ok(
          Buffer.concat(mitm.received).includes("probe-bytes"),
          "the MITM recorder is blind",
        );
        mitm.received.length = 0;

        const outcome = await join(mitm.port).then(
          (clusterId) => `joined ${clusterId}`,
          (err: unknown) => err,
        );
        await mitm.closed(2);
        const seen = Buffer.concat(mitm.received);
        assert.ok(!seen.includes(Buffer.from(secret)), "the secret reached the man in the middle");
        assert.ok(!seen.includes(secretText()), "the secret reached the man in the middle");
        assert.ok(
          outcome instanceof EnrollmentChainError,
          `expected a chain refusal, got ${String(outcome)}`,
        );
        assert.equal(outcome.reason, variant === "own issuer" ? "hash-not-found" : "bad-signature");
        assert.ok(!outcome.message.includes(secretText()));
        assert.equal(seen.length, 0, "the joiner sent application data to an unverified server");
      } finally {
        await mitm.close();
      }
    });
  }
});
