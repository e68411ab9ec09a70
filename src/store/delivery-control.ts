/**
 * SQL for delivery control (migration 6), SQLite side: stale-key marks, throttled claims that
 * hand out start slots from the notification's pace cursor, and what a send's pending deliveries
 * wait for. PostgreSQL's statements mirror these in postgres/statements.ts.
 */
import type { Db } from './db.js';
import type { PendingDelivery } from './notifications.js';

/** A claimed delivery of a throttled send, with the instant it may start (its slot). */
export interface PacedDelivery extends PendingDelivery {
  slot_at: number;
}

export interface PacedClaim {
  notificationId: number;
  now: number;
  /** Start slots are this far apart (ms, may be fractional: slot i is start + ceil(i * interval)). */
  intervalMs: number;
  /** Slots are handed out at most this far ahead of now (a dead worker wastes at most these). */
  horizonMs: number;
  /** The claimed rows are not due again until their slot plus this. */
  leaseMs: number;
  /** At most this many rows (the worker's free request slots). */
  limit: number;
}

export interface PacedClaimResult {
  rows: PacedDelivery[];
  /** The pace cursor after this claim: the next free slot. */
  pacedUntil: number;
}

/**
 * Claims due pending deliveries of a throttled send and gives each the next free start slot,
 * moving the cursor on, in one IMMEDIATE transaction: whichever process claims, no two rows ever
 * share a slot, and the slots are `intervalMs` apart. Slots left unused (a dead worker's) are
 * never handed out again: a crash makes the send slower, never faster.
 */
export function claimPaced(db: Db, claim: PacedClaim): PacedClaimResult {
  return db
    .transaction((): PacedClaimResult => {
      const row = db.prepare('SELECT paced_until FROM notifications WHERE id = ?').get(claim.notificationId) as { paced_until: number | null } | undefined;
      const start = Math.max(row?.paced_until ?? claim.now, claim.now);
      const room = start > claim.now + claim.horizonMs ? 0 : Math.floor((claim.now + claim.horizonMs - start) / claim.intervalMs) + 1;
      const limit = Math.min(room, claim.limit);
      if (limit <= 0) return { rows: [], pacedUntil: start };
      const rows = db
        .prepare(
          `SELECT d.subscription_id, d.attempts, s.endpoint, s.p256dh, s.auth, s.key_id, coalesce(s.expiration_time <= @now, 0) AS expired
           FROM deliveries d LEFT JOIN subscriptions s ON s.id = d.subscription_id
           WHERE d.notification_id = @id AND d.state = 'pending' AND (d.next_attempt_at IS NULL OR d.next_attempt_at <= @now)
           ORDER BY d.subscription_id LIMIT @limit`,
        )
        .all({ id: claim.notificationId, now: claim.now, limit }) as PacedDelivery[];
      const lease = db.prepare('UPDATE deliveries SET next_attempt_at = ? WHERE notification_id = ? AND subscription_id = ?');
      rows.forEach((r, i) => {
        r.slot_at = start + Math.ceil(i * claim.intervalMs);
        lease.run(r.slot_at + claim.leaseMs, claim.notificationId, r.subscription_id);
      });
      const pacedUntil = start + Math.ceil(rows.length * claim.intervalMs);
      if (rows.length) db.prepare('UPDATE notifications SET paced_until = ? WHERE id = ?').run(pacedUntil, claim.notificationId);
      return { rows, pacedUntil };
    })
    .immediate();
}

/** Gives claimed, still pending deliveries back (due at `now`): a worker too late for their slots. */
export function giveBackClaims(db: Db, notificationId: number, subscriptionIds: readonly number[], now: number): number {
  if (!subscriptionIds.length) return 0;
  return db
    .prepare(
      `UPDATE deliveries SET next_attempt_at = ? WHERE notification_id = ? AND state = 'pending'
         AND subscription_id IN (SELECT value FROM json_each(?))`,
    )
    .run(now, notificationId, JSON.stringify(subscriptionIds)).changes;
}

/** Marks subscriptions as refused for their VAPID key (stale-key); returns how many changed. */
export function markStaleKeys(db: Db, subscriptionIds: readonly number[], now: number): number {
  if (!subscriptionIds.length) return 0;
  return db
    .prepare('UPDATE subscriptions SET stale_key_at = ? WHERE stale_key_at IS NULL AND id IN (SELECT value FROM json_each(?))')
    .run(now, JSON.stringify(subscriptionIds)).changes;
}

/** A send's pending deliveries grouped by the time they are due (null: now) and zone, earliest first, zones in byte order, none last. */
export function pendingByDueTime(db: Db, notificationId: number): { dueAt: number | null; zone: string | null; deliveries: number }[] {
  return db
    .prepare(
      `SELECT d.next_attempt_at AS dueAt, s.time_zone AS zone, count(*) AS deliveries
       FROM deliveries d LEFT JOIN subscriptions s ON s.id = d.subscription_id
       WHERE d.notification_id = ? AND d.state = 'pending'
       GROUP BY d.next_attempt_at, s.time_zone ORDER BY coalesce(d.next_attempt_at, 0), s.time_zone IS NULL, s.time_zone`,
    )
    .all(notificationId) as { dueAt: number | null; zone: string | null; deliveries: number }[];
}

/** The distinct zones (null: none) of the subscriptions a target names now (what --local-time starts from). */
export function zonesOf(db: Db, recipientsSql: { sql: string; params: unknown[] }): (string | null)[] {
  return (
    db.prepare(`SELECT DISTINCT time_zone AS zone FROM subscriptions WHERE id IN (${recipientsSql.sql})`).all(...recipientsSql.params) as { zone: string | null }[]
  ).map((r) => r.zone);
}

/** Throttled sends another process holds (a live lease) with deliveries due now: what a dispatcher can help with. */
export function pacedSendsInProgress(db: Db, now: number): number[] {
  return (
    db
      .prepare(
        `SELECT n.id FROM notifications n
         WHERE n.status = 'sending' AND n.rate IS NOT NULL AND n.lease_owner IS NOT NULL AND n.lease_expires_at > @now
           AND EXISTS (SELECT 1 FROM deliveries d WHERE d.notification_id = n.id AND d.state = 'pending'
                       AND (d.next_attempt_at IS NULL OR d.next_attempt_at <= @now))
         ORDER BY n.id`,
      )
      .all({ now }) as { id: number }[]
  ).map((r) => r.id);
}
