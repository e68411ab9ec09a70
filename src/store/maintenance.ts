/**
 * SQL for housekeeping: the record of daily runs (so overlapping dispatchers and cron runs do a
 * task once), expired subscriptions, and the per-delivery rows of old finished notifications.
 */
import type { Db } from './db.js';
import { deliveryCounts, storeCounts } from './notifications.js';

/** When a task last ran (ms), or null when never. */
export function lastRun(db: Db, task: string): number | null {
  const row = db.prepare('SELECT last_run_at FROM maintenance_runs WHERE task = ?').get(task) as { last_run_at: number } | undefined;
  return row ? row.last_run_at : null;
}

/**
 * Claims today's run of a task: true for exactly one caller per `everyMs`, however many
 * dispatchers ask at once (one statement under the write lock decides).
 */
export function claimRun(db: Db, task: string, now: number, everyMs: number): boolean {
  return (
    db
      .prepare(
        `INSERT INTO maintenance_runs (task, last_run_at) VALUES (@task, @now)
         ON CONFLICT (task) DO UPDATE SET last_run_at = excluded.last_run_at
         WHERE maintenance_runs.last_run_at <= excluded.last_run_at - @everyMs`,
      )
      .run({ task, now, everyMs }).changes > 0
  );
}

/** Finished notifications (not recurring rules) finished before `before` that still have delivery rows. */
function historyWhere(): string {
  return `n.status IN ('sent', 'partial', 'failed', 'cancelled', 'skipped') AND n.cron IS NULL
          AND n.finished_at IS NOT NULL AND n.finished_at < @before
          AND EXISTS (SELECT 1 FROM deliveries d WHERE d.notification_id = n.id)`;
}

export function prunableHistory(db: Db, before: number): { notifications: number; deliveries: number } {
  return db
    .prepare(
      `SELECT count(*) AS notifications,
              coalesce(sum((SELECT count(*) FROM deliveries d WHERE d.notification_id = n.id)), 0) AS deliveries
       FROM notifications n WHERE ${historyWhere()}`,
    )
    .get({ before }) as { notifications: number; deliveries: number };
}

export function prunableHistoryIds(db: Db, before: number, limit: number): number[] {
  return (db.prepare(`SELECT n.id FROM notifications n WHERE ${historyWhere()} ORDER BY n.id LIMIT @limit`).all({ before, limit }) as { id: number }[]).map((r) => r.id);
}

/**
 * Drops one notification's delivery rows, first storing its counts from them on the notification
 * row (a send cancelled by someone else, or stopped by a crash, may not have stored them), so
 * `notifications show/list` still say what happened. Returns the rows dropped.
 */
export function pruneLedger(db: Db, id: number, now: number): number {
  return db
    .transaction(() => {
      storeCounts(db, id, deliveryCounts(db, id));
      db.prepare('UPDATE notifications SET ledger_pruned_at = ? WHERE id = ?').run(now, id);
      return db.prepare('DELETE FROM deliveries WHERE notification_id = ?').run(id).changes;
    })
    .immediate();
}
