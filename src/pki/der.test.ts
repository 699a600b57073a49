import assert from "node:assert/strict";
import { X509Certificate as NodeX509 } from "node:crypto";
import { describe, it } from "node:test";
import { CLUSTER_ID, makeClusterPki } from "../../test/pki/fixtures.js";
import { createClusterCa, issueClusterCert } from "./certificate.js";
import { certificateSubjectDer, integerFromHex, oid, time } from "./der.js";
import { parsePemBlocks } from "./pem.js";
import { PkiError } from "./pki-error.js";
import { x509 } from "./x509.js";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

describe("DER building blocks for issuing", () => {
  it("encodes OIDs, integers and times as X.690 DER", () => {
    assert.equal(hex(oid("1.2.840.10045.4.3.2")), "06082a8648ce3d040302");
    assert.equal(hex(oid("2.5.29.17")), "0603551d11");
    assert.equal(hex(integerFromHex("7f")), "02017f");
    assert.equal(hex(integerFromHex("80")), "02020080", "a high first bit gets a zero byte");
    assert.equal(hex(integerFromHex("0001")), "020101", "leading zeros are dropped");
    // RFC 5280: UTCTime through 2049, GeneralizedTime from 2050.
    assert.equal(
      Buffer.from(time(new Date("2049-12-31T23:59:59Z"))).toString("latin1"),
      "\x17\x0d491231235959Z",
    );
    assert.equal(
      Buffer.from(time(new Date("2050-01-01T00:00:00Z"))).toString("latin1"),
      "\x18\x0f20500101000000Z",
    );
  });

  it("reads the subject of a certificate byte for byte", async () => {
    const { ca, cert } = await makeClusterPki();
    const caDer = parsePemBlocks(ca.certPem)[0]!.der;
    const leafDer = parsePemBlocks(cert.certPem)[0]!.der;
    const subject = certificateSubjectDer(caDer);
    assert.equal(
      hex(subject),
      hex(new Uint8Array(new x509.X509Certificate(caDer).subjectName.toArrayBuffer())),
    );
    // The issued certificate names the CA as its issuer with exactly those bytes.
    assert.ok(Buffer.from(leafDer).includes(Buffer.from(subject)));
    assert.throws(() => certificateSubjectDer(new Uint8Array([0x30, 0x05, 0x01])));
  });

  it("issuing across a CA change and with a wrong CA key: each CA is checked, not cached blindly", async () => {
    const a = await createClusterCa({ clusterId: CLUSTER_ID });
    const b = await createClusterCa({ clusterId: CLUSTER_ID });
    const fromA = await issueClusterCert({ ca: a, clusterId: CLUSTER_ID });
    const fromB = await issueClusterCert({ ca: b, clusterId: CLUSTER_ID });
    assert.ok(new NodeX509(fromA.certPem).verify(new NodeX509(a.certPem).publicKey));
    assert.ok(new NodeX509(fromB.certPem).verify(new NodeX509(b.certPem).publicKey));
    assert.ok(!new NodeX509(fromB.certPem).verify(new NodeX509(a.certPem).publicKey));
    await assert.rejects(
      issueClusterCert({ ca: { certPem: a.certPem, keyPem: b.keyPem }, clusterId: CLUSTER_ID }),
      (e: unknown) => e instanceof PkiError && e.code === "key-mismatch",
    );
    await assert.rejects(
      issueClusterCert({
        ca: { certPem: fromA.certPem, keyPem: fromA.keyPem },
        clusterId: CLUSTER_ID,
      }),
      (e: unknown) => e instanceof PkiError && e.code === "not-a-ca",
    );
  });
});
