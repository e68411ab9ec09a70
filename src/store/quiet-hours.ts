/** SQL for quiet hours: which zones a notification's waiting recipients are in, and deferring them. */
import type { Db } from './db.js';
import { inPendingRanges } from './pending-ranges.js';

/** name -> quiet hours text for those of these categories that have their own, in name order. */
export function categoryQuietHours(db: Db, names: readonly string[]): [string, string][] {
  const rows = db
    .prepare(`SELECT name, quiet_hours FROM categories WHERE quiet_hours IS NOT NULL AND name IN (${names.map(() => '?').join(', ')}) ORDER BY name`)
    .all(...names) as { name: string; quiet_hours: string }[];
  return rows.map((r) => [r.name, r.quiet_hours]);
}

export function setCategoryQuietHours(db: Db, id: number, text: string | null): void {
  db.prepare('UPDATE categories SET quiet_hours = ? WHERE id = ?').run(text, id);
}

/** The distinct subscriber zones (null: unknown) among a notification's untried pending deliveries. */
export function pendingZones(db: Db, id: number): (string | null)[] {
  return (
    db
      .prepare(
        `SELECT DISTINCT s.time_zone AS zone FROM deliveries d JOIN subscriptions s ON s.id = d.subscription_id
         WHERE d.notification_id = ? AND d.state = 'pending' AND d.attempts = 0`,
      )
      .all(id) as { zone: string | null }[]
  ).map((r) => r.zone);
}

/**
 * Moves the untried pending deliveries of subscribers in the given zones (null: unknown zone) to
 * that zone's `until`, with its reason; returns how many. One pass over the notification's
 * deliveries (a lookup per row in a map of zones, so hundreds of zones cost no more than one),
 * one range of subscription ids per transaction.
 */
export function deferZones(db: Db, id: number, zones: ReadonlyMap<string | null, { until: number; reason: string }>): number {
  if (!zones.size) return 0;
  const rows = db.prepare(
    `SELECT d.subscription_id AS id, s.time_zone AS zone, d.next_attempt_at AS next FROM deliveries d JOIN subscriptions s ON s.id = d.subscription_id
     WHERE d.notification_id = ? AND d.state = 'pending' AND d.attempts = 0 AND d.subscription_id BETWEEN ? AND ?`,
  );
  const defer = db.prepare('UPDATE deliveries SET next_attempt_at = ?, error = ? WHERE notification_id = ? AND subscription_id = ?');
  return inPendingRanges(db, id, (lo, hi) => {
    let changed = 0;
    for (const row of rows.all(id, lo, hi) as { id: number; zone: string | null; next: number | null }[]) {
      const quiet = zones.get(row.zone);
      if (!quiet || (row.next !== null && row.next >= quiet.until)) continue;
      changed += defer.run(quiet.until, quiet.reason, id, row.id).changes;
    }
    return changed;
  });
}

export function deferredSummary(db: Db, id: number, reasonLike: string): { count: number; until: number | null } {
  return db
    .prepare(
      `SELECT count(*) AS count, min(next_attempt_at) AS until FROM deliveries
       WHERE notification_id = ? AND state = 'pending' AND attempts = 0 AND error LIKE ?`,
    )
    .get(id, reasonLike) as { count: number; until: number | null };
}
