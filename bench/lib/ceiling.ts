/**
 * The same-run "physical limit" of bench:writes: a no-op server of the admin API's RPC
 * stack (see noop-server.ts), started as its own process, and the clients that drive it.
 *
 * - The ceiling proper is driven by createGastrologWriter, the very client the gastrolog
 *   writes use (Connect protocol, HTTP/1.1, keep-alive agent, unix socket), pointed at the
 *   no-op server's socket instead of the leader's.
 * - The extra rows keep Connect (connect-node + protobuf-es) on both ends but change a
 *   setting, to say whether a different Connect setting would make the real path
 *   cheaper (src/ is not changed by measuring them):
 *   - h2-connect, h2-grpc: one HTTP/2 connection (cleartext, on the same kind of unix
 *     socket), with the Connect protocol or with the gRPC protocol;
 *   - h1-tuned: HTTP/1.1 as the real path, minus three per-call costs that profiles of the
 *     no-op call show: no deadline (no timeoutMs, so no timer and no connect-timeout-ms
 *     header, hence no deadline timer on the server either), no compression negotiation
 *     (acceptCompression: [] on both ends), and stack traces off (--stack-trace-limit=0
 *     on the server, Error.stackTraceLimit = 0 in the client during its rounds): every
 *     call ends with AbortController.abort(), whose DOMException captures a stack.
 */
import { spawn } from "node:child_process";
import { mkdirSync } from "node:fs";
import { Agent } from "node:http";
import { connect as netConnect } from "node:net";
import { join } from "node:path";
import { createClient, type Transport } from "@connectrpc/connect";
import {
  createConnectTransport,
  createGrpcTransport,
  Http2SessionManager,
} from "@connectrpc/connect-node";
import { apiSocketPath } from "../../src/cli/admin-client.js";
import { ConfigService } from "../../src/gen/gastrolog/v1/admin_pb.js";
import type { Cleanup } from "./cleanup.js";
import { ServerProcess } from "./server-process.js";
import type { Writer } from "./writers.js";

const ROOT = new URL("../..", import.meta.url).pathname;
const SCRIPT = join(ROOT, "bench", "lib", "noop-server.ts");

/** A running no-op server. */
export interface NoopServer {
  /** A directory whose api.sock is the server's socket, as a node home has one. */
  readonly home: string;
  readonly socketPath: string;
  readonly pid: number;
  readonly http: "1.1" | "2";
  /** Started for the h1-tuned row (no compression, --stack-trace-limit=0). */
  readonly tuned: boolean;
  stop(): Promise<void>;
}

/** Starts noop-server.ts in its own process (node --import tsx), registered with `cleanup`. */
export async function startNoopServer(o: {
  home: string;
  http: "1.1" | "2";
  tuned?: boolean;
  cleanup: Cleanup;
}): Promise<NoopServer> {
  const tuned = o.tuned ?? false;
  mkdirSync(o.home, { recursive: true, mode: 0o700 });
  const socketPath = apiSocketPath(o.home);
  // The environment of the gastrolog nodes (see gastrolog-cluster.ts): no test overrides,
  // no NODE_OPTIONS. tsx only compiles the TypeScript at load; the calls run the same
  // connect-node and protobuf-es JavaScript as the real server does.
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith("GASTROLOG_")) delete env[k];
  delete env.NODE_OPTIONS;
  const child = spawn(
    process.execPath,
    [
      ...(tuned ? ["--stack-trace-limit=0"] : []),
      "--import",
      "tsx",
      SCRIPT,
      "--socket",
      socketPath,
      "--http",
      o.http,
      ...(tuned ? ["--no-compression"] : []),
    ],
    { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] },
  );
  const name = `noop-server (http ${o.http}${tuned ? ", tuned" : ""})`;
  const proc = new ServerProcess(name, child);
  if (child.pid === undefined) throw new Error(`could not start ${SCRIPT}`);
  const stop = async () => {
    await proc.stop("SIGTERM", 5000);
  };
  o.cleanup.ownPid(child.pid, async (sig) => {
    await proc.stop(sig, 5000);
  });
  await proc.serving(30_000);
  return { home: o.home, socketPath, pid: child.pid, http: o.http, tuned, stop };
}

/** A ConfigService.Put writer over `transport` (same call options as the gastrolog writer). */
function putWriter(system: string, transport: Transport, close: () => void): Writer {
  const config = createClient(ConfigService, transport);
  return {
    system,
    async put(key, value) {
      await config.put({ key, value }, { timeoutMs: 30_000 });
    },
    connectionsOpened: () => 1,
    close,
  };
}

/**
 * The h1-tuned writer: the gastrolog writer's transport (HTTP/1.1, keep-alive agent with
 * `maxSockets`, unix socket) with acceptCompression: [] and no deadline; its rounds run
 * with Error.stackTraceLimit = 0 (see clientStackTraceLimit).
 */
export function createTunedNoopWriter(server: NoopServer, maxSockets: number): Writer {
  if (server.http !== "1.1" || !server.tuned) throw new Error("needs a tuned HTTP/1.1 server");
  const agent = new Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets });
  const transport = createConnectTransport({
    baseUrl: "http://localhost",
    httpVersion: "1.1",
    nodeOptions: { socketPath: server.socketPath, agent },
    acceptCompression: [],
  });
  const config = createClient(ConfigService, transport);
  return {
    system: "ceiling-h1-tuned",
    async put(key, value) {
      await config.put({ key, value });
    },
    connectionsOpened: () => Number.NaN,
    close: () => agent.destroy(),
    clientStackTraceLimit: 0,
  };
}

/**
 * A writer on one HTTP/2 connection to an `--http 2` no-op server: Connect protocol
 * (binary, as the HTTP/1.1 writer) or gRPC protocol. HTTP/2 multiplexes every call on
 * that one connection, as the etcd3 client does.
 */
export function createH2NoopWriter(server: NoopServer, protocol: "connect" | "grpc"): Writer {
  if (server.http !== "2") throw new Error("an HTTP/2 writer needs an --http 2 server");
  // Our own session manager (connect-node's default one, built the same way), so that
  // close() can end the connection.
  const sessionManager = new Http2SessionManager(
    "http://localhost",
    {},
    { createConnection: () => netConnect(server.socketPath) },
  );
  const options = { baseUrl: "http://localhost", httpVersion: "2" as const, sessionManager };
  const transport =
    protocol === "connect" ? createConnectTransport(options) : createGrpcTransport(options);
  return putWriter(`ceiling-h2-${protocol}`, transport, () => sessionManager.abort());
}
