/**
 * Bulk changes to one notification's pending deliveries (caps, quiet hours), one range of
 * subscription ids per write transaction: a million-recipient send never holds the write lock for
 * long, so the receiver and other dispatchers keep going. Each step is idempotent, so a crash
 * between ranges leaves nothing half-done that a rerun would not finish.
 */
import type { Db } from './db.js';

const CHUNK = 5_000;

/** Calls `step(lo, hi)` inside an IMMEDIATE transaction per range; returns the sum of its results. */
export function inPendingRanges(db: Db, id: number, step: (lo: number, hi: number) => number): number {
  const nextRange = db.prepare(
    `SELECT min(subscription_id) AS lo, max(subscription_id) AS hi FROM (
       SELECT subscription_id FROM deliveries WHERE notification_id = ? AND state = 'pending' AND subscription_id > ?
       ORDER BY subscription_id LIMIT ${CHUNK})`,
  );
  const inTransaction = db.transaction(step);
  let total = 0;
  for (let after = 0; ; ) {
    const range = nextRange.get(id, after) as { lo: number | null; hi: number | null };
    if (range.lo === null || range.hi === null) break;
    total += inTransaction.immediate(range.lo, range.hi);
    after = range.hi;
  }
  return total;
}
