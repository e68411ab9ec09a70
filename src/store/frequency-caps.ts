/** SQL for frequency caps: how many notifications each subscriber received in a window. */
import type { Db } from './db.js';
import { inPendingRanges } from './pending-ranges.js';

/** name -> cap text for those of these categories that have a cap. */
export function categoryCapsByName(db: Db, names: readonly string[]): Map<string, string> {
  if (!names.length) return new Map();
  const rows = db
    .prepare(`SELECT name, frequency_cap FROM categories WHERE frequency_cap IS NOT NULL AND name IN (${names.map(() => '?').join(', ')})`)
    .all(...names) as { name: string; frequency_cap: string }[];
  return new Map(rows.map((r) => [r.name, r.frequency_cap]));
}

export function setCategoryCap(db: Db, id: number, cap: string | null): void {
  db.prepare('UPDATE categories SET frequency_cap = ? WHERE id = ?').run(cap, id);
}

/**
 * For each cap: the pending deliveries of notification `id`, not yet tried, whose subscriber was
 * sent at least `limit` other notifications (to `category`, when given) since `since`, become
 * 'capped'. Only notifications that can have sent in the window are read (finished since then,
 * or still going; CROSS JOIN keeps that order), through the ledger's (notification, state,
 * subscription) index, one range of subscription ids per transaction.
 */
export function capPendingDeliveries(db: Db, id: number, now: number, caps: readonly { limit: number; since: number; category?: string | undefined }[]): number {
  const statements = caps.map((cap) => {
    const inCategory = cap.category === undefined ? '' : `AND EXISTS (SELECT 1 FROM json_each(n2.target, '$.categories') j WHERE j.value = @category)`;
    return db.prepare(
      `UPDATE deliveries SET state = 'capped', updated_at = @now
       WHERE notification_id = @id AND state = 'pending' AND attempts = 0 AND subscription_id BETWEEN @lo AND @hi
         AND subscription_id IN (
           SELECT d2.subscription_id FROM notifications n2 CROSS JOIN deliveries d2 ON d2.notification_id = n2.id
           WHERE n2.id != @id AND n2.started_at IS NOT NULL AND (n2.finished_at IS NULL OR n2.finished_at > @since) ${inCategory}
             AND d2.state = 'sent' AND d2.subscription_id BETWEEN @lo AND @hi AND d2.updated_at > @since
           GROUP BY d2.subscription_id HAVING count(*) >= @limit)`,
    );
  });
  return inPendingRanges(db, id, (lo, hi) => {
    let changed = 0;
    caps.forEach((cap, i) => {
      const params = { id, now, lo, hi, since: cap.since, limit: cap.limit, ...(cap.category === undefined ? {} : { category: cap.category }) };
      changed += statements[i]!.run(params).changes;
    });
    return changed;
  });
}
