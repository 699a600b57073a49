/** Servers and clients for cluster-port tests: real TLS on 127.0.0.1, port 0. */
import type * as http2 from "node:http2";
import type { DescService } from "@bufbuild/protobuf";
import { type Client, createClient } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import {
  type ClusterPortServer,
  type ClusterPortServerOptions,
  createClusterPortServer,
} from "../../src/cluster/port/server.js";
import type { ClusterTlsState } from "../../src/cluster/tls/tls-state.js";

export interface Started {
  server: ClusterPortServer;
  addr: string;
  port: number;
}

export async function startServer(
  tls: ClusterTlsState,
  extra: Partial<ClusterPortServerOptions> = {},
): Promise<Started> {
  const server = createClusterPortServer({
    tls,
    nodeId: "node-a",
    host: "127.0.0.1",
    port: 0,
    ...extra,
  });
  const port = await server.listen();
  return { server, addr: `127.0.0.1:${port}`, port };
}

export interface TestClient<S extends DescService> {
  client: Client<S>;
  manager: Http2SessionManager;
}

/** A Connect gRPC client over its own HTTP/2 connection with the given TLS options. */
export function clientFor<S extends DescService>(
  service: S,
  addr: string,
  tlsOptions: http2.SecureClientSessionOptions,
): TestClient<S> {
  const baseUrl = `https://${addr}`;
  const manager = new Http2SessionManager(baseUrl, { connectTimeoutMs: 5_000 }, tlsOptions);
  const transport = createGrpcTransport({ baseUrl, sessionManager: manager });
  return { client: createClient(service, transport), manager };
}

/**
 * TLS options of a client that trusts the cluster CA and dials the cluster name, presenting
 * `cert`/`key` when given (and nothing otherwise).
 */
export function clientTls(
  state: ClusterTlsState,
  credentials?: { certPem: string; keyPem: string },
): http2.SecureClientSessionOptions {
  return {
    ca: state.trustedCaPem,
    servername: state.serverName,
    minVersion: "TLSv1.3",
    ALPNProtocols: ["h2"],
    ...(credentials === undefined ? {} : { cert: credentials.certPem, key: credentials.keyPem }),
  };
}
