import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import * as nodeTls from "node:tls";
import {
  CLUSTER_ID,
  type ClusterPki,
  makeClusterPki,
  stateOf,
} from "../../../test/pki/fixtures.js";
import { clusterServerName, issueClusterCert } from "../../pki/certificate.js";
import { PkiError } from "../../pki/pki-error.js";
import { ClusterTlsState } from "./tls-state.js";

/** Counts calls of SecureContext.init (what every createSecureContext runs) until restored. */
function countSecureContexts(): { count: () => number; restore: () => void } {
  const proto = Object.getPrototypeOf(nodeTls.createSecureContext({}).context) as {
    init: (...a: unknown[]) => unknown;
  };
  const original = proto.init;
  let n = 0;
  proto.init = function (this: unknown, ...a: unknown[]) {
    n++;
    return original.apply(this, a);
  };
  return {
    count: () => n,
    restore: () => {
      proto.init = original;
    },
  };
}

describe("cluster TLS state: work done once per certificate", () => {
  let pki: ClusterPki;
  let other: ClusterPki;

  before(async () => {
    pki = await makeClusterPki();
    other = await makeClusterPki();
  });

  it("prepare() then fromPem() gives the same state as fromPem() alone", () => {
    ClusterTlsState.prepare({ trustedCaPems: [pki.ca.certPem], certPem: pki.cert.certPem });
    const a = stateOf(pki);
    const b = stateOf(pki);
    assert.equal(a.fingerprint, pki.cert.fingerprint);
    assert.equal(a.serverName, b.serverName);
    assert.equal(a.chainPem, b.chainPem);
    assert.ok(a.sameAs(b));
    // Parsed once: both states hold the very same certificate objects.
    assert.equal(a.certificate, b.certificate);
    assert.equal(a.issuer, b.issuer);
  });

  it("prepare() never throws, whatever it is given", () => {
    ClusterTlsState.prepare({ trustedCaPems: ["garbage"], certPem: "garbage" });
    ClusterTlsState.prepare({ trustedCaPems: [pki.cert.certPem], certPem: pki.ca.certPem });
    ClusterTlsState.prepare({ trustedCaPems: [], certPem: pki.cert.certPem, serverName: "x" });
  });

  it("certificates seen before are still checked against each new key, CA and name", () => {
    stateOf(pki);
    const refuse = (m: Parameters<typeof ClusterTlsState.fromPem>[0], code: string) =>
      assert.throws(
        () => ClusterTlsState.fromPem(m),
        (e: unknown) => e instanceof PkiError && e.code === code,
      );
    const good = { trustedCaPems: [pki.ca.certPem], certPem: pki.cert.certPem };
    refuse({ ...good, keyPem: other.cert.keyPem }, "key-mismatch");
    refuse(
      { ...good, keyPem: pki.cert.keyPem, trustedCaPems: [other.ca.certPem] },
      "untrusted-certificate",
    );
    refuse({ ...good, keyPem: pki.cert.keyPem, trustedCaPems: [pki.cert.certPem] }, "not-a-ca");
    refuse(
      { ...good, keyPem: pki.cert.keyPem, serverName: "other.cluster.invalid" },
      "malformed-certificate",
    );
    // And the good material still passes after the refusals.
    assert.equal(
      ClusterTlsState.fromPem({ ...good, keyPem: pki.cert.keyPem }).fingerprint,
      pki.cert.fingerprint,
    );
  });

  it("sameAs: equal only when presented, trusted and accepted material are all equal", () => {
    const a = stateOf(pki);
    assert.ok(a.sameAs(a));
    assert.ok(a.sameAs(ClusterTlsState.fromPem(a.material())));
    assert.ok(
      a.sameAs(
        ClusterTlsState.fromPem({
          ...a.material(),
          serverName: clusterServerName("3f2a9c1e-7b4d-4e8a-9c1f-0a1b2c3d4e5f"),
        }),
      ),
    );
    assert.ok(!a.sameAs(a.withAccepted([pki.cert.fingerprint, other.cert.fingerprint])));
    assert.ok(!a.sameAs(stateOf(other)));
    const both = ClusterTlsState.fromPem({
      ...a.material(),
      trustedCaPems: [pki.ca.certPem + other.ca.certPem],
    });
    assert.ok(!a.sameAs(both));
  });

  it("sameAs tells a different client identity apart", () => {
    const both = ClusterTlsState.fromPem({
      trustedCaPems: [pki.ca.certPem + other.ca.certPem],
      certPem: pki.cert.certPem,
      keyPem: pki.cert.keyPem,
    });
    const dialsAsOther = both.withClientIdentity(other.cert.certPem, other.cert.keyPem);
    assert.ok(!both.sameAs(dialsAsOther));
    assert.ok(dialsAsOther.sameAs(both.withClientIdentity(other.cert.certPem, other.cert.keyPem)));
  });

  it("outgoing connections of one state share one secure context", () => {
    const a = stateOf(pki);
    const first = a.clientOptions().secureContext;
    assert.ok(first !== undefined);
    assert.equal(a.clientOptions().secureContext, first);
    // Built once per material, not per state: a rotation step rebuilds the state from the
    // same certificate and key.
    assert.equal(stateOf(pki).clientOptions().secureContext, first);
    assert.notEqual(stateOf(other).clientOptions().secureContext, first);
    const dialsAsOther = ClusterTlsState.fromPem({
      trustedCaPems: [pki.ca.certPem, other.ca.certPem],
      certPem: pki.cert.certPem,
      keyPem: pki.cert.keyPem,
    }).withClientIdentity(other.cert.certPem, other.cert.keyPem);
    assert.notEqual(dialsAsOther.clientOptions().secureContext, first);
  });

  it("the context a rotation's finish dials with is built ahead by prepareFinishClientContext", async () => {
    // Mid-rotation: serves `next`, dials with the previous certificate.
    const next = await issueClusterCert({ ca: pki.ca, clusterId: CLUSTER_ID });
    const during = ClusterTlsState.fromPem({
      trustedCaPems: [pki.ca.certPem],
      certPem: next.certPem,
      keyPem: next.keyPem,
      accepted: [pki.cert.fingerprint, next.fingerprint],
    }).withClientIdentity(pki.cert.certPem, pki.cert.keyPem);
    const dialling = during.clientOptions().secureContext;
    const calls = countSecureContexts();
    during.prepareFinishClientContext();
    assert.equal(calls.count(), 1, "built now");
    const finished = ClusterTlsState.fromPem({
      trustedCaPems: [pki.ca.certPem],
      certPem: next.certPem,
      keyPem: next.keyPem,
      accepted: [next.fingerprint],
    });
    const atFinish = finished.clientOptions().secureContext;
    assert.equal(calls.count(), 1, "not built again at the finish");
    calls.restore();
    assert.notEqual(atFinish, dialling);
  });
});
