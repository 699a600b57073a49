import assert from "node:assert/strict";
import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { create, toBinary } from "@bufbuild/protobuf";
import { Code, type ConnectError, createClient } from "@connectrpc/connect";
import { type ClusterPki, makeClusterPki } from "../../../test/pki/fixtures.js";
import { CheckResponseSchema, HealthService } from "../../gen/gastrolog/v1/health_pb.js";
import { ClusterTlsState } from "../tls/tls-state.js";
import { createPeerClients } from "./peer-clients.js";

/**
 * A unary call whose stream the peer refused before processing it (REFUSED_STREAM) is sent
 * once more; a call the peer processed and failed is not. The peer is a bare HTTP/2 server
 * with the cluster's TLS material that answers per a script.
 */
describe("peer clients: calls the peer never started are retried once", () => {
  let pki: ClusterPki;
  let tls: ClusterTlsState;
  let server: http2.Http2SecureServer;
  let port: number;
  /** What the server does with each stream, in order; then it answers OK. */
  let script: ("refuse" | "fail")[] = [];
  let streams = 0;

  before(async () => {
    pki = await makeClusterPki();
    tls = ClusterTlsState.fromPem({
      trustedCaPems: [pki.ca.certPem],
      certPem: pki.cert.certPem,
      keyPem: pki.cert.keyPem,
    });
    server = http2.createSecureServer({ ...tls.serverOptions(), allowHTTP1: false });
    server.on("stream", (stream) => {
      streams++;
      // Closing a stream with an error code reports it on the stream too.
      stream.on("error", () => {});
      const step = script.shift();
      if (step === "refuse") {
        stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
        return;
      }
      stream.on("data", () => {});
      stream.on("end", () => {
        stream.respond(
          { ":status": 200, "content-type": "application/grpc" },
          { waitForTrailers: true },
        );
        stream.on("wantTrailers", () =>
          stream.sendTrailers(
            step === "fail"
              ? { "grpc-status": String(Code.Internal), "grpc-message": "processed, then failed" }
              : { "grpc-status": "0" },
          ),
        );
        if (step === "fail") {
          stream.end();
          return;
        }
        const body = toBinary(CheckResponseSchema, create(CheckResponseSchema, { nodeId: "peer" }));
        const frame = Buffer.alloc(5 + body.length);
        frame.writeUInt32BE(body.length, 1);
        frame.set(body, 5);
        stream.end(frame);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = (server.address() as AddressInfo).port;
  });
  after(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it("a refused stream is sent again, once; a processed failure is not", async () => {
    const pool = createPeerClients({ tls });
    try {
      const health = createClient(HealthService, pool.transport(`127.0.0.1:${port}`));
      script = ["refuse"];
      streams = 0;
      assert.equal((await health.check({})).nodeId, "peer");
      assert.equal(streams, 2, "refused, then sent again");

      script = ["refuse", "refuse"];
      streams = 0;
      await assert.rejects(health.check({}), /REFUSED_STREAM/);
      assert.equal(streams, 2, "one retry only");

      script = ["fail"];
      streams = 0;
      await assert.rejects(health.check({}), (err: ConnectError) => {
        assert.equal(err.code, Code.Internal);
        return true;
      });
      assert.equal(streams, 1, "a call the peer processed is not sent again");
    } finally {
      pool.close();
    }
  });
});
