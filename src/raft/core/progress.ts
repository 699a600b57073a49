import { Inflights } from "./inflights.js";

/**
 * The replication state of one follower as the leader sees it:
 * - probe: the leader does not know where the follower's log ends; it sends one
 *   append at a time and waits for the answer (or a heartbeat answer) before the next;
 * - replicate: the follower is known to match; appends stream optimistically, up to
 *   the inflight window;
 * - snapshot: a snapshot is on its way; nothing else is sent until it lands or fails.
 */
export type ProgressState = "probe" | "replicate" | "snapshot";

/** Per-follower flow control. Pure bookkeeping: it sends nothing itself. */
export class Progress {
  /** Highest index known to be in the follower's log. */
  match = 0;
  /** Next index to send. */
  next: number;
  state: ProgressState = "probe";
  /** Index of the snapshot in flight (snapshot state only). */
  pendingSnapshot = 0;
  /** Heard from within the current check-quorum period. */
  recentActive = false;
  /** Probe state: an append is out, wait for an answer before sending another. */
  probeSent = false;
  /** Match seen at the previous heartbeat round, to notice a stalled stream. */
  matchAtLastBeat = 0;
  /** Ticks spent in snapshot state, to give up on a lost snapshot. */
  snapshotTicks = 0;
  readonly inflights: Inflights;

  constructor(
    next: number,
    maxInflight: number,
    public isLearner: boolean,
  ) {
    this.next = next;
    this.inflights = new Inflights(maxInflight);
  }

  private resetState(state: ProgressState): void {
    this.probeSent = false;
    this.pendingSnapshot = 0;
    this.snapshotTicks = 0;
    this.state = state;
    this.inflights.reset();
  }

  /** Back to probing from just after the match (or the snapshot that was sent). */
  becomeProbe(): void {
    if (this.state === "snapshot") {
      const ps = this.pendingSnapshot;
      this.resetState("probe");
      this.next = Math.max(this.match + 1, ps + 1);
    } else {
      this.resetState("probe");
      this.next = this.match + 1;
    }
  }

  /** Stream optimistically from just after the match. */
  becomeReplicate(): void {
    this.resetState("replicate");
    this.next = this.match + 1;
  }

  /** A snapshot at `index` is being sent. */
  becomeSnapshot(index: number): void {
    this.resetState("snapshot");
    this.pendingSnapshot = index;
  }

  /** An accepting answer up to `n` arrived. Returns true when match moved. */
  maybeUpdate(n: number): boolean {
    let updated = false;
    if (this.match < n) {
      this.match = n;
      updated = true;
      this.probeSent = false;
    }
    if (this.next < n + 1) this.next = n + 1;
    return updated;
  }

  /**
   * A rejection of the append whose previous index was `rejected` arrived; `matchHint`
   * is where the follower's log may match (from the conflict hint). Returns false when
   * the rejection is stale (an answer to an older message) and must be ignored.
   */
  maybeDecrTo(rejected: number, matchHint: number): boolean {
    if (this.state === "replicate") {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, matchHint + 1), this.match + 1);
    this.probeSent = false;
    return true;
  }

  /** Records that an append with `entries` entries ending at `lastIndex` was sent. */
  sentEntries(entries: number, lastIndex: number): void {
    if (this.state === "replicate") {
      if (entries > 0) {
        this.next = lastIndex + 1;
        this.inflights.add(lastIndex);
      }
    } else if (this.state === "probe") {
      this.probeSent = true;
    }
  }

  /** True when the leader must not send appends now. */
  isPaused(): boolean {
    switch (this.state) {
      case "probe":
        return this.probeSent;
      case "replicate":
        return this.inflights.full();
      case "snapshot":
        return true;
    }
  }
}
