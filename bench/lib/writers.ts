/**
 * The two write clients, in the benchmark's own process, so that both systems are driven
 * the same way: one Node.js client per system, pointed at the leader.
 *
 * - etcd: the `etcd3` npm client (gRPC over one HTTP/2 channel) to the leader's client URL.
 * - gastrolog: ConfigService.Put over the leader's admin unix socket with the Connect
 *   protocol on HTTP/1.1. HTTP/1.1 carries one request per connection at a time, so the
 *   transport gets a keep-alive agent with as many sockets as the highest concurrency;
 *   the agent counts the connections it opens, so the report can show they are reused.
 */
import { Agent } from "node:http";
import type { Socket } from "node:net";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { Etcd3 } from "etcd3";
import { apiSocketPath } from "../../src/cli/admin-client.js";
import { ConfigService } from "../../src/gen/gastrolog/v1/admin_pb.js";

/** A write client of one system. */
export interface Writer {
  readonly system: string;
  /** Writes `value` under `key`; resolves once the cluster acknowledged it (committed). */
  put(key: string, value: Uint8Array): Promise<void>;
  /** Connections opened so far (gastrolog); etcd multiplexes on one HTTP/2 channel: 1. */
  connectionsOpened(): number;
  close(): void;
  /** Error.stackTraceLimit for this writer's rounds (the benchmark sets and restores it). */
  readonly clientStackTraceLimit?: number;
}

/** An etcd3 client bound to one member (the leader). */
export function createEtcdWriter(clientUrl: string): Writer {
  const client = new Etcd3({ hosts: clientUrl });
  return {
    system: "etcd",
    async put(key, value) {
      await client.put(key).value(Buffer.from(value.buffer, value.byteOffset, value.byteLength));
    },
    connectionsOpened: () => 1,
    close: () => client.close(),
  };
}

/** A ConfigService client on one node's admin socket, pooled for `maxSockets` in flight. */
export function createGastrologWriter(home: string, maxSockets: number): Writer {
  const socketPath = apiSocketPath(home);
  const agent = new Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets });
  // Count real connects: http.Agent calls createConnection once per new socket.
  let opened = 0;
  const withCount = agent as unknown as {
    createConnection: (...a: unknown[]) => Socket;
  };
  const original = withCount.createConnection.bind(agent);
  withCount.createConnection = (...a: unknown[]) => {
    opened++;
    return original(...a);
  };
  const transport = createConnectTransport({
    baseUrl: "http://localhost",
    httpVersion: "1.1",
    nodeOptions: { socketPath, agent },
  });
  const config = createClient(ConfigService, transport);
  return {
    system: "gastrolog",
    async put(key, value) {
      await config.put({ key, value }, { timeoutMs: 30_000 });
    },
    connectionsOpened: () => opened,
    close: () => agent.destroy(),
  };
}
