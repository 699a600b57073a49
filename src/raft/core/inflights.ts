/**
 * The window of append messages in flight to one follower, as a ring buffer of the
 * last index each message carried. The leader stops sending in replicate state when
 * the window is full and frees slots as acknowledgements arrive.
 */
export class Inflights {
  private readonly buf: number[];
  private start = 0;
  private n = 0;

  constructor(readonly size: number) {
    if (!Number.isInteger(size) || size < 1) throw new RangeError("inflight window must be >= 1");
    this.buf = new Array<number>(size).fill(0);
  }

  /** How many messages are in flight. */
  get count(): number {
    return this.n;
  }

  /** True when no more messages may be sent. */
  full(): boolean {
    return this.n === this.size;
  }

  /** Records a message whose last entry is `index`; indexes must increase. */
  add(index: number): void {
    if (this.n === this.size) throw new RangeError("inflights full");
    this.buf[(this.start + this.n) % this.size] = index;
    this.n++;
  }

  /** Frees every message whose last index is <= `index` (acknowledged). */
  freeLE(index: number): void {
    while (this.n > 0 && this.buf[this.start]! <= index) {
      this.start = (this.start + 1) % this.size;
      this.n--;
    }
    if (this.n === 0) this.start = 0;
  }

  /** Frees the oldest message, so that a full window whose messages were lost can move. */
  freeFirstOne(): void {
    if (this.n === 0) return;
    this.freeLE(this.buf[this.start]!);
  }

  /** Empties the window. */
  reset(): void {
    this.start = 0;
    this.n = 0;
  }
}
