import type { NodeId } from "../types.js";

/** A ReadIndex request waiting for a quorum heartbeat round. */
export interface ReadRequest {
  readonly index: number;
  readonly context: Uint8Array;
  readonly acks: Set<NodeId>;
}

/** Turns a context into a map key (contexts are short, opaque bytes). */
export function contextKey(ctx: Uint8Array): string {
  let s = "";
  for (let i = 0; i < ctx.length; i++) s += String.fromCharCode(ctx[i]!);
  return s;
}

/**
 * The leader's queue of ReadIndex requests (thesis §6.4): each records the commit index
 * when it arrived and collects heartbeat acknowledgements carrying its context. Once a
 * quorum acknowledged a request, it and every request queued before it are answered,
 * since those heartbeats were sent after all of them arrived.
 */
export class ReadOnly {
  private readonly pending = new Map<string, ReadRequest>();
  private queue: string[] = [];

  get size(): number {
    return this.queue.length;
  }

  /** Queues a request; a context already waiting is ignored (callers use unique contexts). */
  add(index: number, context: Uint8Array): boolean {
    const key = contextKey(context);
    if (this.pending.has(key)) return false;
    this.pending.set(key, { index, context, acks: new Set() });
    this.queue.push(key);
    return true;
  }

  /** Records `from`'s acknowledgement of the round carrying `context`. */
  recvAck(from: NodeId, context: Uint8Array): ReadRequest | undefined {
    const r = this.pending.get(contextKey(context));
    if (r) r.acks.add(from);
    return r;
  }

  /** Removes and returns every request up to and including the one for `context`. */
  advance(context: Uint8Array): ReadRequest[] {
    const key = contextKey(context);
    const at = this.queue.indexOf(key);
    if (at < 0) return [];
    const done = this.queue.slice(0, at + 1);
    this.queue = this.queue.slice(at + 1);
    const out: ReadRequest[] = [];
    for (const k of done) {
      const r = this.pending.get(k);
      this.pending.delete(k);
      if (r) out.push(r);
    }
    return out;
  }

  /** The context of the newest request, to piggyback on heartbeats; empty if none. */
  lastContext(): Uint8Array | undefined {
    const k = this.queue[this.queue.length - 1];
    return k === undefined ? undefined : this.pending.get(k)?.context;
  }

  reset(): void {
    this.pending.clear();
    this.queue = [];
  }
}
