/**
 * ClusterTlsState reads the CA check and the default server name from Node's X.509 parser
 * so that building a state does not load @peculiar/x509 (issue 4, idle memory). These
 * tests pin that Node's answers are the ones @peculiar/x509 gives, on certificates made to
 * differ exactly where the two could, and that a node building a state from this
 * project's certificates really does not load the library.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { X509Certificate as NodeX509, webcrypto } from "node:crypto";
import { before, describe, it } from "node:test";
import { ClusterTlsState } from "../../src/cluster/tls/tls-state.js";
import { isCaCertificate } from "../../src/pki/certificate.js";
import { PkiError } from "../../src/pki/pki-error.js";
import { certificateSubject } from "../../src/pki/subject.js";
import { x509 } from "../../src/pki/x509.js";
import { type ClusterPki, makeClusterPki, makeCustomCert, parsed } from "../pki/fixtures.js";

const ROOT = new URL("../..", import.meta.url).pathname;
const { KeyUsageFlags: KU } = x509;

/** A self-signed certificate with exactly the given basicConstraints and keyUsage. */
async function withExtensions(o: {
  bc?: boolean;
  ku?: number;
  dns?: string[];
  subject?: string;
}): Promise<string> {
  const alg = { name: "ECDSA", namedCurve: "P-256" };
  const keys = (await webcrypto.subtle.generateKey(alg, true, [
    "sign",
    "verify",
  ])) as webcrypto.CryptoKeyPair;
  const extensions: x509.Extension[] = [];
  if (o.bc !== undefined)
    extensions.push(new x509.BasicConstraintsExtension(o.bc, undefined, true));
  if (o.ku !== undefined) extensions.push(new x509.KeyUsagesExtension(o.ku, true));
  if (o.dns !== undefined) {
    extensions.push(
      new x509.SubjectAlternativeNameExtension(o.dns.map((value) => ({ type: "dns", value }))),
    );
  }
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: "01",
    name: o.subject ?? "CN=test",
    keys,
    signingAlgorithm: { name: "ECDSA", hash: "SHA-256" },
    extensions,
  });
  return cert.toString("pem");
}

describe("cluster TLS state: Node's X.509 answers agree with @peculiar/x509's", () => {
  it("CA check: Node's `ca` equals isCaCertificate for every basicConstraints/keyUsage mix", async () => {
    const cases: [string, { bc?: boolean; ku?: number }][] = [
      ["CA:true, keyCertSign", { bc: true, ku: KU.keyCertSign | KU.cRLSign }],
      ["CA:true, no keyUsage", { bc: true }],
      ["CA:true, keyUsage without keyCertSign", { bc: true, ku: KU.digitalSignature }],
      ["CA:false, keyCertSign", { bc: false, ku: KU.keyCertSign }],
      ["no basicConstraints, keyCertSign", { ku: KU.keyCertSign }],
      ["no basicConstraints, no keyUsage", {}],
    ];
    for (const [what, ext] of cases) {
      const pem = await withExtensions(ext);
      assert.equal(new NodeX509(pem).ca, isCaCertificate(parsed(pem)), what);
    }
  });

  it("a trusted 'CA' that is not one is refused as before", async () => {
    const pki = await makeClusterPki();
    for (const ext of [{ bc: true, ku: KU.digitalSignature }, { ku: KU.keyCertSign }, {}]) {
      const notCa = await withExtensions(ext);
      assert.throws(
        () =>
          ClusterTlsState.fromPem({
            trustedCaPems: [pki.ca.certPem, notCa],
            certPem: pki.cert.certPem,
            keyPem: pki.cert.keyPem,
          }),
        (e) => e instanceof PkiError && e.code === "not-a-ca",
      );
    }
  });

  it("default server name: first DNS SAN, else the CN, whichever parser reads it", async () => {
    const ca = await makeCustomCert({ subject: "CN=test CA", isCa: true });
    const signer = { keyPem: ca.keyPem, cert: parsed(ca.certPem) };
    const cases: [string, string[] | undefined, string][] = [
      ["plain SANs", ["first.example", "second.example"], "first.example"],
      ["wildcard SAN", ["*.example", "x.example"], "*.example"],
      ["mixed case and underscore", ["Mixed_Case.Example"], "Mixed_Case.Example"],
      ["no SAN", undefined, "cn-name.example"],
    ];
    for (const [what, dnsNames, expected] of cases) {
      const leaf = await makeCustomCert({
        subject: "CN=cn-name.example",
        signer,
        ...(dnsNames === undefined ? {} : { dnsNames }),
      });
      const state = ClusterTlsState.fromPem({
        trustedCaPems: [ca.certPem],
        certPem: leaf.certPem,
        keyPem: leaf.keyPem,
      });
      assert.equal(state.serverName, expected, what);
    }
  });

  it("CA subject for status: the same string as @peculiar/x509's subject", async () => {
    const pki = await makeClusterPki();
    const subjects = [
      "CN=plain",
      "O=gastrolog, OU=cluster 1234, CN=gastrolog cluster CA 0a1b2c3d",
      "CN=with\\, comma",
      "CN=a+O=multi valued",
      "CN= leading space",
      "CN=ünïcode",
      'CN=quote\\"d',
      "E=someone@example.com",
    ];
    const pems = [pki.ca.certPem, pki.cert.certPem];
    for (const subject of subjects) pems.push(await withExtensions({ subject }));
    for (const pem of pems) {
      assert.equal(certificateSubject(pem), parsed(pem).subject, parsed(pem).subject);
    }
  });
});

describe("cluster TLS state: @peculiar/x509 is loaded only when needed", () => {
  let pki: ClusterPki;
  before(async () => {
    pki = await makeClusterPki();
  });

  it("a state built from the project's certificates, and status, do not load it", () => {
    const script = `
      import { ClusterTlsState } from "./src/cluster/tls/tls-state.ts";
      import { certificateSubject } from "./src/pki/subject.ts";
      import { x509IsLoaded } from "./src/pki/x509-loader.ts";
      const pki = JSON.parse(process.env.PKI);
      const state = ClusterTlsState.fromPem({
        trustedCaPems: [pki.ca.certPem],
        certPem: pki.cert.certPem,
        keyPem: pki.cert.keyPem,
      });
      const out = { name: state.serverName, bundle: state.trustedCaPemList.length };
      certificateSubject(pki.ca.certPem);
      out.afterFromPem = x509IsLoaded();
      state.certificate;
      out.afterCertificate = x509IsLoaded();
      process.stdout.write(JSON.stringify(out));
    `;
    const r = spawnSync(
      process.execPath,
      ["--import", "tsx", "--input-type=module", "--eval", script],
      {
        cwd: ROOT,
        env: { ...process.env, PKI: JSON.stringify({ ca: pki.ca, cert: pki.cert }) },
        encoding: "utf8",
      },
    );
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout) as Record<string, unknown>;
    assert.equal(out.afterFromPem, false, "fromPem, the CA bundle and the subject load nothing");
    assert.equal(out.afterCertificate, true, "asking for the certificate object loads it");
    assert.equal(out.bundle, 1);
    assert.match(String(out.name), /^gastrolog-[0-9a-f]{16}\.cluster\.invalid$/);
  });
});
