import { afterEach } from 'vitest';

// Training-step tests run synchronously for seconds each. Vitest's worker answers its parent's
// RPC only between macrotasks, so a file of such tests chained back to back can starve it past
// its 60 s RPC timeout ("Timeout calling onTaskUpdate") although every test passes. One event-loop
// turn after each test lets those messages through.
afterEach(() => new Promise<void>((resolve) => setImmediate(resolve)));
