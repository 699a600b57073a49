/**
 * An unbounded push queue consumed as an async iterable: the request side of a
 * long-lived client stream. `end()` finishes the iteration after the queued items.
 * Bounding is the producer's job (the transport drops and reports when a peer lags).
 */
export class AsyncQueue<T> implements AsyncIterable<T> {
  private items: T[] = [];
  private waiting: ((r: IteratorResult<T>) => void) | undefined;
  private ended = false;

  /** Number of items queued and not yet taken by the consumer. */
  get size(): number {
    return this.items.length;
  }

  /** True once end() was called. */
  get closed(): boolean {
    return this.ended;
  }

  /** Adds an item; ignored after end(). */
  push(item: T): void {
    if (this.ended) return;
    const w = this.waiting;
    if (w) {
      this.waiting = undefined;
      w({ value: item, done: false });
    } else {
      this.items.push(item);
    }
  }

  /** Ends the iteration once the queued items are taken; drops them when `discard`. */
  end(discard = false): void {
    this.ended = true;
    if (discard) this.items = [];
    const w = this.waiting;
    if (w && this.items.length === 0) {
      this.waiting = undefined;
      w({ value: undefined, done: true });
    }
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return {
      next: () => {
        const item = this.items.shift();
        if (item !== undefined) return Promise.resolve({ value: item, done: false });
        if (this.ended) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => {
          this.waiting = resolve;
        });
      },
      return: () => {
        this.end(true);
        return Promise.resolve({ value: undefined, done: true });
      },
      // The consumer (a Connect client stream) calls throw() when the call fails; the
      // queue then ends, and the failure reaches the caller through the call itself.
      throw: () => {
        this.end(true);
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}
