import { limits } from '../limits.js';

/**
 * The rate limiter's counters, one fixed window per key, bounded in memory.
 *
 * Why not the plugin's own LocalStore: it hands every caller the same mutable counter
 * object, and the plugin reads it only after an `await`, so a burst of concurrent requests
 * all read the final count and are all refused together. This store answers each request
 * with a snapshot of its own count.
 */
export class SnapshotRateLimitStore {
  private readonly windows = new Map<string, { count: number; startedMs: number }>();
  private readonly keysMax = limits.rateLimitKeysMax;

  incr(key: string, callback: (error: Error | null, result: { current: number; ttl: number }) => void, timeWindow: number): void {
    const nowMs = Date.now();
    let window = this.windows.get(key);
    if (window === undefined || nowMs - window.startedMs >= timeWindow) {
      this.windows.delete(key);
      if (this.windows.size >= this.keysMax) this.windows.delete(this.windows.keys().next().value as string);
      window = { count: 0, startedMs: nowMs };
      this.windows.set(key, window);
    }
    window.count++;
    callback(null, { current: window.count, ttl: window.startedMs + timeWindow - nowMs });
  }

  read(key: string, callback: (error: Error | null, result: { current: number; ttl: number }) => void, timeWindow: number): void {
    const nowMs = Date.now();
    const window = this.windows.get(key);
    const alive = window !== undefined && nowMs - window.startedMs < timeWindow;
    callback(null, { current: alive ? window.count : 0, ttl: alive ? window.startedMs + timeWindow - nowMs : timeWindow });
  }

  child(): SnapshotRateLimitStore {
    return this;
  }
}
