/**
 * SQL for the dispatcher: claiming due work under a lease, materialising the occurrences of
 * recurring rules, and finding when there will next be something to do. Every claim is one
 * UPDATE ... RETURNING statement, which SQLite runs under the write lock from its first step,
 * so two dispatchers can never both see the same row as free.
 */
import type { Db } from './db.js';
import type { NotificationRow } from './notifications.js';

/** An interrupted send is ready when its lease is gone and it has work that is due now (or only needs finishing). */
const ORPHAN_READY = `
  n.status = 'sending'
  AND (n.lease_owner IS NULL OR n.lease_expires_at IS NULL OR n.lease_expires_at <= @now)
  AND (n.started_at IS NULL
       OR NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.notification_id = n.id AND d.state = 'pending')
       OR EXISTS (SELECT 1 FROM deliveries d WHERE d.notification_id = n.id AND d.state = 'pending'
                  AND (d.next_attempt_at IS NULL OR d.next_attempt_at <= @now)))`;

/**
 * Takes the lease on the next due notification (a scheduled one whose time has come, or an
 * interrupted send whose lease expired) and marks it sending. `exclude` keeps one run from
 * taking the same notification twice (a send that deferred its retries).
 */
export function claimNext(db: Db, owner: string, now: number, leaseMs: number, exclude: number[]): NotificationRow | undefined {
  return db
    .prepare(
      `UPDATE notifications SET status = 'sending', lease_owner = @owner, lease_expires_at = @until
       WHERE id = (
         SELECT n.id FROM notifications n
         WHERE n.cron IS NULL
           AND n.id NOT IN (SELECT value FROM json_each(@exclude))
           AND ((n.status = 'scheduled' AND coalesce(n.send_at, 0) <= @now) OR (${ORPHAN_READY}))
         ORDER BY coalesce(n.send_at, 0), n.id
         LIMIT 1)
       RETURNING *`,
    )
    .get({ owner, now, until: now + leaseMs, exclude: JSON.stringify(exclude) }) as NotificationRow | undefined;
}

/** Marks a claimed notification skipped (too late to send) and lets go of it. */
export function markSkipped(db: Db, id: number, owner: string, error: string, now: number): boolean {
  return (
    db
      .prepare(
        `UPDATE notifications SET status = 'skipped', error = ?, finished_at = ?, lease_owner = NULL, lease_expires_at = NULL
         WHERE id = ? AND lease_owner = ? AND status = 'sending'`,
      )
      .run(error, now, id, owner).changes > 0
  );
}

/** Recurring rules (template rows) whose next slot has come. */
export function dueTemplates(db: Db, now: number): NotificationRow[] {
  return db
    .prepare(`SELECT * FROM notifications WHERE status = 'scheduled' AND cron IS NOT NULL AND send_at <= ? ORDER BY send_at, id`)
    .all(now) as NotificationRow[];
}

/**
 * Creates the occurrence of a rule for one time slot, copying content and delivery options.
 * INSERT OR IGNORE on the unique (parent_id, slot_at) index: a slot is materialised at most
 * once, whoever gets there first. Returns the new id, or null when the slot already existed.
 */
export function insertOccurrence(
  db: Db,
  occurrence: { parentId: number; slotAt: number; status: 'scheduled' | 'skipped'; error: string | null; now: number },
): number | null {
  const info = db
    .prepare(
      `INSERT OR IGNORE INTO notifications
         (payload, target, ttl, urgency, topic, status, send_at, tz, stale_after_ms, parent_id, slot_at, created_at, error, finished_at, tracking, urgent,
          local_time, rate)
       SELECT payload, target, ttl, urgency, topic, @status, @slotAt, tz, stale_after_ms, id, @slotAt, @now, @error,
              CASE WHEN @status = 'skipped' THEN @now END, tracking, urgent, local_time, rate
       FROM notifications WHERE id = @parentId`,
    )
    .run(occurrence);
  return info.changes > 0 ? Number(info.lastInsertRowid) : null;
}

/** Moves a rule on to its next slot (or ends it), only if no one else has moved it already. */
export function advanceTemplate(
  db: Db,
  id: number,
  fromSlot: number,
  next: { sendAt: number; remaining: number | null } | { finishedAt: number; remaining: number | null },
): boolean {
  if ('sendAt' in next) {
    return (
      db
        .prepare(`UPDATE notifications SET send_at = ?, remaining_count = ? WHERE id = ? AND send_at = ? AND status = 'scheduled'`)
        .run(next.sendAt, next.remaining, id, fromSlot).changes > 0
    );
  }
  return (
    db
      .prepare(`UPDATE notifications SET status = 'sent', finished_at = ?, remaining_count = ? WHERE id = ? AND send_at = ? AND status = 'scheduled'`)
      .run(next.finishedAt, next.remaining, id, fromSlot).changes > 0
  );
}

/** When the dispatcher next has something to do: a due time, an expiring lease, or a deferred retry. */
export function nextWorkAt(db: Db): number | null {
  const row = db
    .prepare(
      `SELECT min(t) AS t FROM (
         SELECT min(send_at) AS t FROM notifications WHERE status = 'scheduled'
         UNION ALL
         SELECT min(max(coalesce(n.lease_expires_at, 0),
                        CASE WHEN n.started_at IS NULL THEN 0
                             ELSE coalesce((SELECT min(coalesce(d.next_attempt_at, 0)) FROM deliveries d
                                            WHERE d.notification_id = n.id AND d.state = 'pending'), 0) END))
           FROM notifications n WHERE n.status = 'sending'
       )`,
    )
    .get() as { t: number | null };
  return row.t;
}

/**
 * Sends that nobody is working on whose pending deliveries all wait for a retry time still to
 * come (a push service's Retry-After, or a backoff), with how many wait and when the first is due.
 */
export function deferredSends(db: Db, now: number): { id: number; deliveries: number; dueAt: number }[] {
  return db
    .prepare(
      `SELECT n.id AS id, count(*) AS deliveries, min(d.next_attempt_at) AS dueAt
       FROM notifications n JOIN deliveries d ON d.notification_id = n.id AND d.state = 'pending'
       WHERE n.status = 'sending' AND (n.lease_owner IS NULL OR n.lease_expires_at IS NULL OR n.lease_expires_at <= @now)
       GROUP BY n.id
       HAVING min(coalesce(d.next_attempt_at, 0)) > @now
       ORDER BY dueAt, n.id`,
    )
    .all({ now }) as { id: number; deliveries: number; dueAt: number }[];
}

/** The occurrences a rule has produced, newest slot first. */
export function occurrenceRows(db: Db, parentId: number, limit: number): NotificationRow[] {
  return db.prepare('SELECT * FROM notifications WHERE parent_id = ? ORDER BY slot_at DESC LIMIT ?').all(parentId, limit) as NotificationRow[];
}

export function occurrenceCount(db: Db, parentId: number): number {
  return (db.prepare('SELECT count(*) AS n FROM notifications WHERE parent_id = ?').get(parentId) as { n: number }).n;
}

/** Cancels the occurrences of a rule that have not started; returns how many. */
export function cancelScheduledOccurrences(db: Db, parentId: number, now: number): number {
  return db
    .prepare(`UPDATE notifications SET status = 'cancelled', finished_at = ? WHERE parent_id = ? AND status = 'scheduled'`)
    .run(now, parentId).changes;
}

export function deleteOccurrences(db: Db, parentId: number): number {
  return db.prepare('DELETE FROM notifications WHERE parent_id = ?').run(parentId).changes;
}

/**
 * Reopens a failed or partial send that still has pending deliveries (e.g. stopped by a VAPID
 * key problem the operator has since fixed), so it can be resumed.
 */
export function reopenForResume(db: Db, id: number): boolean {
  return (
    db
      .prepare(
        `UPDATE notifications SET status = 'sending', finished_at = NULL
         WHERE id = ? AND status IN ('failed', 'partial')
           AND EXISTS (SELECT 1 FROM deliveries d WHERE d.notification_id = notifications.id AND d.state = 'pending')`,
      )
      .run(id).changes > 0
  );
}

/** Gives each occurrence its own Topic when the rule's was the automatic one. */
export function setTopicIf(db: Db, id: number, from: string, to: string): void {
  db.prepare('UPDATE notifications SET topic = ? WHERE id = ? AND topic = ?').run(to, id, from);
}
