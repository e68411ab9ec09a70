/** SQL for quiet hours: which zones a notification's waiting recipients are in, and deferring them. */
import type { Db } from './db.js';

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

/** Moves the untried pending deliveries of subscribers in `zone` to `until`; returns how many. */
export function deferZone(db: Db, id: number, zone: string | null, until: number, reason: string): number {
  return db
    .prepare(
      `UPDATE deliveries SET next_attempt_at = @until, error = @reason
       WHERE notification_id = @id AND state = 'pending' AND attempts = 0
         AND (next_attempt_at IS NULL OR next_attempt_at < @until)
         AND subscription_id IN (SELECT id FROM subscriptions WHERE time_zone IS @zone)`,
    )
    .run({ id, zone, until, reason }).changes;
}

export function deferredSummary(db: Db, id: number, reasonLike: string): { count: number; until: number | null } {
  return db
    .prepare(
      `SELECT count(*) AS count, min(next_attempt_at) AS until FROM deliveries
       WHERE notification_id = ? AND state = 'pending' AND attempts = 0 AND error LIKE ?`,
    )
    .get(id, reasonLike) as { count: number; until: number | null };
}
