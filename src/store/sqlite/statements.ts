/**
 * SQLite statements the async store adds to the ones in src/store/*.ts (which the current core
 * still calls directly): keyset pages for streaming, chunked delivery claims, counts. Prepared
 * once per connection.
 */
import type Database from 'better-sqlite3';
import type { Db } from '../db.js';
import { tableCountsSql } from '../paging.js';
import { TABLES } from '../store.js';
import { detailSelect } from '../subscriptions.js';

const DETAIL = detailSelect;

const SQL = {
  subscriptionDetailPage: `${DETAIL} WHERE s.id > @after ORDER BY s.id LIMIT @limit`,
  subscriptionDetailPageInCategory: `${DETAIL}
    WHERE s.id > @after AND s.id IN (SELECT subscription_id FROM subscription_categories WHERE category_id = @categoryId)
    ORDER BY s.id LIMIT @limit`,
  // The lowest due pending rows; a claim makes them not due (next_attempt_at = lease end).
  // expired: 1 when the subscription's expirationTime has passed since the recipient list was fixed.
  dueDeliveries: `
    SELECT d.subscription_id, d.attempts, s.endpoint, s.p256dh, s.auth, s.key_id, coalesce(s.expiration_time <= @now, 0) AS expired
    FROM deliveries d LEFT JOIN subscriptions s ON s.id = d.subscription_id
    WHERE d.notification_id = @id AND d.state = 'pending' AND (d.next_attempt_at IS NULL OR d.next_attempt_at <= @now)
    ORDER BY d.subscription_id LIMIT @limit`,
  // One statement per chunk (the ids as a JSON array): a statement per row was 2.6% of a send's main-thread CPU.
  leaseDeliveries: `UPDATE deliveries SET next_attempt_at = ? WHERE notification_id = ? AND subscription_id IN (SELECT value FROM json_each(?))`,
  /** Occurrences of a rule that are being sent by a live lease holder. */
  liveOccurrences: `SELECT id FROM notifications WHERE parent_id = ? AND status = 'sending' AND lease_owner IS NOT NULL AND lease_expires_at > ?`,
  tableCounts: tableCountsSql(TABLES),

  // ---- shared sends (issue 11) ----
  // Rows this worker still holds: pending, and still carrying the lease it claimed them with.
  renewClaims: `
    UPDATE deliveries SET next_attempt_at = @toLease
    WHERE notification_id = @id AND subscription_id IN (SELECT value FROM json_each(@ids)) AND state = 'pending' AND next_attempt_at = @fromLease`,
  releaseClaims: `UPDATE deliveries SET next_attempt_at = @now WHERE notification_id = @id AND state = 'pending' AND next_attempt_at = @lease`,
  joinableSends: `
    SELECT n.id FROM notifications n
    WHERE n.status = 'sending' AND n.started_at IS NOT NULL AND n.cron IS NULL
      -- A throttled send is shared through its pace cursor (claimPaced), never by plain chunks.
      AND n.rate IS NULL
      AND n.lease_owner IS NOT NULL AND n.lease_owner <> @owner AND n.lease_expires_at > @now
      AND EXISTS (SELECT 1 FROM deliveries d WHERE d.notification_id = n.id AND d.state = 'pending'
                  AND (d.next_attempt_at IS NULL OR d.next_attempt_at <= @now))
      -- The lead has begun sending (an answer is recorded), so caps and quiet hours are applied.
      AND EXISTS (SELECT 1 FROM deliveries d WHERE d.notification_id = n.id AND d.state IN ('sent', 'gone', 'failed'))
    ORDER BY n.id LIMIT @limit`,
} as const;

export type StatementName = keyof typeof SQL;

/**
 * Copying whole tables (db copy): the first keyset page and the ones after a key, in key order
 * (no sentinel key: text keys have no value below them all), and a plain insert of a row as it is.
 */
export function tableStatements(db: Db, table: { name: string; key: string[]; columns: string[] }) {
  const key = table.key.join(', ');
  const after = table.key.map(() => '?').join(', ');
  return {
    first: db.prepare(`SELECT ${table.columns.join(', ')} FROM ${table.name} ORDER BY ${key} LIMIT ?`),
    page: db.prepare(`SELECT ${table.columns.join(', ')} FROM ${table.name} WHERE (${key}) > (${after}) ORDER BY ${key} LIMIT ?`),
    insert: db.prepare(`INSERT INTO ${table.name} (${table.columns.join(', ')}) VALUES (${table.columns.map((c) => `@${c}`).join(', ')})`),
  };
}

export type Statements = Record<StatementName, Database.Statement<unknown[]>>;

/**
 * Each statement is prepared on first use, then kept: preparing them all at open cost ~0.5 ms of
 * every command's start (a short one like `subscriptions count` uses none of them).
 */
export function prepareStatements(db: Db): Statements {
  const prepared = {} as Statements;
  for (const name of Object.keys(SQL) as StatementName[]) {
    Object.defineProperty(prepared, name, {
      configurable: true,
      enumerable: true,
      get() {
        const statement = db.prepare(SQL[name]);
        Object.defineProperty(prepared, name, { value: statement, enumerable: true });
        return statement;
      },
    });
  }
  return prepared;
}
