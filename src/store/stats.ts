/**
 * SQL for the numbers an operator alerts on (metrics gauges, readiness). Every query walks an
 * index, so a scrape stays cheap however large the ledger grows.
 */
import type { Db } from './db.js';

export function pingStore(db: Db): void {
  db.prepare('SELECT 1').get();
}

export function notificationsByStatus(db: Db): { status: string; n: number }[] {
  return db.prepare('SELECT status, count(*) AS n FROM notifications GROUP BY status ORDER BY status').all() as { status: string; n: number }[];
}

/** Scheduled notifications whose time has come but that no one has started yet. */
export function overdueNotifications(db: Db, now: number): number {
  return (db.prepare("SELECT count(*) AS n FROM notifications WHERE status = 'scheduled' AND cron IS NULL AND (send_at IS NULL OR send_at <= ?)").get(now) as { n: number }).n;
}

/** Pending deliveries of notifications being sent: due now, or waiting for a later attempt. */
export function pendingDeliveries(db: Db, now: number): { due: number; deferred: number } {
  const row = db
    .prepare(
      `SELECT coalesce(sum(d.next_attempt_at IS NULL OR d.next_attempt_at <= @now), 0) AS due,
              coalesce(sum(d.next_attempt_at > @now), 0) AS deferred
       FROM notifications n JOIN deliveries d ON d.notification_id = n.id AND d.state = 'pending'
       WHERE n.status = 'sending'`,
    )
    .get({ now }) as { due: number; deferred: number };
  return row;
}

export function subscriptionCount(db: Db): number {
  return (db.prepare('SELECT count(*) AS n FROM subscriptions').get() as { n: number }).n;
}

export function subscriptionsByCategory(db: Db): { name: string; n: number }[] {
  return db
    .prepare('SELECT c.name, (SELECT count(*) FROM subscription_categories sc WHERE sc.category_id = c.id) AS n FROM categories c ORDER BY c.id')
    .all() as { name: string; n: number }[];
}
