/** Servers and clients for cluster-port tests: real TLS on 127.0.0.1, port 0. */
import assert from "node:assert/strict";
import { once } from "node:events";
import * as http2 from "node:http2";
import type { DescService } from "@bufbuild/protobuf";
import { type Client, createClient } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import {
  type ClusterPortServer,
  type ClusterPortServerOptions,
  createClusterPortServer,
} from "../../src/cluster/port/server.js";
import type { ClusterTlsState } from "../../src/cluster/tls/tls-state.js";
import { createTcpProxy, type TcpProxy } from "../e2e/tcp-proxy.js";

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

/** Opens one HTTP/2 session and waits until it is connected (TLS done, SETTINGS exchanged). */
export async function openSession(
  addr: string,
  tlsOptions: http2.SecureClientSessionOptions,
): Promise<http2.ClientHttp2Session> {
  const session = http2.connect(`https://${addr}`, tlsOptions);
  session.on("error", () => {});
  await Promise.race([
    once(session, "connect"),
    once(session, "close").then(() => {
      throw new Error(`session to ${addr} closed before it connected`);
    }),
  ]);
  return session;
}

/** A Connect client bound to one given session, so a test controls (and observes) it. */
export function clientOnSession<S extends DescService>(
  service: S,
  session: http2.ClientHttp2Session,
  addr: string,
): Client<S> {
  const baseUrl = `https://${addr}`;
  const transport = createGrpcTransport({
    baseUrl,
    sessionManager: {
      authority: baseUrl,
      async request(method, path, headers, options) {
        return session.request({ ...headers, ":method": method, ":path": path }, options);
      },
      notifyResponseByteRead() {},
    },
  });
  return createClient(service, transport);
}

/** Resolves on the emitter's event, or fails with `what` after a deadline. */
export async function eventually(
  emitter: NodeJS.EventEmitter,
  event: string,
  what: string,
  timeoutMs = 5_000,
): Promise<unknown[]> {
  const signal = AbortSignal.timeout(timeoutMs);
  try {
    return await once(emitter, event, { signal });
  } catch (err) {
    if (signal.aborted) assert.fail(`${what} did not happen within ${timeoutMs} ms`);
    throw err;
  }
}

/** A hand-fed async iterable, to hold a streaming call open for as long as a test wants. */
export function pushable<T>(): { iterable: AsyncIterable<T>; push(v: T): void; end(): void } {
  const queue: T[] = [];
  let done = false;
  let wake: (() => void) | undefined;
  return {
    push(v) {
      queue.push(v);
      wake?.();
    },
    end() {
      done = true;
      wake?.();
    },
    iterable: {
      async *[Symbol.asyncIterator]() {
        for (;;) {
          if (queue.length > 0) {
            yield queue.shift()!;
            continue;
          }
          if (done) return;
          await new Promise<void>((r) => {
            wake = r;
          });
          wake = undefined;
        }
      },
    },
  };
}

/** Two cluster ports, A and B, and a proxy to B that counts the connections A opens. */
export interface PortPair {
  a: ClusterPortServer;
  b: ClusterPortServer;
  proxy: TcpProxy;
  /** B's address through the proxy, as A dials it. */
  viaProxy: string;
  close(): Promise<void>;
}

/** Starts {@link PortPair}: node-a and node-b, both with the state `tls()` makes. */
export async function startPortPair(tls: () => ClusterTlsState): Promise<PortPair> {
  const start = async (nodeId: string) => {
    const s = createClusterPortServer({ tls: tls(), nodeId, host: "127.0.0.1", port: 0 });
    await s.listen();
    return s;
  };
  const a = await start("node-a");
  const b = await start("node-b");
  const proxy = await createTcpProxy({ targetPort: b.address()!.port });
  return {
    a,
    b,
    proxy,
    viaProxy: `127.0.0.1:${proxy.port}`,
    async close() {
      await a.close();
      await b.close();
      await proxy.close();
    },
  };
}
