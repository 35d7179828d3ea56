/**
 * Credit-based flow control between pipeline stages. A producer holds `capacity` credits, spends
 * one per item it sends and gets one back when the consumer takes that item from its inbox; so
 * at most `capacity` items ever wait in an inbox, and a slow stage blocks the one before it
 * (back-pressure) instead of letting activations pile up.
 */
export class CreditGate {
  private credits: number;
  private readonly waiting: { resolve: () => void; reject: (error: unknown) => void }[] = [];
  private failure: unknown;

  constructor(readonly capacity: number) {
    if (!(Number.isInteger(capacity) && capacity >= 1)) throw new RangeError(`capacity must be an integer >= 1, got ${capacity}`);
    this.credits = capacity;
  }

  /** Items sent and not yet taken by the consumer. */
  get outstanding(): number {
    return this.capacity - this.credits;
  }

  /** Resolves once a credit is free (spending it); rejects if the gate failed. */
  acquire(): Promise<void> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (this.credits > 0) {
      this.credits -= 1;
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => this.waiting.push({ resolve, reject }));
  }

  /** The consumer took an item: hand its credit to the next waiter, or keep it. */
  release(): void {
    const next = this.waiting.shift();
    if (next) next.resolve();
    else if (this.credits < this.capacity) this.credits += 1;
    else throw new Error('internal: a credit came back that was never spent');
  }

  /** Rejects every waiter and every later `acquire` with `error`. */
  fail(error: unknown): void {
    this.failure = error;
    for (const w of this.waiting.splice(0)) w.reject(error);
  }
}

/** An inbox: items pushed by a message handler, taken in order by one async consumer. */
export class AsyncQueue<T> {
  private readonly items: T[] = [];
  private waiter: ((item: T) => void) | undefined;
  /** The most items that ever waited at once. */
  peak = 0;

  get length(): number {
    return this.items.length;
  }

  push(item: T): void {
    if (this.waiter) {
      const resolve = this.waiter;
      this.waiter = undefined;
      resolve(item);
      return;
    }
    this.items.push(item);
    this.peak = Math.max(this.peak, this.items.length);
  }

  next(): Promise<T> {
    if (this.items.length) return Promise.resolve(this.items.shift()!);
    if (this.waiter) throw new Error('internal: AsyncQueue has one consumer');
    return new Promise((resolve) => (this.waiter = resolve));
  }
}
