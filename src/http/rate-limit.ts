/**
 * Per-client limit on the public writes (POST/DELETE /subscription): at most `max` requests per
 * fixed window of `windowSeconds`. A client is an IPv4 address or an IPv6 /64 (one host usually
 * holds a whole /64, so counting single IPv6 addresses would hand it 2^64 budgets). Memory stays
 * bounded: the table is an LRU of at most `maxClients` entries, so a flood of new addresses evicts
 * the least recently seen ones instead of locking every newcomer out.
 */
import net from 'node:net';

export interface RateLimitOptions {
  windowSeconds: number;
  max: number;
  /** Upper bound of tracked clients. */
  maxClients?: number;
  now?: () => number;
}

export interface RateDecision {
  allowed: boolean;
  /** Seconds until the window resets (for Retry-After). */
  retryAfter: number;
}

export class RateLimiter {
  private readonly windowMs: number;
  private readonly max: number;
  private readonly maxClients: number;
  private readonly now: () => number;
  /** Map iteration order is insertion order: re-inserting on each hit keeps the least recently seen first. */
  private readonly windows = new Map<string, { count: number; resetAt: number }>();

  constructor(options: RateLimitOptions) {
    this.windowMs = options.windowSeconds * 1000;
    this.max = options.max;
    this.maxClients = Math.max(1, options.maxClients ?? 100_000);
    this.now = options.now ?? Date.now;
  }

  take(ip: string): RateDecision {
    const now = this.now();
    const key = clientKey(ip);
    let entry = this.windows.get(key);
    if (entry) this.windows.delete(key);
    if (!entry || entry.resetAt <= now) entry = { count: 0, resetAt: now + this.windowMs };
    while (this.windows.size >= this.maxClients) this.windows.delete(this.windows.keys().next().value!);
    this.windows.set(key, entry);
    entry.count += 1;
    const retryAfter = Math.max(1, Math.ceil((entry.resetAt - now) / 1000));
    return { allowed: entry.count <= this.max, retryAfter };
  }

  /** Clients tracked now (for tests and diagnostics). */
  get size(): number {
    return this.windows.size;
  }
}

/** The unit a limit applies to: an IPv4 address (also when IPv4-mapped), or an IPv6 address's /64. */
export function clientKey(ip: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped) return mapped[1]!;
  if (net.isIPv6(ip)) return `${expandIPv6(ip).slice(0, 4).join(':')}::/64`;
  return ip;
}

/** The eight hextets of an IPv6 address, without zone id, each without leading zeros. */
function expandIPv6(ip: string): string[] {
  const address = ip.split('%')[0]!;
  const [head, tail] = address.includes('::') ? address.split('::') : [address, undefined];
  const parts = (text: string | undefined) => (text ? text.split(':') : []);
  const left = parts(head);
  const right = parts(tail);
  // An embedded IPv4 tail (::1.2.3.4) counts as two hextets; only the first four matter here.
  const width = (list: string[]) => list.reduce((n, p) => n + (p.includes('.') ? 2 : 1), 0);
  const middle = tail === undefined ? [] : Array<string>(Math.max(0, 8 - width(left) - width(right))).fill('0');
  return [...left, ...middle, ...right].map((h) => (h.includes('.') ? h : (parseInt(h, 16) || 0).toString(16)));
}
