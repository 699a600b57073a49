import type { Message } from "../../src/raft/types.js";

/** A message on the simulated wire, with sender and receiver slots resolved. */
export interface InFlight {
  readonly m: Message;
  readonly from: number;
  readonly to: number;
  /** The sender's incarnation when it sent (a restart makes its old sends orphans). */
  readonly inc: number;
}

/**
 * The simulated network: one queue of messages in flight and a matrix of blocked links.
 * Which message goes next, and whether it is dropped or duplicated, is the scheduler's
 * choice; a blocked link drops what reaches it (checked on delivery, so messages
 * already on the wire when a partition starts are lost too).
 */
export interface SimNetwork {
  /** Number of messages in flight. */
  readonly size: number;
  /** Puts a message on the wire; when the queue is full, the oldest is dropped. */
  send(f: InFlight): void;
  /** Removes and returns the message at `pos` (0 is the oldest). */
  take(pos: number): InFlight;
  /** The message at `pos` without removing it. */
  peek(pos: number): InFlight;
  /** Blocks `from -> to` (one direction; asymmetric partitions block only one). */
  block(from: number, to: number): void;
  /** True when `from -> to` drops messages. */
  blocked(from: number, to: number): boolean;
  /** True when any link is blocked. */
  readonly partitioned: boolean;
  /** Unblocks every link. */
  heal(): void;
  /** Drops everything in flight (used by nothing but tests and the end-of-run phase). */
  clear(): void;
}

/** Options for {@link createSimNetwork}. */
export interface SimNetworkOptions {
  /** Maximum node slots (for the link matrix). */
  readonly maxNodes: number;
  /** Messages in flight beyond this drop the oldest (a congested wire). */
  readonly capacity: number;
  /** Called for each message the queue drops because it is full. */
  readonly onOverflow: (f: InFlight) => void;
}

/** Creates an empty, fully connected network. */
export function createSimNetwork(options: SimNetworkOptions): SimNetwork {
  const { maxNodes, capacity } = options;
  // A ring buffer would make take(0) O(1), but queues stay short (hundreds) and
  // random-position removal dominates anyway; a plain array keeps it obvious.
  let queue: InFlight[] = [];
  const links = new Uint8Array(maxNodes * maxNodes);
  let blockedCount = 0;
  return {
    get size() {
      return queue.length;
    },
    send(f) {
      if (queue.length >= capacity) options.onOverflow(queue.shift()!);
      queue.push(f);
    },
    take(pos) {
      if (pos === 0) return queue.shift()!;
      return queue.splice(pos, 1)[0]!;
    },
    peek(pos) {
      return queue[pos]!;
    },
    block(from, to) {
      const k = from * maxNodes + to;
      if (links[k] === 0) {
        links[k] = 1;
        blockedCount++;
      }
    },
    blocked(from, to) {
      return blockedCount !== 0 && links[from * maxNodes + to] === 1;
    },
    get partitioned() {
      return blockedCount !== 0;
    },
    heal() {
      links.fill(0);
      blockedCount = 0;
    },
    clear() {
      queue = [];
    },
  };
}
