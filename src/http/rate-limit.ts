/**
 * Per-client-IP limit on the public writes (POST/DELETE /subscription): at most `max` requests per
 * fixed window of `windowSeconds`. Memory stays bounded: expired windows are swept, and the table
 * has a hard size cap (when full, new addresses share one overflow bucket rather than grow it).
 */
export interface RateLimitOptions {
  windowSeconds: number;
  max: number;
  /** Upper bound of tracked addresses. */
  maxClients?: number;
  now?: () => number;
}

export interface RateDecision {
  allowed: boolean;
  /** Seconds until the window resets (for Retry-After). */
  retryAfter: number;
}

const OVERFLOW = '\0overflow';

export class RateLimiter {
  private readonly windowMs: number;
  private readonly max: number;
  private readonly maxClients: number;
  private readonly now: () => number;
  private readonly windows = new Map<string, { count: number; resetAt: number }>();
  private lastSweep = 0;

  constructor(options: RateLimitOptions) {
    this.windowMs = options.windowSeconds * 1000;
    this.max = options.max;
    this.maxClients = options.maxClients ?? 100_000;
    this.now = options.now ?? Date.now;
  }

  take(ip: string): RateDecision {
    const now = this.now();
    if (now - this.lastSweep > this.windowMs) this.sweep(now);
    let key = ip;
    let entry = this.windows.get(key);
    if (!entry && this.windows.size >= this.maxClients) {
      key = OVERFLOW;
      entry = this.windows.get(key);
    }
    if (!entry || entry.resetAt <= now) {
      entry = { count: 0, resetAt: now + this.windowMs };
      this.windows.set(key, entry);
    }
    entry.count += 1;
    const retryAfter = Math.max(1, Math.ceil((entry.resetAt - now) / 1000));
    return { allowed: entry.count <= this.max, retryAfter };
  }

  private sweep(now: number): void {
    this.lastSweep = now;
    for (const [key, entry] of this.windows) if (entry.resetAt <= now) this.windows.delete(key);
  }
}
