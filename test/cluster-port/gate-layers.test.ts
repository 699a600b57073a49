import assert from "node:assert/strict";
import type * as http2 from "node:http2";
import { after, before, describe, it } from "node:test";
import { Code, ConnectError, createClient, createRouterTransport } from "@connectrpc/connect";
import { createGateInterceptor } from "../../src/cluster/port/gate.js";
import { createHealthService } from "../../src/cluster/port/health-service.js";
import { PUBLIC_PROCEDURES } from "../../src/cluster/port/server.js";
import { ClusterTlsState } from "../../src/cluster/tls/tls-state.js";
import { EnrollService } from "../../src/gen/gastrolog/v1/enroll_pb.js";
import { HealthService } from "../../src/gen/gastrolog/v1/health_pb.js";
import { clusterServerName, issueClusterCert } from "../../src/pki/certificate.js";
import { x509 } from "../../src/pki/x509.js";
import {
  CLUSTER_ID,
  type ClusterPki,
  makeClusterPki,
  makeCustomCert,
  parsed,
  stateOf,
} from "../pki/fixtures.js";
import {
  clientOnSession,
  clientTls,
  eventually,
  openSession,
  type Started,
  startServer,
} from "./helpers.js";

const NAME = clusterServerName(CLUSTER_ID);

async function codeOf(p: Promise<unknown>): Promise<Code | "ok"> {
  try {
    await p;
    return "ok";
  } catch (err) {
    return ConnectError.from(err).code;
  }
}

/**
 * Sends the start of a gRPC message whose length prefix announces `announced` bytes, and
 * returns the grpc-status the server answers with (from headers or trailers).
 */
async function statusForAnnouncedSize(
  session: http2.ClientHttp2Session,
  announced: number,
): Promise<string> {
  const stream = session.request({
    ":method": "POST",
    ":path": `/${HealthService.typeName}/${HealthService.method.check.name}`,
    "content-type": "application/grpc+proto",
    te: "trailers",
  });
  stream.on("error", () => {});
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(announced, 1);
  stream.write(prefix);
  stream.write(Buffer.alloc(16 * 1024));
  const status = new Promise<string>((resolve) => {
    stream.on("response", (h) => {
      if (h["grpc-status"] !== undefined) resolve(String(h["grpc-status"]));
    });
    stream.on("trailers", (t) => resolve(String(t["grpc-status"])));
  });
  stream.resume();
  const [s] = await Promise.all([
    status,
    eventually(stream, "close", "the refused stream closing"),
  ]);
  return s;
}

describe("each layer of the authentication gate holds on its own (real TLS on 127.0.0.1)", () => {
  let pki: ClusterPki;
  let state: ClusterTlsState;
  let started: Started;
  const sessions: http2.ClientHttp2Session[] = [];

  before(async () => {
    pki = await makeClusterPki();
    state = stateOf(pki);
    started = await startServer(state);
  });

  after(async () => {
    for (const s of sessions) s.destroy();
    await started?.server.close();
  });

  async function session(creds?: {
    certPem: string;
    keyPem: string;
  }): Promise<http2.ClientHttp2Session> {
    const s = await openSession(started.addr, clientTls(state, creds));
    sessions.push(s);
    return s;
  }

  it("OpenSSL verification: an expired certificate is refused even when signed by the CA and accepted", async () => {
    const expired = await makeCustomCert({
      subject: `CN=${NAME}`,
      signer: { keyPem: pki.ca.keyPem, cert: parsed(pki.ca.certPem) },
      dnsNames: [NAME],
      eku: [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth],
      notBefore: new Date(Date.now() - 2 * 86_400_000),
      notAfter: new Date(Date.now() - 86_400_000),
    });
    started.server.swapTls(state.withAccepted([state.fingerprint, expired.fingerprint]));
    try {
      const s = await session(expired);
      assert.equal(
        await codeOf(clientOnSession(HealthService, s, started.addr).check({})),
        Code.Unauthenticated,
      );
    } finally {
      started.server.swapTls(state);
    }
  });

  it("OpenSSL verification: a certificate without clientAuth is refused even when accepted", async () => {
    const serverOnly = await makeCustomCert({
      subject: `CN=${NAME}`,
      signer: { keyPem: pki.ca.keyPem, cert: parsed(pki.ca.certPem) },
      dnsNames: [NAME],
      eku: [x509.ExtendedKeyUsage.serverAuth],
    });
    started.server.swapTls(state.withAccepted([state.fingerprint, serverOnly.fingerprint]));
    try {
      const s = await session(serverOnly);
      assert.equal(
        await codeOf(clientOnSession(HealthService, s, started.addr).check({})),
        Code.Unauthenticated,
      );
    } finally {
      started.server.swapTls(state);
    }
  });

  it("signature check against the CAs trusted now: retiring a CA refuses its certificates on open sessions", async () => {
    const s = await session(pki.cert);
    const health = clientOnSession(HealthService, s, started.addr);
    assert.equal(await codeOf(health.check({})), "ok");
    // A new CA and a certificate from it; the old certificate stays in the accepted set
    // (so the swap does not close the session), but its CA is no longer trusted.
    const next = await makeClusterPki();
    const nextCert = await issueClusterCert({ ca: next.ca, clusterId: CLUSTER_ID });
    const retired = ClusterTlsState.fromPem({
      trustedCaPems: [next.ca.certPem],
      certPem: nextCert.certPem,
      keyPem: nextCert.keyPem,
      accepted: [pki.cert.fingerprint, nextCert.fingerprint],
    });
    started.server.swapTls(retired);
    try {
      assert.ok(
        !s.closed,
        "the session should still be open: its peer is still in the accepted set",
      );
      assert.equal(await codeOf(health.check({})), Code.Unauthenticated);
    } finally {
      started.server.swapTls(state);
    }
  });

  it("the HTTP-level gate answers before reading the body; authenticated peers meet the 16 MiB limit", async () => {
    const anonymous = await session();
    assert.equal(
      await statusForAnnouncedSize(anonymous, 17 * 1024 * 1024),
      String(Code.Unauthenticated),
    );
    const member = await session(pki.cert);
    assert.equal(
      await statusForAnnouncedSize(member, 17 * 1024 * 1024),
      String(Code.ResourceExhausted),
    );
  });

  it("the Connect interceptor refuses non-public methods without an authenticated peer", async () => {
    const transport = createRouterTransport(
      (router) => {
        router.service(HealthService, createHealthService({ nodeId: "x", role: () => "leader" }));
        router.service(EnrollService, { getCABundle: () => ({ trustedCaPems: ["ca"] }) });
      },
      { router: { interceptors: [createGateInterceptor((p) => PUBLIC_PROCEDURES.has(p))] } },
    );
    assert.equal(
      await codeOf(createClient(HealthService, transport).check({})),
      Code.Unauthenticated,
    );
    assert.deepEqual((await createClient(EnrollService, transport).getCABundle({})).trustedCaPems, [
      "ca",
    ]);
  });
});
