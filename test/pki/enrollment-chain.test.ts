import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { clusterServerName, issueClusterCert } from "../../src/pki/certificate.js";
import {
  type ChainCheckInput,
  type ChainRefusal,
  checkEnrollmentChain,
  describeChainRefusal,
} from "../../src/pki/enrollment-chain.js";
import { x509 } from "../../src/pki/x509.js";
import { CLUSTER_ID, type ClusterPki, makeClusterPki, makeCustomCert, parsed } from "./fixtures.js";

const NAME = clusterServerName(CLUSTER_ID);
const BOTH = [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth];

describe("enrollment chain check", () => {
  let pki: ClusterPki;
  let other: ClusterPki;
  let caCert: x509.X509Certificate;
  const signer = () => ({ keyPem: pki.ca.keyPem, cert: caCert });

  before(async () => {
    pki = await makeClusterPki();
    other = await makeClusterPki();
    caCert = parsed(pki.ca.certPem);
  });

  async function refusal(input: Partial<ChainCheckInput>): Promise<ChainRefusal | "accepted"> {
    const r = await checkEnrollmentChain({
      chain: [parsed(pki.cert.certPem), caCert],
      caHash: pki.ca.fingerprint,
      expectedName: NAME,
      ...input,
    });
    return r.ok ? "accepted" : r.reason;
  }

  it("accepts the real chain, with DER input and a CA-derived expected name", async () => {
    assert.equal(await refusal({}), "accepted");
    const der = [pki.cert.certPem, pki.ca.certPem].map((p) => new Uint8Array(parsed(p).rawData));
    const r = await checkEnrollmentChain({
      chain: der,
      caHash: pki.ca.fingerprint.toUpperCase(),
      expectedName: () => NAME,
    });
    assert.equal(r.ok, true);
    if (r.ok) assert.equal(r.ca.subject, caCert.subject);
  });

  it("refuses a wrong hash", async () => {
    assert.equal(await refusal({ caHash: "00".repeat(32) }), "hash-not-found");
  });

  it("refuses a different CA (another cluster's real chain)", async () => {
    const chain = [parsed(other.cert.certPem), parsed(other.ca.certPem)];
    assert.equal(await refusal({ chain }), "hash-not-found");
  });

  it("refuses when the pinned certificate is not a CA", async () => {
    assert.equal(await refusal({ caHash: pki.cert.fingerprint }), "not-a-ca");
  });

  it("refuses the CA presented as its own leaf", async () => {
    assert.equal(await refusal({ chain: [caCert] }), "leaf-is-ca");
  });

  it("refuses an expired leaf signed by the CA", async () => {
    const expired = await makeCustomCert({
      subject: `CN=${NAME}`,
      signer: signer(),
      dnsNames: [NAME],
      eku: BOTH,
      notBefore: new Date(Date.now() - 2 * 86_400_000),
      notAfter: new Date(Date.now() - 86_400_000),
    });
    assert.equal(await refusal({ chain: [parsed(expired.certPem), caCert] }), "expired");
  });

  it("refuses a leaf that is not valid yet", async () => {
    const issued = await issueClusterCert({
      ca: pki.ca,
      clusterId: CLUSTER_ID,
      now: new Date(Date.now() + 86_400_000),
    });
    assert.equal(await refusal({ chain: [parsed(issued.certPem), caCert] }), "not-yet-valid");
  });

  it("tolerates a few minutes of clock skew thanks to the backdated notBefore", async () => {
    const issued = await issueClusterCert({
      ca: pki.ca,
      clusterId: CLUSTER_ID,
      now: new Date(Date.now() + 2 * 60_000),
    });
    assert.equal(await refusal({ chain: [parsed(issued.certPem), caCert] }), "accepted");
  });

  it("refuses a leaf without serverAuth", async () => {
    const clientOnly = await makeCustomCert({
      subject: `CN=${NAME}`,
      signer: signer(),
      dnsNames: [NAME],
      eku: [x509.ExtendedKeyUsage.clientAuth],
    });
    assert.equal(await refusal({ chain: [parsed(clientOnly.certPem), caCert] }), "no-server-auth");
  });

  it("refuses a leaf for another cluster name", async () => {
    assert.equal(
      await refusal({ expectedName: "gastrolog-0000000000000000.cluster.invalid" }),
      "name-mismatch",
    );
    assert.equal(await refusal({ expectedName: () => undefined }), "name-mismatch");
  });

  it("refuses a man in the middle presenting [its own leaf, the real CA]", async () => {
    const mitm = await makeCustomCert({ subject: `CN=${NAME}`, dnsNames: [NAME], eku: BOTH });
    assert.equal(await refusal({ chain: [parsed(mitm.certPem), caCert] }), "bad-signature");
  });

  it("refuses a man in the middle whose leaf copies the CA's subject and key id as issuer", async () => {
    const copycat = await makeCustomCert({
      subject: `CN=${NAME}`,
      issuerName: caCert.subject,
      authorityKeyId: caCert.getExtension(x509.SubjectKeyIdentifierExtension)!.keyId,
      dnsNames: [NAME],
      eku: BOTH,
    });
    const leaf = parsed(copycat.certPem);
    // The forgery is good enough to fool name-based chain building:
    assert.equal(leaf.issuer, caCert.subject);
    assert.equal(await refusal({ chain: [leaf, caCert] }), "bad-signature");
  });

  it("refuses an empty or unparseable chain", async () => {
    assert.equal(await refusal({ chain: [] }), "empty-chain");
    assert.equal(
      await refusal({ chain: [new Uint8Array([0x30, 0x03, 1, 2, 3])] }),
      "malformed-certificate",
    );
  });

  it("describes every refusal without secrets", () => {
    const reasons: ChainRefusal[] = [
      "empty-chain",
      "malformed-certificate",
      "hash-not-found",
      "not-a-ca",
      "ca-expired",
      "leaf-is-ca",
      "bad-signature",
      "expired",
      "not-yet-valid",
      "no-server-auth",
      "name-mismatch",
    ];
    for (const r of reasons) assert.ok(describeChainRefusal(r).length > 10, r);
  });
});
