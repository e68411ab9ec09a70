/**
 * The deliveries one process has claimed and not yet answered. A send's pending deliveries are
 * claimed a chunk at a time under a lease (their next attempt moved to the lease's end), so every
 * process working on the send, on any host, takes a share and none takes another's; the lease is
 * renewed while the process works, so a long chunk is not taken over while its worker is alive,
 * and released (due again at once) when the process stops early. A worker that dies keeps its
 * chunk only until the lease runs out.
 *
 * All of a process's chunks carry one lease end, moved forward at each renewal; the lead of a send
 * uses its notification lease's own end, so whoever takes over from a lead known to be dead can
 * release its chunks at once (releaseClaims). A claim whose answer was lost with its connection
 * (the store ran it again and claimed another chunk) left rows carrying one of this process's
 * lease ends that it does not hold: releaseOrphans gives those back once it holds nothing.
 */
import type { PendingDelivery } from '../store/store.js';
import type { Context } from './context.js';

export class ClaimedChunks {
  /** Subscription id -> the lease its row carries (what a renewal must match). */
  private readonly held = new Map<number, number>();
  /** Every lease end this process's rows may carry. */
  private readonly leaseEnds = new Set<number>();
  private leaseEnd = 0;

  constructor(
    private readonly ctx: Context,
    private readonly notificationId: number,
    private readonly leaseMs: number,
  ) {}

  /** The next chunk of due deliveries, now this process's until the lease runs out. */
  async claim(limit: number): Promise<PendingDelivery[]> {
    const now = this.ctx.now();
    // A lease end that renewals have not moved for a while is not used: a claim never gets a short lease.
    if (this.leaseEnd <= now + Math.min(1_000, this.leaseMs / 2)) this.leaseEnd = now + this.leaseMs;
    const until = this.leaseEnd;
    this.leaseEnds.add(until);
    const rows = await this.ctx.store.claimDeliveries({ notificationId: this.notificationId, now, leaseMs: until - now, limit });
    for (const row of rows) this.held.set(row.subscription_id, until);
    return rows;
  }

  /** The answer for this delivery is committed: it is no longer held (a retry is due at its own time). */
  answered(subscriptionId: number): void {
    this.held.delete(subscriptionId);
  }

  get size(): number {
    return this.held.size;
  }

  /** Moves the lease of every delivery held, and of those claimed from now on, to `until`. */
  async renew(until: number): Promise<void> {
    this.leaseEnd = until;
    this.leaseEnds.add(until);
    await this.moveLeases(until);
  }

  /** Gives back what was claimed and not started: due again now, for whoever claims next. */
  async release(): Promise<void> {
    await this.moveLeases(this.ctx.now());
    this.held.clear();
  }

  /** With nothing held: rows still carrying one of this process's lease ends were lost claims; due again now. */
  async releaseOrphans(): Promise<number> {
    if (this.held.size) return 0;
    let released = 0;
    for (const lease of this.leaseEnds) released += await this.ctx.store.releaseClaims(this.notificationId, lease, this.ctx.now());
    this.leaseEnds.clear();
    return released;
  }

  private async moveLeases(to: number): Promise<void> {
    const byLease = new Map<number, number[]>();
    for (const [subscriptionId, lease] of this.held) {
      if (lease === to) continue;
      const ids = byLease.get(lease);
      if (ids) ids.push(subscriptionId);
      else byLease.set(lease, [subscriptionId]);
    }
    for (const [from, ids] of byLease) {
      await this.ctx.store.renewClaims(this.notificationId, ids, from, to);
      // Answered meanwhile: gone from `held` already, and the renewal skipped its row.
      for (const id of ids) if (this.held.has(id)) this.held.set(id, to);
    }
  }
}
