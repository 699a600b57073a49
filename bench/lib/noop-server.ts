/**
 * The "connect no-op" server of bench:writes: the admin API's RPC stack with nothing
 * behind it. It serves the same service descriptors (src/gen admin_pb) with the same
 * server setup as src/server/admin-api.ts (http.createServer + connectNodeAdapter with its
 * defaults, on a unix socket with mode 0600), but ConfigService.Put returns an empty
 * PutResponse at once: no Raft, no disk. Every other method is left unimplemented (the
 * router still registers them, as the real one does). What a write through this server
 * costs is what the RPC alone costs, so no gastrolog write over the admin API can beat it.
 *
 * The extra rows of --extra-ceilings change one thing each: `--http 2` serves the same
 * routes with http2.createServer (cleartext HTTP/2 on the same kind of socket), for the
 * Connect and gRPC protocols on HTTP/2; `--no-compression` passes acceptCompression: []
 * to connectNodeAdapter (no gzip/brotli negotiation), for the "tuned" HTTP/1.1 row.
 *
 * Run (the benchmark does this): node --import tsx bench/lib/noop-server.ts
 *   --socket PATH [--http 1.1|2] [--no-compression]
 * Logs one JSON line {"msg":"serving",...} on stderr once it listens; SIGTERM stops it.
 */
import { chmod, rm } from "node:fs/promises";
import * as http from "node:http";
import * as http2 from "node:http2";
import { parseArgs } from "node:util";
import type { ConnectRouter, ServiceImpl } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import {
  CertService,
  ClusterService,
  ConfigService,
  TokenService,
} from "../../src/gen/gastrolog/v1/admin_pb.js";

const { values: args } = parseArgs({
  options: {
    socket: { type: "string" },
    http: { type: "string", default: "1.1" },
    "no-compression": { type: "boolean", default: false },
  },
});
const socketPath = args.socket;
if (!socketPath) throw new Error("--socket is required");
if (args.http !== "1.1" && args.http !== "2") throw new Error("--http must be 1.1 or 2");

const config: Partial<ServiceImpl<typeof ConfigService>> = {
  // async, as the real put is: the response goes out after one promise resolution.
  async put() {
    return {};
  },
};
const routes = (router: ConnectRouter) => {
  router.service(ClusterService, {});
  router.service(ConfigService, config);
  router.service(TokenService, {});
  router.service(CertService, {});
};

const handler = connectNodeAdapter(
  args["no-compression"] ? { routes, acceptCompression: [] } : { routes },
);
const server = args.http === "2" ? http2.createServer(handler) : http.createServer(handler);

await rm(socketPath, { force: true });
const oldMask = process.umask(0o177);
try {
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(socketPath, () => {
      server.off("error", reject);
      resolve();
    });
  });
} finally {
  process.umask(oldMask);
}
await chmod(socketPath, 0o600);

const stop = () => {
  server.close();
  if (server instanceof http.Server) server.closeAllConnections();
  // HTTP/2 sessions are not tracked here: exit rather than wait for the client to go.
  void rm(socketPath, { force: true }).finally(() => process.exit(0));
};
process.once("SIGTERM", stop);
process.once("SIGINT", stop);
process.stderr.write(
  `${JSON.stringify({ msg: "serving", socket: socketPath, http: args.http, pid: process.pid })}\n`,
);
