/**
 * A fault-injecting TCP proxy on loopback, for partition tests with real processes.
 *
 * It listens on 127.0.0.1 and forwards every accepted connection to one target port. Its
 * mode can be switched at any time:
 *
 * - `pass`: bytes flow both ways.
 * - `cut`: every open connection is destroyed (both sides see a reset/close) and new
 *   connections are accepted and destroyed at once, like a peer whose port went away.
 * - `blackhole`: connections stay open but every byte is dropped in both directions,
 *   like a network that silently loses packets; new connections are accepted and then
 *   hear nothing. Leaving blackhole destroys the connections that lost bytes (their TLS
 *   streams are corrupt, as they would be after a real loss that TCP could not repair),
 *   so peers reconnect on fresh connections.
 *
 * Only loopback: the proxy binds 127.0.0.1 and dials 127.0.0.1.
 */
import { connect, createServer, type Socket } from "node:net";

/** What the proxy does with traffic; see the module comment. */
export type ProxyMode = "pass" | "cut" | "blackhole";

/** A running proxy. */
export interface TcpProxy {
  /** The port it listens on (127.0.0.1). */
  readonly port: number;
  /** The port it forwards to (127.0.0.1). */
  readonly targetPort: number;
  readonly mode: ProxyMode;
  /** Switches mode; applies to open connections at once. */
  setMode(mode: ProxyMode): void;
  /** Connections accepted since start (including refused ones in `cut`). */
  readonly accepted: number;
  /** Stops listening and destroys every connection. */
  close(): Promise<void>;
}

/** Options for {@link createTcpProxy}. */
export interface TcpProxyOptions {
  /** Where to forward (127.0.0.1:targetPort). The target may start later than the proxy. */
  targetPort: number;
  /** Port to listen on; default 0 (a free one). */
  port?: number;
}

interface Pair {
  client: Socket;
  upstream: Socket;
  /** Bytes were dropped on this pair (blackhole): it cannot carry a stream any more. */
  lost: boolean;
}

/** Starts a proxy in `pass` mode. */
export async function createTcpProxy(opts: TcpProxyOptions): Promise<TcpProxy> {
  let mode: ProxyMode = "pass";
  let accepted = 0;
  const pairs = new Set<Pair>();

  const server = createServer((client) => {
    accepted++;
    if (mode === "cut") {
      client.destroy();
      return;
    }
    const upstream = connect({ host: "127.0.0.1", port: opts.targetPort });
    const pair: Pair = { client, upstream, lost: false };
    pairs.add(pair);
    const end = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    // Forward by hand rather than pipe(): the mode is checked for every chunk.
    const forward = (from: Socket, to: Socket) => {
      from.on("data", (chunk: Buffer) => {
        if (mode === "pass" && !pair.lost) {
          if (!to.write(chunk)) {
            from.pause();
            to.once("drain", () => from.resume());
          }
        } else {
          pair.lost = true;
        }
      });
      from.on("end", () => to.end());
      from.on("error", end);
      from.on("close", end);
    };
    forward(client, upstream);
    forward(upstream, client);
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port ?? 0, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as { port: number }).port;

  const destroyAll = (which: (p: Pair) => boolean) => {
    for (const p of [...pairs]) {
      if (!which(p)) continue;
      pairs.delete(p);
      p.client.destroy();
      p.upstream.destroy();
    }
  };

  return {
    port,
    targetPort: opts.targetPort,
    get mode() {
      return mode;
    },
    get accepted() {
      return accepted;
    },
    setMode(next) {
      mode = next;
      if (next === "cut") destroyAll(() => true);
      else if (next === "pass") destroyAll((p) => p.lost);
    },
    async close() {
      destroyAll(() => true);
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
