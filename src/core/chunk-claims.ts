/**
 * The deliveries one process has claimed and not yet answered. A send's pending deliveries are
 * claimed a chunk at a time under a lease (their next attempt moved to the lease's end), so every
 * process working on the send, on any host, takes a share and none takes another's; the lease is
 * renewed while the process works, so a long chunk is not taken over while its worker is alive,
 * and released (due again at once) when the process stops early. A worker that dies keeps its
 * chunk only until the lease runs out.
 *
 * All of a process's chunks carry one lease end, moved forward at each renewal. The lead of a send
 * uses its notification lease's own end, always an even number of ms, and joiners odd ones: whoever
 * takes over from a lead known to be dead can release the lead's chunks at once (releaseClaims on
 * that lease end) without touching any joiner's. (A claim whose answer was lost with its
 * connection, and which the store therefore ran again, leaves its rows to come back when their
 * lease runs out.)
 */
import type { PendingDelivery } from '../store/store.js';
import type { Context } from './context.js';

export class ClaimedChunks {
  /** Subscription id -> the lease its row carries (what a renewal must match). */
  private readonly held = new Map<number, number>();
  private leaseEnd = 0;

  constructor(
    private readonly ctx: Context,
    private readonly notificationId: number,
    private readonly leaseMs: number,
    /** 0: the lead's lease ends (even ms); 1: a joiner's (odd). */
    private readonly parity: 0 | 1,
  ) {}

  /** A lease end of this process's parity, `leaseMs` or 1 ms less from `now`. */
  leaseEndFrom(now: number): number {
    const end = now + this.leaseMs;
    return end % 2 === this.parity ? end : end - 1;
  }

  /** The next chunk of due deliveries, now this process's until the lease runs out. */
  async claim(limit: number): Promise<PendingDelivery[]> {
    const now = this.ctx.now();
    // A lease end that renewals have not moved for a while is not used: a claim never gets a short lease.
    if (this.leaseEnd <= now + Math.min(1_000, this.leaseMs / 2)) this.leaseEnd = this.leaseEndFrom(now);
    const until = this.leaseEnd;
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

  /** Moves the lease of every delivery held, and of those claimed from now on, to `until` (from leaseEndFrom). */
  async renew(until: number): Promise<void> {
    this.leaseEnd = until;
    await this.moveLeases(until);
  }

  /** Gives back what was claimed and not started: due again now, for whoever claims next. */
  async release(): Promise<void> {
    await this.moveLeases(this.ctx.now());
    this.held.clear();
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
