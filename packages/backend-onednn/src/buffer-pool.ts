/** Arrays below this many bytes are left to the garbage collector: pooling them saves nothing. */
const pooledFromBytes = 64 * 1024;

/**
 * Recycles the Float32Arrays that hold this backend's large tensors. A training step allocates
 * gigabytes of outputs; left to V8 each allocation is fresh memory (page faults on first write, a
 * zero fill) and the external-memory pressure forces a full garbage collection every few dozen
 * megabytes. Here an array returns to the pool the moment its tensor is disposed, and the next
 * output of the same length reuses it.
 *
 * An array is only ever recycled while nobody else can see it: it must have come from take(),
 * back exactly one tensor, and never have been exposed. Exposure "pins" it for good, after which
 * the garbage collector frees it as usual:
 *  - reading a tensor's values (dataSync, data, bufferSync) hands the array itself to the caller;
 *  - a second tensor created on the same memory (a cpu kernel's zero-copy subarray slice, a user
 *    making a tensor from an array they read) aliases it.
 */
export class BufferPool {
  private readonly available = new Map<number, Float32Array[]>();
  /** Given out by take(), not yet attached to a tensor. */
  private readonly handedOut = new WeakSet<ArrayBufferLike>();
  /** Backing exactly one live tensor and never exposed. */
  private readonly recyclable = new WeakSet<ArrayBufferLike>();
  private pooledBytes = 0;
  private reusedCount = 0;
  private allocatedCount = 0;

  constructor(private capacityBytes: number) {}

  /** An array of `length` floats with unspecified contents (the caller overwrites all of them). */
  take(length: number): Float32Array {
    const bytes = length * Float32Array.BYTES_PER_ELEMENT;
    if (bytes < pooledFromBytes) return new Float32Array(length);
    const reused = this.available.get(length)?.pop();
    let array: Float32Array;
    if (reused) {
      this.pooledBytes -= bytes;
      this.reusedCount += 1;
      array = reused;
    } else {
      // malloc without the zero fill; a Buffer this large owns its ArrayBuffer at offset 0.
      const buffer = Buffer.allocUnsafe(bytes);
      array = new Float32Array(buffer.buffer, buffer.byteOffset, length);
      this.allocatedCount += 1;
    }
    this.handedOut.add(array.buffer);
    return array;
  }

  /** Like take(), filled with zeros. */
  takeZeroed(length: number): Float32Array {
    return this.take(length).fill(0);
  }

  /** A tensor now stores `values`: the first attachment of a taken array makes it recyclable. */
  attach(values: unknown): void {
    if (!(values instanceof Float32Array)) return;
    const buffer = values.buffer;
    if (this.handedOut.has(buffer) && wholeView(values)) {
      this.handedOut.delete(buffer);
      this.recyclable.add(buffer);
      return;
    }
    // Memory that already backs a tensor (or came from elsewhere): an alias, never recycled.
    this.pin(values);
  }

  /** `values` escapes to code that may keep it: never recycle it. */
  pin(values: unknown): void {
    if (!(values instanceof Float32Array)) return;
    this.recyclable.delete(values.buffer);
    this.handedOut.delete(values.buffer);
  }

  /** The tensor that stored `values` is gone: keep the array for reuse if it is safe and fits. */
  give(values: unknown): void {
    if (!(values instanceof Float32Array) || !this.recyclable.has(values.buffer) || !wholeView(values)) return;
    this.recyclable.delete(values.buffer);
    const bytes = values.byteLength;
    if (this.pooledBytes + bytes > this.capacityBytes) return;
    let list = this.available.get(values.length);
    if (!list) {
      list = [];
      this.available.set(values.length, list);
    }
    list.push(values);
    this.pooledBytes += bytes;
  }

  setCapacity(bytes: number): void {
    this.capacityBytes = bytes;
    if (this.pooledBytes > bytes) this.clear();
  }

  clear(): void {
    this.available.clear();
    this.pooledBytes = 0;
  }

  stats(): { pooledBytes: number; capacityBytes: number; reused: number; allocated: number } {
    return {
      pooledBytes: this.pooledBytes,
      capacityBytes: this.capacityBytes,
      reused: this.reusedCount,
      allocated: this.allocatedCount,
    };
  }
}

function wholeView(values: Float32Array): boolean {
  return values.byteOffset === 0 && values.byteLength === values.buffer.byteLength;
}
