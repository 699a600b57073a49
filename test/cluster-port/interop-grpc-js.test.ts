import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import type { ClusterTlsState } from "../../src/cluster/tls/tls-state.js";
import {
  CheckRequestSchema,
  type CheckResponse,
  CheckResponseSchema,
  HealthService,
} from "../../src/gen/gastrolog/v1/health_pb.js";
import { type ClusterPki, makeClusterPki, stateOf } from "../pki/fixtures.js";
import { type Started, startServer } from "./helpers.js";

const CHECK_PATH = `/${HealthService.typeName}/${HealthService.method.check.name}`;

/** Calls Health.Check with grpc-js, serialising with protobuf-es (no proto-loader needed). */
function check(client: grpc.Client): Promise<CheckResponse> {
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(
      CHECK_PATH,
      (req: ReturnType<typeof create<typeof CheckRequestSchema>>) =>
        Buffer.from(toBinary(CheckRequestSchema, req)),
      (buf: Buffer) => fromBinary(CheckResponseSchema, buf),
      create(CheckRequestSchema),
      new grpc.Metadata(),
      { deadline: Date.now() + 10_000 },
      (err, res) => (err ? reject(err) : resolve(res!)),
    );
  });
}

function grpcClient(
  addr: string,
  state: ClusterTlsState,
  pki: ClusterPki,
  withCert: boolean,
): grpc.Client {
  const creds = withCert
    ? grpc.credentials.createSsl(
        Buffer.from(state.trustedCaPem),
        Buffer.from(pki.cert.keyPem),
        Buffer.from(pki.cert.certPem),
      )
    : grpc.credentials.createSsl(Buffer.from(state.trustedCaPem));
  return new grpc.Client(addr, creds, {
    // Dial 127.0.0.1 but verify (and send SNI for) the cluster name.
    "grpc.ssl_target_name_override": state.serverName,
    "grpc.default_authority": state.serverName,
  });
}

describe("interop: @grpc/grpc-js calls the cluster port (real TLS on 127.0.0.1)", () => {
  let pki: ClusterPki;
  let state: ClusterTlsState;
  let started: Started;
  const clients: grpc.Client[] = [];

  before(async () => {
    pki = await makeClusterPki();
    state = stateOf(pki);
    started = await startServer(state, { role: () => "follower" });
  });

  after(async () => {
    for (const c of clients) c.close();
    await started?.server.close();
  });

  it("8. grpc-js with the cluster certificate calls Health.Check over mTLS and succeeds", async () => {
    const client = grpcClient(started.addr, state, pki, true);
    clients.push(client);
    const res = await check(client);
    assert.equal(res.nodeId, "node-a");
    assert.equal(res.role, "follower");
    assert.ok(res.timeUnixMs > 0n);
  });

  it("8b. the same client without a certificate gets UNAUTHENTICATED", async () => {
    const client = grpcClient(started.addr, state, pki, false);
    clients.push(client);
    await assert.rejects(check(client), (err: grpc.ServiceError) => {
      assert.equal(err.code, grpc.status.UNAUTHENTICATED);
      assert.equal(err.code, 16);
      assert.match(err.details, /client certificate is required/);
      return true;
    });
  });
});
