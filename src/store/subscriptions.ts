/**
 * SQL for subscriptions. Statements are prepared once per connection: an import writes a million
 * rows through them, and compiling SQL per row would cost more than the insert.
 */
import type Database from 'better-sqlite3';
import type { Db } from './db.js';

export interface SubscriptionRow {
  id: number;
  endpoint: string;
  p256dh: string;
  auth: string;
  key_id: number | null;
  expiration_time: number | null;
  label: string | null;
  user_agent: string | null;
  created_at: number;
  updated_at: number;
  last_success_at: number | null;
  failure_count: number;
  /** IANA zone name the browser reported (migration 5) */
  time_zone: string | null;
  /** BCP 47 tag (migration 5) */
  language: string | null;
  /** When pushes were refused for its VAPID key (migration 6); null: fine */
  stale_key_at?: number | null;
}

/** A row with what listing and export also show: its category names and its key's public half. */
export interface SubscriptionDetailRow extends SubscriptionRow {
  /** names joined by U+001F (never in a category slug), or null */
  category_names: string | null;
  vapid_public_key: string | null;
}

export const CATEGORY_SEPARATOR = '\x1f';

export interface SubscriptionWrite {
  endpoint: string;
  p256dh: string;
  auth: string;
  keyId: number | null;
  expirationTime: number | null;
  /** undefined keeps the stored value on update */
  label?: string | null | undefined;
  userAgent?: string | null | undefined;
  /** undefined keeps the stored value on update */
  timeZone?: string | null | undefined;
  language?: string | null | undefined;
  /** used on insert only; default updatedAt */
  createdAt?: number | undefined;
  updatedAt: number;
  /** undefined keeps the stored value on update (null on insert) */
  lastSuccessAt?: number | null | undefined;
  /** default 0: new keys make a fresh start */
  failureCount?: number | undefined;
}

interface Statements {
  idByEndpoint: Database.Statement<[string], { id: number }>;
  insert: Database.Statement<unknown[]>;
  update: Database.Statement<unknown[]>;
  clearCategories: Database.Statement<[number]>;
  addCategory: Database.Statement<[number, number]>;
}

const cache = new WeakMap<Db, Statements>();

function statements(db: Db): Statements {
  let s = cache.get(db);
  if (!s) {
    s = {
      idByEndpoint: db.prepare('SELECT id FROM subscriptions WHERE endpoint = ?'),
      // DO NOTHING on a known endpoint: the common case (new) costs one statement, not a lookup first.
      insert: db.prepare(`
        INSERT INTO subscriptions (endpoint, p256dh, auth, key_id, expiration_time, label, user_agent,
                                   created_at, updated_at, last_success_at, failure_count, time_zone, language)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (endpoint) DO NOTHING`),
      update: db.prepare(`
        UPDATE subscriptions SET
          -- A re-subscription (another key, or new key material) clears stale-key; the same one keeps it.
          stale_key_at = CASE WHEN key_id IS ? AND p256dh = ? AND auth = ? THEN stale_key_at END,
          p256dh = ?, auth = ?, key_id = ?, expiration_time = ?,
          label = CASE WHEN ? THEN ? ELSE label END,
          user_agent = CASE WHEN ? THEN ? ELSE user_agent END,
          time_zone = CASE WHEN ? THEN ? ELSE time_zone END,
          language = CASE WHEN ? THEN ? ELSE language END,
          updated_at = ?,
          last_success_at = CASE WHEN ? THEN ? ELSE last_success_at END,
          failure_count = ?
        WHERE id = ?`),
      clearCategories: db.prepare('DELETE FROM subscription_categories WHERE subscription_id = ?'),
      addCategory: db.prepare('INSERT OR IGNORE INTO subscription_categories (subscription_id, category_id) VALUES (?, ?)'),
    };
    cache.set(db, s);
  }
  return s;
}

/** Inserts, or updates the row with the same endpoint. Call inside a transaction with setCategories. */
export function upsertSubscription(db: Db, w: SubscriptionWrite): { id: number; created: boolean } {
  const s = statements(db);
  const info = s.insert.run(
    w.endpoint, w.p256dh, w.auth, w.keyId, w.expirationTime, w.label ?? null, w.userAgent ?? null,
    w.createdAt ?? w.updatedAt, w.updatedAt, w.lastSuccessAt ?? null, w.failureCount ?? 0, w.timeZone ?? null, w.language ?? null,
  );
  if (info.changes === 1) return { id: Number(info.lastInsertRowid), created: true };
  const existing = s.idByEndpoint.get(w.endpoint);
  if (existing) {
    s.update.run(
      w.keyId, w.p256dh, w.auth,
      w.p256dh, w.auth, w.keyId, w.expirationTime,
      w.label !== undefined ? 1 : 0, w.label ?? null,
      w.userAgent !== undefined ? 1 : 0, w.userAgent ?? null,
      w.timeZone !== undefined ? 1 : 0, w.timeZone ?? null,
      w.language !== undefined ? 1 : 0, w.language ?? null,
      w.updatedAt,
      w.lastSuccessAt !== undefined ? 1 : 0, w.lastSuccessAt ?? null,
      w.failureCount ?? 0,
      existing.id,
    );
    return { id: existing.id, created: false };
  }
  throw new Error(`subscription ${w.endpoint}: neither inserted nor found`);
}

/** Whether a subscription with this endpoint exists (dry runs use it to predict insert vs update). */
export function subscriptionIdByEndpoint(db: Db, endpoint: string): number | undefined {
  return statements(db).idByEndpoint.get(endpoint)?.id;
}

/** Replaces the subscription's category membership with exactly these categories. */
export function setCategories(db: Db, subscriptionId: number, categoryIds: readonly number[], created: boolean): void {
  const s = statements(db);
  if (!created) s.clearCategories.run(subscriptionId);
  for (const categoryId of categoryIds) s.addCategory.run(subscriptionId, categoryId);
}

export function subscriptionById(db: Db, id: number): SubscriptionRow | undefined {
  return db.prepare('SELECT * FROM subscriptions WHERE id = ?').get(id) as SubscriptionRow | undefined;
}

export function subscriptionByEndpoint(db: Db, endpoint: string): SubscriptionRow | undefined {
  return db.prepare('SELECT * FROM subscriptions WHERE endpoint = ?').get(endpoint) as SubscriptionRow | undefined;
}

/** Sets the subscriber's zone and/or language (undefined leaves one alone); false when there is no such row. */
export function updateLocale(db: Db, id: number, change: { timeZone?: string | null | undefined; language?: string | null | undefined }, now: number): boolean {
  return (
    db
      .prepare(
        `UPDATE subscriptions SET
           time_zone = CASE WHEN @setZone THEN @timeZone ELSE time_zone END,
           language = CASE WHEN @setLanguage THEN @language ELSE language END,
           updated_at = @now
         WHERE id = @id`,
      )
      .run({
        id,
        now,
        setZone: change.timeZone !== undefined ? 1 : 0,
        timeZone: change.timeZone ?? null,
        setLanguage: change.language !== undefined ? 1 : 0,
        language: change.language ?? null,
      }).changes > 0
  );
}

export function deleteSubscription(db: Db, id: number): boolean {
  return db.prepare('DELETE FROM subscriptions WHERE id = ?').run(id).changes > 0;
}

export function categoryIdsOf(db: Db, subscriptionId: number): number[] {
  return (db.prepare('SELECT category_id FROM subscription_categories WHERE subscription_id = ?').all(subscriptionId) as { category_id: number }[]).map((r) => r.category_id);
}

export function countSubscriptionRows(db: Db, categoryId?: number): number {
  const row = categoryId === undefined
    ? db.prepare('SELECT count(*) AS n FROM subscriptions').get()
    : db.prepare('SELECT count(*) AS n FROM subscription_categories WHERE category_id = ?').get(categoryId);
  return (row as { n: number }).n;
}

/** A subscription with its category names and its key's public half (the async store's pages reuse it). */
export const detailSelect = `
  SELECT s.*,
         (SELECT group_concat(c.name, char(31)) FROM subscription_categories sc
            JOIN categories c ON c.id = sc.category_id WHERE sc.subscription_id = s.id) AS category_names,
         k.public_key AS vapid_public_key
  FROM subscriptions s LEFT JOIN vapid_keys k ON k.id = s.key_id`;

export function subscriptionDetail(db: Db, id: number): SubscriptionDetailRow | undefined {
  return db.prepare(`${detailSelect} WHERE s.id = ?`).get(id) as SubscriptionDetailRow | undefined;
}

/** Rows in id order, one at a time (never all in memory); categoryId filters by membership. */
export function iterateSubscriptionDetails(db: Db, options: { categoryId?: number | undefined; limit?: number | undefined }): IterableIterator<SubscriptionDetailRow> {
  const filter = options.categoryId === undefined ? '' : 'WHERE s.id IN (SELECT subscription_id FROM subscription_categories WHERE category_id = @categoryId)';
  const statement = db.prepare(`${detailSelect} ${filter} ORDER BY s.id LIMIT @limit`);
  const params: Record<string, number> = { limit: options.limit ?? -1 };
  if (options.categoryId !== undefined) params.categoryId = options.categoryId;
  return statement.iterate(params) as IterableIterator<SubscriptionDetailRow>;
}

export interface PruneFilter {
  /** coalesce(last_success_at, created_at) before this time (ms), and no shown/clicked event since then */
  noSuccessSince?: number | undefined;
  /** failure_count above this */
  failedMoreThan?: number | undefined;
  /** also (OR) every subscription whose expiration_time is at or before this time (ms) */
  expiredAt?: number | undefined;
}

function pruneWhere(filter: PruneFilter): { sql: string; params: number[] } {
  const clauses: string[] = [];
  const params: number[] = [];
  if (filter.noSuccessSince !== undefined) {
    // A shown or clicked notification is activity too (the engagement funnel), not only a 201.
    clauses.push(`coalesce(last_success_at, created_at) < ? AND NOT EXISTS (SELECT 1 FROM delivery_events e
      WHERE e.subscription_id = subscriptions.id AND e.kind IN ('shown', 'clicked') AND e.at >= ?)`);
    params.push(filter.noSuccessSince, filter.noSuccessSince);
  }
  if (filter.failedMoreThan !== undefined) {
    clauses.push('failure_count > ?');
    params.push(filter.failedMoreThan);
  }
  const stale = clauses.length ? `(${clauses.join(' AND ')})` : '0';
  if (filter.expiredAt === undefined) return { sql: stale, params };
  return { sql: `${stale} OR (expiration_time IS NOT NULL AND expiration_time <= ?)`, params: [...params, filter.expiredAt] };
}

export function countPrunable(db: Db, filter: PruneFilter): number {
  const { sql, params } = pruneWhere(filter);
  return (db.prepare(`SELECT count(*) AS n FROM subscriptions WHERE ${sql}`).get(...params) as { n: number }).n;
}

/** Deletes matching subscriptions (their memberships cascade); returns how many. */
export function deletePrunable(db: Db, filter: PruneFilter): number {
  const { sql, params } = pruneWhere(filter);
  return db.prepare(`DELETE FROM subscriptions WHERE ${sql}`).run(...params).changes;
}

/**
 * A write transaction begun and ended by hand: an import's transaction spans many record
 * callbacks (and with --strict, the whole input), which a better-sqlite3 transaction function
 * cannot. IMMEDIATE takes the write lock up front, so it waits (busy timeout) rather than failing
 * half way.
 */
export function beginWrite(db: Db): { commit(): void; rollback(): void } {
  db.prepare('BEGIN IMMEDIATE').run();
  return {
    commit: () => db.prepare('COMMIT').run(),
    rollback: () => {
      if (db.inTransaction) db.prepare('ROLLBACK').run();
    },
  };
}
