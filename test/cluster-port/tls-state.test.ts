import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { type ClusterTlsMaterial, ClusterTlsState } from "../../src/cluster/tls/tls-state.js";
import { clusterServerName } from "../../src/pki/certificate.js";
import { PkiError, type PkiErrorCode } from "../../src/pki/pki-error.js";
import { x509 } from "../../src/pki/x509.js";
import {
  CLUSTER_ID,
  type ClusterPki,
  makeClusterPki,
  makeCustomCert,
  stateOf,
} from "../pki/fixtures.js";
import { startServer } from "./helpers.js";

describe("cluster TLS state: bad input gets a clear error, not a crash", () => {
  let pki: ClusterPki;
  let other: ClusterPki;
  let good: ClusterTlsMaterial;

  before(async () => {
    pki = await makeClusterPki();
    other = await makeClusterPki();
    good = { trustedCaPems: [pki.ca.certPem], certPem: pki.cert.certPem, keyPem: pki.cert.keyPem };
  });

  /** Builds a state from `good` with `patch`, expecting a PkiError with `code`. */
  function refused(patch: Partial<ClusterTlsMaterial>, code: PkiErrorCode, message: RegExp): void {
    let thrown: unknown;
    try {
      ClusterTlsState.fromPem({ ...good, ...patch });
    } catch (err) {
      thrown = err;
    }
    assert.ok(thrown instanceof PkiError, `expected a PkiError(${code}), got ${String(thrown)}`);
    assert.equal(thrown.code, code);
    assert.match(thrown.message, message);
    // No private key material in the message, whatever was wrong.
    const keyBody = pki.cert.keyPem.split("\n")[1]!;
    assert.ok(!thrown.message.includes(keyBody.slice(0, 16)));
    assert.ok(!thrown.message.includes("PRIVATE KEY-----"));
  }

  it("accepts good material", () => {
    const s = ClusterTlsState.fromPem(good);
    assert.equal(s.serverName, clusterServerName(CLUSTER_ID));
    assert.deepEqual([...s.accepted], [pki.cert.fingerprint]);
    assert.equal(s.fingerprint, pki.cert.fingerprint);
  });

  it("malformed PEM: garbage, a truncated block, bad base64, a certificate that is not DER", () => {
    refused({ certPem: "not a certificate" }, "malformed-pem", /no CERTIFICATE block/);
    refused({ certPem: pki.cert.certPem.slice(0, 200) }, "malformed-pem", /unterminated block/);
    refused(
      { certPem: "-----BEGIN CERTIFICATE-----\n@@@@\n-----END CERTIFICATE-----\n" },
      "malformed-pem",
      /valid base64/,
    );
    refused(
      { certPem: "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n" },
      "malformed-certificate",
      /not a valid X.509 certificate/,
    );
    refused({ keyPem: pki.cert.certPem }, "malformed-pem", /no PRIVATE KEY block/);
    refused(
      { keyPem: "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n" },
      "malformed-key",
      /cannot be decoded/,
    );
    refused({ trustedCaPems: ["garbage"] }, "malformed-pem", /no CERTIFICATE block/);
    refused({ trustedCaPems: [] }, "malformed-pem", /no trusted CA/);
  });

  it("a key that does not match its certificate", () => {
    refused({ keyPem: other.cert.keyPem }, "key-mismatch", /does not belong to the certificate/);
  });

  it("a certificate that is not a CA used as the CA", () => {
    refused({ trustedCaPems: [pki.cert.certPem] }, "not-a-ca", /is not a CA/);
  });

  it("a CA with CA:true but without keyCertSign used as the CA", async () => {
    const fake = await makeCustomCert({
      subject: "CN=fake",
      isCa: true,
      keyUsage: x509.KeyUsageFlags.digitalSignature,
    });
    refused({ trustedCaPems: [fake.certPem] }, "not-a-ca", /is not a CA/);
  });

  it("a certificate not signed by any trusted CA", () => {
    refused({ trustedCaPems: [other.ca.certPem] }, "untrusted-certificate", /not signed by any/);
  });

  it("a malformed accepted fingerprint", () => {
    refused({ accepted: ["ABC"] }, "bad-fingerprint", /64 lowercase hex/);
  });

  it("a server name the certificate does not carry", () => {
    refused({ serverName: "elsewhere.invalid" }, "malformed-certificate", /cluster name/);
  });

  it("a refused state changes nothing on a running server", async () => {
    const started = await startServer(stateOf(pki));
    try {
      const before = started.server.tls();
      assert.throws(
        () =>
          started.server.swapTls(ClusterTlsState.fromPem({ ...good, keyPem: other.cert.keyPem })),
        PkiError,
      );
      assert.equal(started.server.tls(), before);
    } finally {
      await started.server.close();
    }
  });
});
