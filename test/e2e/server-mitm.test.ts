import assert from "node:assert/strict";
import { once } from "node:events";
import { readFile } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import * as tls from "node:tls";
import { clusterServerName } from "../../src/pki/certificate.js";
import { x509 } from "../../src/pki/x509.js";
import { makeCustomCert, parsed } from "../pki/fixtures.js";
import { Cluster, type StatusJson } from "./harness.js";
import { errorLines, serverOnce, stateSnapshot } from "./server-support.js";

/** A TLS server on 127.0.0.1 that records every byte a client sends after the handshake. */
interface Recorder {
  port: number;
  received: Buffer[];
  /** Connections that completed the handshake. */
  sessions: number;
  close(): Promise<void>;
}

async function startRecorder(certPem: string, keyPem: string): Promise<Recorder> {
  const sockets = new Set<tls.TLSSocket>();
  const rec: Recorder = {
    port: 0,
    received: [],
    sessions: 0,
    async close() {
      for (const s of sockets) s.destroy();
      server.close();
      await once(server, "close");
    },
  };
  const server = tls.createServer(
    { cert: certPem, key: keyPem, ALPNProtocols: ["h2"], minVersion: "TLSv1.3" },
    (socket) => {
      rec.sessions++;
      sockets.add(socket);
      socket.on("data", (chunk: Buffer) => rec.received.push(chunk));
      // An idle connection is dropped, as a real server would: a joiner that did send
      // (a broken chain check) then fails instead of waiting for an answer forever.
      socket.setTimeout(1_000, () => socket.destroy());
      socket.on("error", () => {});
    },
  );
  server.on("tlsClientError", () => {});
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  rec.port = (server.address() as AddressInfo).port;
  return rec;
}

/**
 * Issue 5, test 5: a man in the middle between a joining `gastrolog server` and the
 * cluster presents `[its own leaf, the real CA certificate]`. The join must fail and the
 * man in the middle must receive no byte of the secret (and, since the chain check runs
 * before anything is sent, no application data at all).
 */
describe("e2e: a man in the middle on the join path (issue 5, test 5)", () => {
  let c: Cluster;
  let token: string;
  let secret: string;
  let caPem: string;
  let clusterId: string;
  before(async () => {
    c = await Cluster.create();
    const b = await c.bootstrap("n1");
    token = b.token;
    secret = token.split(":")[0]!;
    caPem = await readFile(join(c.homeOf("n1"), "tls", "ca.pem"), "utf8");
    clusterId = (await c.cliJson<StatusJson>("n1", ["cluster", "status"])).clusterId;
  });
  after(async () => {
    await c.cleanup();
  });

  const variants = {
    "a leaf that names the real CA as issuer (subject and key id), signed by its own key": true,
    "a self-issued leaf next to the real CA": false,
  };
  for (const [variant, claimsCa] of Object.entries(variants)) {
    test(`the join refuses ${variant} and sends it no secret`, async () => {
      const ca = parsed(caPem);
      const name = clusterServerName(clusterId);
      const leaf = await makeCustomCert({
        subject: `O=gastrolog, CN=${name}`,
        dnsNames: [name],
        eku: [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth],
        ...(claimsCa
          ? {
              issuerName: ca.subject,
              authorityKeyId: ca.getExtension(x509.SubjectKeyIdentifierExtension)!.keyId,
            }
          : {}),
      });
      const mitm = await startRecorder(`${leaf.certPem}${caPem}`, leaf.keyPem);
      const before = await stateSnapshot(c, "n1");
      try {
        // Control: the recorder does see what a client sends once the handshake is done.
        const probe = tls.connect({
          host: "127.0.0.1",
          port: mitm.port,
          rejectUnauthorized: false,
        });
        await once(probe, "secureConnect");
        probe.end("probe-bytes");
        await once(probe, "close");
        assert.ok(Buffer.concat(mitm.received).includes("probe-bytes"), "the recorder is blind");
        mitm.received.length = 0;
        const sessionsBefore = mitm.sessions;

        const r = await serverOnce([
          "--home",
          c.homeOf(`joiner-${claimsCa ? "a" : "b"}`),
          "--name",
          "joiner",
          "--listen",
          "127.0.0.1:0",
          "--cluster-addr",
          "127.0.0.1:0",
          "--join-addr",
          `127.0.0.1:${mitm.port}`,
          "--join-token",
          token,
        ]);
        assert.equal(r.code, 1, `the join did not fail:\n${r.stderr}`);
        const lines = errorLines(r.stderr);
        assert.equal(lines.length, 1, r.stderr);
        assert.match(lines[0]!, /did not prove it belongs to the cluster.*nothing was sent/);
        assert.ok(mitm.sessions > sessionsBefore, "the joiner never reached the man in the middle");

        const seen = Buffer.concat(mitm.received);
        assert.ok(
          !seen.includes(Buffer.from(secret, "base64url")),
          "raw secret bytes reached the MITM",
        );
        assert.ok(!seen.includes(secret), "the base64url secret reached the MITM");
        assert.equal(seen.length, 0, "the joiner sent application data to an unverified server");
        assert.ok(!r.stderr.includes(secret), "the secret is on stderr");
      } finally {
        await mitm.close();
      }
      assert.deepEqual(await stateSnapshot(c, "n1"), before, "the cluster changed");
    });
  }
});
