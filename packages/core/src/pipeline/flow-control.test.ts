import { describe, expect, it } from 'vitest';
import { AsyncQueue, CreditGate } from './flow-control.js';

describe('flow control', () => {
  it('a gate lets `capacity` items out, then waits for a credit back', async () => {
    const gate = new CreditGate(2);
    await gate.acquire();
    await gate.acquire();
    let third = false;
    const waiting = gate.acquire().then(() => (third = true));
    await Promise.resolve();
    expect(third).toBe(false);
    expect(gate.outstanding).toBe(2);
    gate.release();
    await waiting;
    expect(third).toBe(true);
    expect(gate.outstanding).toBe(2);
    gate.release();
    gate.release();
    expect(gate.outstanding).toBe(0);
    expect(() => gate.release()).toThrow(/never spent/);
  });

  it('a failed gate rejects its waiters and later acquires', async () => {
    const gate = new CreditGate(1);
    await gate.acquire();
    const waiting = gate.acquire();
    gate.fail(new Error('stopped'));
    await expect(waiting).rejects.toThrow('stopped');
    await expect(gate.acquire()).rejects.toThrow('stopped');
  });

  it('a queue hands items over in order and records its peak', async () => {
    const queue = new AsyncQueue<number>();
    const first = queue.next();
    queue.push(1);
    queue.push(2);
    queue.push(3);
    expect(await first).toBe(1);
    expect(await queue.next()).toBe(2);
    expect(await queue.next()).toBe(3);
    expect(queue.peak).toBe(2);
  });
});
