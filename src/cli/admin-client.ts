import { Agent } from "node:http";
import { join } from "node:path";
import { type Client, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import {
  CertService,
  ClusterService,
  ConfigService,
  TokenService,
} from "../gen/gastrolog/v1/admin_pb.js";
import { CliError } from "./cli-error.js";

/** File name of the admin socket inside a node's home. */
export const API_SOCKET = "api.sock";

/**
 * Longest unix socket path Linux accepts (sun_path is 108 bytes with the NUL); macOS
 * allows 104. Checked up front so that an over-long --home gets a message, not EINVAL.
 */
const MAX_SOCKET_PATH_BYTES = 107;

/** Deadline for unary admin calls. Streams (rotations, removal) have none: they wait. */
export const UNARY_TIMEOUT_MS = 30_000;

/** Clients of the four admin services of one node, over its unix socket. */
export interface AdminClient {
  readonly cluster: Client<typeof ClusterService>;
  readonly config: Client<typeof ConfigService>;
  readonly token: Client<typeof TokenService>;
  readonly cert: Client<typeof CertService>;
  /** `<home>/api.sock`. */
  readonly socketPath: string;
  /** Closes the connection(s), so that the process can exit at once. */
  close(): void;
}

/** The admin socket of a node home. */
export function apiSocketPath(home: string): string {
  return join(home, API_SOCKET);
}

/**
 * Connects to the node whose home is `home`, over `<home>/api.sock`, with the Connect
 * protocol on HTTP/1.1 (server streaming works on HTTP/1.1 with Connect; HTTP/2 is not
 * needed on a local socket). Nothing is dialled until the first call.
 */
export function createAdminClient(options: { home: string }): AdminClient {
  const socketPath = apiSocketPath(options.home);
  if (Buffer.byteLength(socketPath) > MAX_SOCKET_PATH_BYTES) {
    throw new CliError(
      `the socket path ${socketPath} is longer than unix sockets allow (${MAX_SOCKET_PATH_BYTES} bytes)`,
      { hint: "use a shorter --home" },
    );
  }
  // Our own agent, so close() can drop its sockets instead of waiting for keep-alive.
  const agent = new Agent({ keepAlive: true });
  const transport = createConnectTransport({
    // The host is never resolved: socketPath wins. It only fills the Host header.
    baseUrl: "http://localhost",
    httpVersion: "1.1",
    nodeOptions: { socketPath, agent },
  });
  return {
    cluster: createClient(ClusterService, transport),
    config: createClient(ConfigService, transport),
    token: createClient(TokenService, transport),
    cert: createClient(CertService, transport),
    socketPath,
    close: () => agent.destroy(),
  };
}
