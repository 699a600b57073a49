import assert from "node:assert/strict";
import { createHash, X509Certificate as NodeX509 } from "node:crypto";
import { before, describe, it } from "node:test";
import {
  clusterIdOfCa,
  clusterServerName,
  createClusterCa,
  DEFAULT_VALIDITY_MS,
  issueClusterCert,
  NOT_BEFORE_BACKDATE_MS,
} from "../../src/pki/certificate.js";
import { fingerprint, isFingerprint } from "../../src/pki/fingerprint.js";
import { PkiError } from "../../src/pki/pki-error.js";
import { x509 } from "../../src/pki/x509.js";
import { CLUSTER_ID, type ClusterPki, makeClusterPki, parsed } from "./fixtures.js";

describe("cluster CA and cluster certificate", () => {
  const now = new Date("2030-01-01T00:00:00Z");
  let pki: ClusterPki;

  before(async () => {
    const ca = await createClusterCa({ clusterId: CLUSTER_ID, now });
    pki = { ca, cert: await issueClusterCert({ ca, clusterId: CLUSTER_ID, now }) };
  });

  it("the CA is self-signed ECDSA P-256, CA:true critical, keyCertSign+cRLSign, SKI, 128-bit serial", async () => {
    const ca = parsed(pki.ca.certPem);
    assert.equal(ca.subject, ca.issuer);
    assert.ok(await ca.verify({ publicKey: ca.publicKey, signatureOnly: true }));
    assert.equal((ca.publicKey.algorithm as { namedCurve?: string }).namedCurve, "P-256");
    const bc = ca.getExtension(x509.BasicConstraintsExtension)!;
    assert.equal(bc.ca, true);
    assert.equal(bc.critical, true);
    const ku = ca.getExtension(x509.KeyUsagesExtension)!;
    assert.equal(ku.usages, x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign);
    assert.ok(ca.getExtension(x509.SubjectKeyIdentifierExtension));
    assert.match(ca.serialNumber, /^[0-7][0-9a-f]{31}$/);
    assert.equal(clusterIdOfCa(ca), CLUSTER_ID);
  });

  it("validity is ten years by default, with notBefore backdated", () => {
    for (const c of [pki.ca, pki.cert]) {
      assert.equal(c.notBefore.getTime(), now.getTime() - NOT_BEFORE_BACKDATE_MS);
      assert.equal(c.notAfter.getTime(), now.getTime() + DEFAULT_VALIDITY_MS);
    }
  });

  it("validity is configurable and must be positive", async () => {
    const short = await createClusterCa({ clusterId: CLUSTER_ID, now, validityMs: 3_600_000 });
    assert.equal(short.notAfter.getTime(), now.getTime() + 3_600_000);
    await assert.rejects(createClusterCa({ clusterId: CLUSTER_ID, validityMs: 0 }), PkiError);
  });

  it("the cluster certificate is signed by the CA, serverAuth+clientAuth, named after the cluster, with AKI", async () => {
    const ca = parsed(pki.ca.certPem);
    const cert = parsed(pki.cert.certPem);
    assert.ok(await cert.verify({ publicKey: ca.publicKey, signatureOnly: true }));
    assert.ok(new NodeX509(pki.cert.certPem).verify(new NodeX509(pki.ca.certPem).publicKey));
    const eku = cert.getExtension(x509.ExtendedKeyUsageExtension)!;
    assert.deepEqual(
      [...eku.usages].sort(),
      [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth].sort(),
    );
    const name = clusterServerName(CLUSTER_ID);
    assert.deepEqual(cert.subjectName.getField("CN"), [name]);
    const san = cert.getExtension(x509.SubjectAlternativeNameExtension)!;
    assert.deepEqual(san.names.toJSON(), [{ type: "dns", value: name }]);
    const aki = cert.getExtension(x509.AuthorityKeyIdentifierExtension)!;
    assert.equal(aki.keyId, ca.getExtension(x509.SubjectKeyIdentifierExtension)!.keyId);
    assert.equal(cert.getExtension(x509.BasicConstraintsExtension)!.ca, false);
    assert.equal(
      cert.getExtension(x509.KeyUsagesExtension)!.usages,
      x509.KeyUsageFlags.digitalSignature,
    );
    // OpenSSL agrees on the name and on the purpose.
    assert.equal(new NodeX509(pki.cert.certPem).checkHost(name), name);
  });

  it("keys are PKCS#8 PEM and serials differ between certificates", async () => {
    assert.match(pki.cert.keyPem, /^-----BEGIN PRIVATE KEY-----\n/);
    const again = await makeClusterPki();
    assert.notEqual(parsed(again.ca.certPem).serialNumber, parsed(pki.ca.certPem).serialNumber);
  });

  it("the cluster name is derived from the cluster id", () => {
    assert.equal(clusterServerName(CLUSTER_ID), "gastrolog-3f2a9c1e7b4d4e8a.cluster.invalid");
    assert.match(clusterServerName("prod_cluster.1"), /^gastrolog-[0-9a-f]{16}\.cluster\.invalid$/);
    assert.notEqual(clusterServerName("a"), clusterServerName("b"));
    assert.throws(() => clusterServerName(""), PkiError);
  });

  it("fingerprints are the lowercase hex SHA-256 of the DER", () => {
    const der = new Uint8Array(parsed(pki.ca.certPem).rawData);
    const fp = fingerprint(der);
    assert.equal(fp, createHash("sha256").update(der).digest("hex"));
    assert.equal(fp, pki.ca.fingerprint);
    assert.equal(fp, new NodeX509(pki.ca.certPem).fingerprint256.replaceAll(":", "").toLowerCase());
    assert.ok(isFingerprint(fp));
    assert.ok(!isFingerprint(fp.toUpperCase()));
  });
});

describe("issuing with a loaded CA kept between rotations", () => {
  const ID = "0b7c2e55-1d3a-4f6b-8e9d-2a4c6e8f0a1b";
  it("each CA signs what it issues, across CA changes; a wrong key or a non-CA is refused every time", async () => {
    const a = await createClusterCa({ clusterId: ID });
    const b = await createClusterCa({ clusterId: ID });
    const fromA = await issueClusterCert({ ca: a, clusterId: ID });
    const fromB = await issueClusterCert({ ca: b, clusterId: ID });
    const againA = await issueClusterCert({ ca: a, clusterId: ID });
    const caA = new NodeX509(a.certPem);
    const caB = new NodeX509(b.certPem);
    for (const [leaf, ca, other] of [
      [fromA, caA, caB],
      [fromB, caB, caA],
      [againA, caA, caB],
    ] as const) {
      const cert = new NodeX509(leaf.certPem);
      assert.ok(cert.verify(ca.publicKey), "signed by its CA");
      assert.ok(!cert.verify(other.publicKey), "not by the other one");
      assert.equal(cert.issuer, ca.subject);
      assert.ok(cert.checkIssued(ca));
    }
    assert.notEqual(fromA.fingerprint, againA.fingerprint, "a fresh key and serial each time");
    for (let i = 0; i < 2; i++) {
      await assert.rejects(
        issueClusterCert({ ca: { certPem: a.certPem, keyPem: b.keyPem }, clusterId: ID }),
        (e: unknown) => e instanceof PkiError && e.code === "key-mismatch",
      );
      await assert.rejects(
        issueClusterCert({ ca: { certPem: fromA.certPem, keyPem: fromA.keyPem }, clusterId: ID }),
        (e: unknown) => e instanceof PkiError && e.code === "not-a-ca",
      );
    }
  });
});
