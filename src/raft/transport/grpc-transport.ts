import { randomInt } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import {
  type Client,
  Code,
  ConnectError,
  createClient,
  type ServiceImpl,
  type Transport,
} from "@connectrpc/connect";
import {
  type RaftBatch,
  RaftBatchSchema,
  RaftService,
  type SnapshotChunk,
  SnapshotChunkSchema,
} from "../../gen/gastrolog/v1/raft_pb.js";
import { type Logger, silentLogger } from "../../log.js";
import type { RaftNodeTransport, RaftTransportSink } from "../node.js";
import type { Message, NodeId } from "../types.js";
import { AsyncQueue } from "./async-queue.js";
import { messageFromWire, messageToWire, RaftCodecError } from "./codec.js";

/** Limits shared by both sides of the transport. */
export interface RaftTransportLimits {
  /** Largest entry payload accepted from a peer (default 1 MiB). */
  maxEntryBytes?: number;
  /** Largest snapshot accepted from a peer (default 256 MiB). */
  maxSnapshotBytes?: number;
}

const DEFAULT_MAX_ENTRY = 1 << 20;
const DEFAULT_MAX_SNAPSHOT = 256 << 20;
const SNAPSHOT_CHUNK = 256 << 10;
/** A peer with more unsent batches than this is lagging: drop and let Raft retransmit. */
const MAX_QUEUED_BATCHES = 1024;
/** First retry comes quickly: a joining node's port is usually up within tens of ms. */
const BACKOFF_MIN_MS = 20;
const BACKOFF_MAX_MS = 2000;
/** A stream that lived this long before failing resets the backoff. */
const STABLE_STREAM_MS = 2000;
/** How long a stream arriving before Raft is attached waits for it. */
const ATTACH_WAIT_MS = 5000;
/**
 * Batches of a stream that failed young (connection refused, the peer's Raft not running
 * yet) are sent again on the next stream if they are at most this old: Raft tolerates
 * duplicates, and the first append to a node that has just joined is then not lost.
 */
const RESEND_WITHIN_MS = 1000;
/** At most this many batches are kept for re-sending. */
const RESEND_MAX_BATCHES = 16;

/**
 * `it.next()`, or "done" as soon as `signal` aborts. The abort listener lives for one call
 * only: racing every `next()` against one long-lived promise would leave a reaction on
 * that promise per call, each holding the batch it resolved with, so a peer's stream
 * would keep every batch it ever delivered alive (seen as ~1 MiB of heap per 300 writes
 * on a follower).
 */
export function nextOrAbort<T>(
  it: AsyncIterator<T>,
  signal: AbortSignal,
): Promise<IteratorResult<T>> {
  if (signal.aborted) return Promise.resolve({ done: true, value: undefined });
  let onAbort = () => {};
  const aborted = new Promise<IteratorResult<T>>((resolve) => {
    onAbort = () => resolve({ done: true, value: undefined });
    signal.addEventListener("abort", onAbort, { once: true });
  });
  return Promise.race([it.next(), aborted]).finally(() =>
    signal.removeEventListener("abort", onAbort),
  );
}

/** The receiving side: the RaftService implementation served on the cluster port. */
export interface RaftInbound {
  /** Register this on the cluster port (behind the mTLS gate). */
  readonly impl: ServiceImpl<typeof RaftService>;
  /**
   * Routes received messages to a node. Undefined detaches: open streams end, new calls
   * fail "unavailable".
   */
  attach(sink: RaftTransportSink | undefined): void;
}

/**
 * Creates the receiving side of the Raft transport. Each peer keeps one long-lived
 * `Stream` call open to us; each batch on it is decoded, checked against the limits and
 * stepped into the node. Bad input ends that stream with `invalid_argument`, and nothing
 * of the offending batch reaches the core.
 */
export function createRaftInbound(
  opts: {
    id: NodeId;
    logger?: Logger;
    /**
     * Decides whether messages from `from` are admitted; a returned error ends the peer's
     * stream with it (e.g. `failed_precondition` for a node that was removed).
     */
    admit?: (from: NodeId) => ConnectError | undefined;
  } & RaftTransportLimits,
): RaftInbound {
  const log = opts.logger ?? silentLogger();
  const maxEntry = opts.maxEntryBytes ?? DEFAULT_MAX_ENTRY;
  const maxSnapshot = opts.maxSnapshotBytes ?? DEFAULT_MAX_SNAPSHOT;
  let sink: RaftTransportSink | undefined;
  const active = new Set<AbortController>();
  // A node's cluster port listens before its Raft node is attached (a joining node's port
  // comes up first): a peer's stream that arrives in between waits for the attach, briefly,
  // instead of failing and leaving the peer to retry after its next heartbeat.
  let attached: { promise: Promise<void>; resolve: () => void } | undefined;
  const sinkWithin = async (ms: number): Promise<RaftTransportSink | undefined> => {
    if (sink) return sink;
    if (!attached) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => {
        resolve = r;
      });
      attached = { promise, resolve };
    }
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      attached.promise,
      new Promise<void>((r) => {
        timer = setTimeout(r, ms);
        timer.unref();
      }),
    ]);
    clearTimeout(timer);
    return sink;
  };

  const decode = (batch: RaftBatch): Message[] => {
    const out: Message[] = [];
    for (const w of batch.messages) {
      for (const e of w.entries) {
        if (e.data.byteLength > maxEntry) {
          throw new ConnectError(
            `raft entry of ${e.data.byteLength} bytes exceeds the limit of ${maxEntry}`,
            Code.InvalidArgument,
          );
        }
      }
      if (w.to !== opts.id) {
        throw new ConnectError(
          `raft message addressed to ${w.to}, this node is ${opts.id}`,
          Code.InvalidArgument,
        );
      }
      const refusal = opts.admit?.(w.from);
      if (refusal) throw refusal;
      try {
        out.push(messageFromWire(w));
      } catch (err) {
        if (err instanceof RaftCodecError)
          throw new ConnectError(err.message, Code.InvalidArgument);
        throw err;
      }
    }
    return out;
  };

  const impl: ServiceImpl<typeof RaftService> = {
    async stream(requests) {
      // A peer's stream never ends on its own; detaching (shutdown) ends it, so that the
      // cluster port can close without waiting out its drain timeout.
      const stop = new AbortController();
      active.add(stop);
      const it = requests[Symbol.asyncIterator]();
      try {
        for (;;) {
          const r = await nextOrAbort(it, stop.signal);
          if (r.done) break;
          const target = sink ?? (await sinkWithin(ATTACH_WAIT_MS));
          if (!target) throw new ConnectError("raft is not running on this node", Code.Unavailable);
          for (const m of decode(r.value)) target.receive(m);
        }
      } finally {
        active.delete(stop);
      }
      return {};
    },
    async installSnapshot(requests) {
      let header: SnapshotChunk["header"];
      const parts: Uint8Array[] = [];
      let size = 0;
      for await (const chunk of requests) {
        if (!header) {
          if (!chunk.header)
            throw new ConnectError("first snapshot chunk has no header", Code.InvalidArgument);
          header = chunk.header;
        }
        size += chunk.data.byteLength;
        if (size > maxSnapshot) {
          throw new ConnectError(
            `snapshot exceeds the limit of ${maxSnapshot} bytes`,
            Code.InvalidArgument,
          );
        }
        if (chunk.data.byteLength > 0) parts.push(chunk.data);
      }
      if (!header) throw new ConnectError("empty snapshot stream", Code.InvalidArgument);
      if (header.to !== opts.id) {
        throw new ConnectError(
          `snapshot addressed to ${header.to}, this node is ${opts.id}`,
          Code.InvalidArgument,
        );
      }
      let m: Message;
      try {
        m = messageFromWire(header, Buffer.concat(parts));
      } catch (err) {
        if (err instanceof RaftCodecError)
          throw new ConnectError(err.message, Code.InvalidArgument);
        throw err;
      }
      if (m.type !== "snap")
        throw new ConnectError("snapshot header is not a snap message", Code.InvalidArgument);
      const target = sink ?? (await sinkWithin(ATTACH_WAIT_MS));
      if (!target) throw new ConnectError("raft is not running on this node", Code.Unavailable);
      log.info({ from: m.from, index: m.snapshot?.meta.index, bytes: size }, "received snapshot");
      target.receive(m);
      return {};
    },
  };
  return {
    impl,
    attach(s) {
      sink = s;
      // Streams waiting for the attach go on (attached) or fail at once (detached).
      attached?.resolve();
      attached = undefined;
      if (!s) for (const a of active) a.abort();
    },
  };
}

/** Options for {@link createGrpcRaftTransport}. */
export interface GrpcRaftTransportOptions {
  id: NodeId;
  /** Builds a Connect transport (gRPC over mTLS) to a peer's cluster address. */
  dial(addr: string): Transport;
  logger?: Logger;
  /**
   * Called when a peer refuses us outright (`permission_denied`, `unauthenticated` or
   * `failed_precondition`): our certificate is no longer accepted, or we were removed.
   * Retrying cannot fix that; the node decides what to do.
   */
  onRefused?: (peer: NodeId, err: ConnectError) => void;
  /**
   * Called when the peer presented a certificate this node does not accept: the peer is
   * ahead in a rotation and this node is behind.
   */
  onBehind?: (peer: NodeId) => void;
}

/**
 * Creates the sending side of the Raft transport, as the factory RaftNode takes. It keeps
 * one long-lived client stream per peer and writes each Ready's messages for that peer as
 * one batch. A failed stream is reported to the core as unreachable and reopened after an
 * exponential backoff with jitter; while it is down, messages to that peer are dropped
 * (Raft retransmits) rather than buffered without bound.
 */
export function createGrpcRaftTransport(
  opts: GrpcRaftTransportOptions,
): (sink: RaftTransportSink) => RaftNodeTransport {
  return (sink) => new GrpcRaftTransport(opts, sink);
}

class GrpcRaftTransport implements RaftNodeTransport {
  private readonly peers = new Map<NodeId, PeerLink>();
  private readonly log: Logger;

  constructor(
    private readonly opts: GrpcRaftTransportOptions,
    private readonly sink: RaftTransportSink,
  ) {
    this.log = opts.logger ?? silentLogger();
  }

  send(messages: readonly Message[]): void {
    const byPeer = new Map<NodeId, Message[]>();
    for (const m of messages) {
      if (m.type === "snap") {
        const peer = this.peers.get(m.to);
        if (peer) peer.sendSnapshot(m);
        else this.sink.snapshotStatus(m.to, false);
        continue;
      }
      const list = byPeer.get(m.to);
      if (list) list.push(m);
      else byPeer.set(m.to, [m]);
    }
    for (const [to, list] of byPeer) {
      const peer = this.peers.get(to);
      if (peer) peer.send(list);
      else this.sink.unreachable(to);
    }
  }

  setPeers(addrs: Readonly<Record<NodeId, string>>): void {
    for (const [id, peer] of this.peers) {
      if (addrs[id] !== peer.addr) {
        peer.close();
        this.peers.delete(id);
      }
    }
    for (const [id, addr] of Object.entries(addrs)) {
      if (id === this.opts.id || this.peers.has(id) || addr === "") continue;
      this.peers.set(
        id,
        new PeerLink(id, addr, this.opts.dial(addr), this.sink, this.log, this.opts),
      );
    }
  }

  peerUp(id: NodeId): void {
    this.peers.get(id)?.retryNow();
  }

  async close(): Promise<void> {
    for (const peer of this.peers.values()) peer.close();
    this.peers.clear();
  }
}

type LinkState =
  | { t: "idle" }
  | { t: "open"; queue: AsyncQueue<RaftBatch>; since: number }
  | { t: "backoff"; until: number };

/** One peer: its stream, its backoff and its snapshot sender. */
class PeerLink {
  private state: LinkState = { t: "idle" };
  private backoffMs = 0;
  private readonly client: Client<typeof RaftService>;
  private readonly abort = new AbortController();
  private snapshotInFlight = false;
  private closed = false;
  /** Batches given to a young stream, which may not have reached the peer. */
  private unsure: { batch: RaftBatch; at: number }[] = [];
  private retryTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly id: NodeId,
    readonly addr: string,
    transport: Transport,
    private readonly sink: RaftTransportSink,
    private readonly log: Logger,
    private readonly hooks: Pick<GrpcRaftTransportOptions, "onRefused" | "onBehind">,
  ) {
    this.client = createClient(RaftService, transport);
  }

  send(messages: Message[]): void {
    if (this.closed) return;
    if (this.state.t === "backoff") {
      if (performance.now() < this.state.until) {
        this.sink.unreachable(this.id);
        return;
      }
      this.state = { t: "idle" };
    }
    if (this.state.t === "idle") this.open();
    const st = this.state;
    if (st.t !== "open") return;
    if (st.queue.size >= MAX_QUEUED_BATCHES) {
      this.sink.unreachable(this.id);
      return;
    }
    const batch = create(RaftBatchSchema, { messages: messages.map(messageToWire) });
    st.queue.push(batch);
    const now = performance.now();
    if (now - st.since < STABLE_STREAM_MS) {
      this.unsure.push({ batch, at: now });
      if (this.unsure.length > RESEND_MAX_BATCHES) this.unsure.shift();
    }
  }

  private open(): void {
    if (this.retryTimer) {
      clearTimeout(this.retryTimer);
      this.retryTimer = undefined;
    }
    const queue = new AsyncQueue<RaftBatch>();
    const since = performance.now();
    this.state = { t: "open", queue, since };
    // What a failed young stream carried goes first, if still fresh.
    this.unsure = this.unsure.filter((u) => since - u.at <= RESEND_WITHIN_MS);
    for (const u of this.unsure) queue.push(u.batch);
    this.client.stream(queue, { signal: this.abort.signal }).then(
      () => this.onStreamEnd(queue, since, undefined),
      (err: unknown) => this.onStreamEnd(queue, since, err),
    );
  }

  private onStreamEnd(queue: AsyncQueue<RaftBatch>, since: number, err: unknown): void {
    queue.end(true);
    if (this.closed) return;
    if (this.state.t === "open" && this.state.queue === queue) {
      const lived = performance.now() - since;
      this.backoffMs =
        lived >= STABLE_STREAM_MS
          ? BACKOFF_MIN_MS
          : Math.min(BACKOFF_MAX_MS, Math.max(BACKOFF_MIN_MS, this.backoffMs * 1.6));
      // Full jitter on the upper half keeps peers that failed together from retrying together.
      const wait = this.backoffMs / 2 + randomInt(0, Math.max(1, Math.floor(this.backoffMs / 2)));
      this.state = { t: "backoff", until: performance.now() + wait };
      const e = ConnectError.from(err ?? new Error("stream ended"));
      if (lived < STABLE_STREAM_MS && e.code === Code.Unavailable && this.unsure.length > 0) {
        // The peer may not have got them (its port was not up yet, or its Raft was not
        // running): reopen after the backoff and send them again, without waiting for
        // Raft's next message to this peer (a heartbeat, up to a heartbeat interval away).
        this.retryTimer = setTimeout(() => {
          this.retryTimer = undefined;
          if (!this.closed && this.state.t === "backoff") this.open();
        }, wait);
        this.retryTimer.unref();
      } else {
        this.unsure = [];
      }
      if (
        e.code === Code.PermissionDenied ||
        e.code === Code.Unauthenticated ||
        e.code === Code.FailedPrecondition
      ) {
        this.hooks.onRefused?.(this.id, e);
      } else if (e.rawMessage.includes("not in the accepted set")) {
        this.hooks.onBehind?.(this.id);
      }
      this.log.debug(
        {
          peer: this.id,
          addr: this.addr,
          code: Code[e.code],
          error: e.rawMessage,
          retryInMs: Math.round(wait),
        },
        "raft stream to peer ended",
      );
      this.sink.unreachable(this.id);
    }
  }

  /**
   * The peer says it is up (a joining node whose port has just opened): a link waiting out
   * its backoff reopens now, re-sending what a young stream may not have delivered.
   */
  retryNow(): void {
    if (this.closed || this.state.t !== "backoff") return;
    this.open();
  }

  sendSnapshot(m: Message): void {
    const snap = m.snapshot;
    if (this.closed || this.snapshotInFlight || !snap) {
      this.sink.snapshotStatus(this.id, false);
      return;
    }
    this.snapshotInFlight = true;
    const header = messageToWire(m);
    const data = snap.data;
    async function* chunks(): AsyncGenerator<SnapshotChunk> {
      yield create(SnapshotChunkSchema, { header, data: data.subarray(0, SNAPSHOT_CHUNK) });
      for (let off = SNAPSHOT_CHUNK; off < data.byteLength; off += SNAPSHOT_CHUNK) {
        yield create(SnapshotChunkSchema, { data: data.subarray(off, off + SNAPSHOT_CHUNK) });
      }
    }
    this.client.installSnapshot(chunks(), { signal: this.abort.signal }).then(
      () => {
        this.snapshotInFlight = false;
        this.log.info(
          { peer: this.id, index: snap.meta.index, bytes: data.byteLength },
          "sent snapshot",
        );
        this.sink.snapshotStatus(this.id, true);
      },
      (err: unknown) => {
        this.snapshotInFlight = false;
        this.log.warn(
          { peer: this.id, err: ConnectError.from(err).message },
          "sending snapshot failed",
        );
        this.sink.snapshotStatus(this.id, false);
      },
    );
  }

  close(): void {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.unsure = [];
    if (this.state.t === "open") this.state.queue.end(true);
    this.abort.abort();
  }
}
