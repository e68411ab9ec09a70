/**
 * The public-write rate limit as a table: bounded by least-recent eviction, keyed by IPv4 address
 * or IPv6 /64.
 */
import { describe, expect, it } from 'vitest';
import { clientKey, RateLimiter } from '../src/http/rate-limit.js';

describe('rate limiter', () => {
  it('a full table evicts the least recently seen client: a new visitor is never refused on its first request', () => {
    let now = 0;
    const limiter = new RateLimiter({ windowSeconds: 60, max: 2, maxClients: 3, now: () => now });
    for (const ip of ['10.0.0.1', '10.0.0.2', '10.0.0.3']) expect(limiter.take(ip).allowed).toBe(true);
    // 10.0.0.1 seen again: it becomes the most recent, and keeps its count.
    expect(limiter.take('10.0.0.1').allowed).toBe(true);
    // Many newcomers after the table is full: each one gets its own budget.
    for (let i = 10; i < 1000; i++) expect(limiter.take(`10.1.${i >> 8}.${i & 255}`).allowed).toBe(true);
    expect(limiter.size).toBe(3);
    now += 1000;
    // A client that keeps coming back is still limited while the flood goes on around it.
    const busy = new RateLimiter({ windowSeconds: 60, max: 2, maxClients: 3, now: () => now });
    expect(busy.take('192.0.2.1').allowed).toBe(true);
    busy.take('192.0.2.50');
    expect(busy.take('192.0.2.1').allowed).toBe(true);
    busy.take('192.0.2.51');
    expect(busy.take('192.0.2.1')).toEqual({ allowed: false, retryAfter: 60 });
  });

  it('counts an IPv6 client by its /64, and an IPv4-mapped address as IPv4', () => {
    const limiter = new RateLimiter({ windowSeconds: 60, max: 3, now: () => 0 });
    const hosts = ['2001:db8:1:2::1', '2001:db8:1:2:ffff:ffff:ffff:ffff', '2001:0db8:0001:0002:0:0:0:abcd', '2001:db8:1:2::dead:beef'];
    expect(hosts.map((ip) => limiter.take(ip).allowed)).toEqual([true, true, true, false]);
    expect(limiter.take('2001:db8:1:3::1').allowed).toBe(true);
    expect(clientKey('::ffff:192.0.2.7')).toBe('192.0.2.7');
    expect(clientKey('::1')).toBe('0:0:0:0::/64');
    expect(clientKey('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
    expect(clientKey('2001:db8::')).toBe('2001:db8:0:0::/64');
  });
});
