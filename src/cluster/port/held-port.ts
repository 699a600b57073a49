import { type AddressInfo, createServer, type Server, type Socket } from "node:net";

/**
 * A TCP port bound before the server that will serve it exists. A joining node binds its
 * cluster port this way before it enrolls, when it does not have the TLS material to
 * serve it yet: the leader starts replicating to the node as soon as it records it, and
 * its first connection then waits in this port (accepted, unread) instead of being
 * refused and retried on a backoff timer. {@link handOver} passes the waiting
 * connections, and every later one, to the real server.
 */
export interface HeldPort {
  /** The bound address. */
  address(): AddressInfo;
  /**
   * From now on `accept` gets every connection: first the ones waiting, in arrival order,
   * then each new one. Called once.
   */
  handOver(accept: (socket: Socket) => void): void;
  /** Stops listening and destroys the connections still waiting. Idempotent. */
  close(): Promise<void>;
}

/** Most connections kept waiting before the hand-over; more are closed at once. */
export const MAX_HELD_CONNECTIONS = 64;

/**
 * Binds `host:port` and holds incoming connections until {@link HeldPort.handOver}.
 * `onHeld` is told each time a connection starts waiting (with how many wait).
 */
export async function holdPort(
  host: string,
  port: number,
  opts: { maxHeld?: number; onHeld?: (waiting: number) => void } = {},
): Promise<HeldPort> {
  const maxHeld = opts.maxHeld ?? MAX_HELD_CONNECTIONS;
  const held: Socket[] = [];
  let accept: ((socket: Socket) => void) | undefined;
  function dropOnError(this: Socket): void {
    this.destroy();
  }
  // Paused: nothing is read from a waiting connection, so the real server later sees its
  // TLS ClientHello as if the connection had just arrived.
  const server: Server = createServer({ pauseOnConnect: true }, (socket) => {
    if (accept) return accept(socket);
    if (held.length >= maxHeld) {
      socket.destroy();
      return;
    }
    // A waiting connection that fails is dropped, not handed over.
    socket.once("error", dropOnError);
    held.push(socket);
    opts.onHeld?.(held.length);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  let closed = false;
  return {
    address: () => server.address() as AddressInfo,
    handOver(next) {
      if (accept) throw new Error("handOver called twice");
      accept = next;
      for (const socket of held.splice(0)) {
        socket.off("error", dropOnError);
        if (!socket.destroyed) next(socket);
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      for (const socket of held.splice(0)) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
