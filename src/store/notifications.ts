/**
 * SQL for notifications and their delivery ledger. A delivery row per (notification, recipient)
 * is the unit of progress: written when the recipient list is fixed, updated as each push
 * service answers, so a crashed or overlapping send resumes exactly where it was.
 */
import type { NotificationStatus } from '../limits.js';
import type { Db } from './db.js';

export interface NotificationRow {
  id: number;
  payload: string;
  target: string;
  ttl: number;
  urgency: string | null;
  topic: string | null;
  status: NotificationStatus;
  send_at: number | null;
  cron: string | null;
  tz: string | null;
  until_at: number | null;
  remaining_count: number | null;
  stale_after_ms: number | null;
  parent_id: number | null;
  slot_at: number | null;
  lease_owner: string | null;
  lease_expires_at: number | null;
  idempotency_key: string | null;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
  error: string | null;
  total_count: number;
  sent_count: number;
  gone_count: number;
  failed_count: number;
  /** migration 5 */
  ledger_pruned_at?: number | null;
  capped_count?: number;
  urgent?: number;
  /** migration 6: --local-time wall clock ('rule' on a recurring rule), --rate, the pace cursor */
  local_time?: string | null;
  rate?: string | null;
  paced_until?: number | null;
}

export type NewNotification = Pick<NotificationRow, 'payload' | 'target' | 'ttl' | 'urgency' | 'topic' | 'status' | 'send_at' | 'cron' | 'tz' | 'until_at' | 'remaining_count' | 'stale_after_ms' | 'idempotency_key' | 'created_at'> &
  Partial<Pick<NotificationRow, 'parent_id' | 'slot_at' | 'lease_owner' | 'lease_expires_at' | 'urgent' | 'local_time' | 'rate'>>;

export function insertNotification(db: Db, row: NewNotification): number {
  const info = db
    .prepare(
      `INSERT INTO notifications (payload, target, ttl, urgency, topic, status, send_at, cron, tz, until_at, remaining_count,
         stale_after_ms, idempotency_key, created_at, parent_id, slot_at, lease_owner, lease_expires_at, urgent, local_time, rate)
       VALUES (@payload, @target, @ttl, @urgency, @topic, @status, @send_at, @cron, @tz, @until_at, @remaining_count,
         @stale_after_ms, @idempotency_key, @created_at, @parent_id, @slot_at, @lease_owner, @lease_expires_at, @urgent, @local_time, @rate)`,
    )
    .run({ parent_id: null, slot_at: null, lease_owner: null, lease_expires_at: null, urgent: 0, local_time: null, rate: null, ...row });
  return Number(info.lastInsertRowid);
}

export function setTopic(db: Db, id: number, topic: string): void {
  db.prepare('UPDATE notifications SET topic = ? WHERE id = ?').run(topic, id);
}

export function notificationById(db: Db, id: number): NotificationRow | undefined {
  return db.prepare('SELECT * FROM notifications WHERE id = ?').get(id) as NotificationRow | undefined;
}

export function notificationByIdempotencyKey(db: Db, key: string): NotificationRow | undefined {
  return db.prepare('SELECT * FROM notifications WHERE idempotency_key = ?').get(key) as NotificationRow | undefined;
}

/** Frees an expired idempotency key for reuse. */
export function clearIdempotencyKey(db: Db, id: number): void {
  db.prepare('UPDATE notifications SET idempotency_key = NULL WHERE id = ?').run(id);
}

export function listNotificationRows(db: Db, filter: { status?: NotificationStatus | undefined; since?: number | undefined; limit: number; offset: number }): NotificationRow[] {
  const where: string[] = [];
  const params: Record<string, unknown> = { limit: filter.limit, offset: filter.offset };
  if (filter.status) {
    where.push('status = @status');
    params.status = filter.status;
  }
  if (filter.since !== undefined) {
    where.push('coalesce(finished_at, started_at, send_at, created_at) >= @since');
    params.since = filter.since;
  }
  const clause = where.length ? `WHERE ${where.join(' AND ')}` : '';
  return db.prepare(`SELECT * FROM notifications ${clause} ORDER BY id DESC LIMIT @limit OFFSET @offset`).all(params) as NotificationRow[];
}

export function deleteNotificationRow(db: Db, id: number): boolean {
  return db.prepare('DELETE FROM notifications WHERE id = ?').run(id).changes > 0;
}

export function setStatus(db: Db, id: number, status: NotificationStatus, extra: { error?: string | null; finished_at?: number | null } = {}): void {
  db.prepare('UPDATE notifications SET status = @status, error = coalesce(@error, error), finished_at = coalesce(@finished_at, finished_at) WHERE id = @id').run({
    id,
    status,
    error: extra.error ?? null,
    finished_at: extra.finished_at ?? null,
  });
}

/** The outcome of a one-recipient send that keeps no ledger (a push to an unstored subscription). */
export function finishSingleSend(db: Db, id: number, result: { status: string; sent: number; gone: number; failed: number; error: string | null; startedAt: number; finishedAt: number }): void {
  db.prepare(
    `UPDATE notifications SET status = @status, total_count = 1, sent_count = @sent, gone_count = @gone, failed_count = @failed,
       error = @error, started_at = @startedAt, finished_at = @finishedAt, lease_owner = NULL, lease_expires_at = NULL
     WHERE id = @id`,
  ).run({ id, ...result });
}

/** Cancels unless already finished; returns whether it changed. */
export function cancelRow(db: Db, id: number, now: number): boolean {
  return (
    db
      .prepare(
        `UPDATE notifications SET status = 'cancelled', finished_at = coalesce(finished_at, ?)
         WHERE id = ? AND status IN ('scheduled', 'sending')`,
      )
      .run(now, id).changes > 0
  );
}

// ---- leases: who is sending a notification right now ----

/** Atomically takes the lease when it is free, expired or already ours. */
export function tryAcquireLease(db: Db, id: number, owner: string, now: number, leaseMs: number): boolean {
  return (
    db
      .prepare(
        `UPDATE notifications SET lease_owner = @owner, lease_expires_at = @until,
           status = CASE WHEN status = 'scheduled' THEN 'sending' ELSE status END
         WHERE id = @id AND status IN ('scheduled', 'sending')
           AND (lease_owner IS NULL OR lease_expires_at IS NULL OR lease_expires_at <= @now OR lease_owner = @owner)`,
      )
      .run({ id, owner, now, until: now + leaseMs }).changes > 0
  );
}

/** Takes over a lease from an owner known to be dead (a crashed process on this host). */
export function takeOverLease(db: Db, id: number, deadOwner: string, owner: string, now: number, leaseMs: number): boolean {
  return (
    db
      .prepare(
        `UPDATE notifications SET lease_owner = @owner, lease_expires_at = @until,
           status = CASE WHEN status = 'scheduled' THEN 'sending' ELSE status END
         WHERE id = @id AND status IN ('scheduled', 'sending') AND lease_owner = @deadOwner`,
      )
      .run({ id, owner, deadOwner, until: now + leaseMs }).changes > 0
  );
}

/** Extends our lease; false when it is no longer ours (expired and taken over). */
export function renewLease(db: Db, id: number, owner: string, now: number, leaseMs: number): boolean {
  return (
    db.prepare('UPDATE notifications SET lease_expires_at = ? WHERE id = ? AND lease_owner = ?').run(now + leaseMs, id, owner).changes > 0
  );
}

export function releaseLease(db: Db, id: number, owner: string): void {
  db.prepare('UPDATE notifications SET lease_owner = NULL, lease_expires_at = NULL WHERE id = ? AND lease_owner = ?').run(id, owner);
}

export function leaseHolder(db: Db, id: number): { owner: string | null; expiresAt: number | null } {
  const row = db.prepare('SELECT lease_owner AS owner, lease_expires_at AS expiresAt FROM notifications WHERE id = ?').get(id) as
    | { owner: string | null; expiresAt: number | null }
    | undefined;
  return row ?? { owner: null, expiresAt: null };
}

// ---- recipients ----

export interface TargetQuery {
  all?: boolean;
  categories?: string[];
  subscriptionIds?: number[];
}

/**
 * The SELECT of subscription ids a target names; each subscription at most once. A subscription
 * whose expirationTime has passed is no recipient: the browser has dropped it.
 */
export function recipientSelect(target: TargetQuery, now: number, column: 'id' | 'endpoint' = 'id'): { sql: string; params: unknown[] } {
  const live = '(expiration_time IS NULL OR expiration_time > ?)';
  // Subscriptions marked stale-key (migration 6) get sends only when named one by one.
  const freshKey = 'stale_key_at IS NULL';
  if (target.all) return { sql: `SELECT ${column} FROM subscriptions WHERE ${live} AND ${freshKey}`, params: [now] };
  if (target.categories) {
    const marks = target.categories.map(() => '?').join(', ');
    return {
      sql: `SELECT ${column} FROM subscriptions WHERE ${live} AND ${freshKey} AND id IN (
              SELECT sc.subscription_id FROM subscription_categories sc JOIN categories c ON c.id = sc.category_id
              WHERE c.name IN (${marks}))`,
      params: [now, ...target.categories],
    };
  }
  const ids = target.subscriptionIds ?? [];
  return { sql: `SELECT ${column} FROM subscriptions WHERE ${live} AND id IN (${ids.map(() => '?').join(', ') || 'NULL'})`, params: [now, ...ids] };
}

/** Endpoints of the first `limit` recipients a target names, in the order a send reaches them (subscription id). */
export function recipientEndpoints(db: Db, target: TargetQuery, now: number, limit: number): string[] {
  const { sql, params } = recipientSelect(target, now, 'endpoint');
  return db.prepare(`${sql} ORDER BY id LIMIT ?`).pluck().all(...params, limit) as string[];
}

export function countRecipients(db: Db, target: TargetQuery, now: number = Date.now()): number {
  const { sql, params } = recipientSelect(target, now);
  return (db.prepare(`SELECT count(*) AS n FROM (${sql})`).get(...params) as { n: number }).n;
}

/**
 * Fixes the recipient list once, when a notification first starts sending: later subscribers
 * are not added, and a resumed send works from the same list. Returns false when already fixed.
 */
export function fixRecipients(db: Db, id: number, target: TargetQuery, now: number): boolean {
  return db
    .transaction(() => {
      const row = db.prepare('SELECT started_at FROM notifications WHERE id = ?').get(id) as { started_at: number | null } | undefined;
      if (!row || row.started_at !== null) return false;
      const { sql, params } = recipientSelect(target, now);
      const info = db
        .prepare(`INSERT OR IGNORE INTO deliveries (notification_id, subscription_id, state, updated_at) SELECT ?, id, 'pending', ? FROM (${sql})`)
        .run(id, now, ...params);
      db.prepare('UPDATE notifications SET started_at = ?, total_count = ? WHERE id = ?').run(now, info.changes, id);
      return true;
    })
    .immediate();
}

export interface PendingDelivery {
  subscription_id: number;
  attempts: number;
  endpoint: string | null;
  p256dh: string | null;
  auth: string | null;
  key_id: number | null;
  /** 1 when the subscription's expirationTime has passed since the recipient list was fixed */
  expired: number;
}

/** The next page of pending deliveries that are due, by subscription id (keyset paging: never all rows). */
export function pendingPage(db: Db, id: number, afterSubscriptionId: number, now: number, limit: number): PendingDelivery[] {
  return db
    .prepare(
      `SELECT d.subscription_id, d.attempts, s.endpoint, s.p256dh, s.auth, s.key_id,
              coalesce(s.expiration_time <= @now, 0) AS expired
       FROM deliveries d LEFT JOIN subscriptions s ON s.id = d.subscription_id
       WHERE d.notification_id = @id AND d.state = 'pending' AND d.subscription_id > @after
         AND (d.next_attempt_at IS NULL OR d.next_attempt_at <= @now)
       ORDER BY d.subscription_id LIMIT @limit`,
    )
    .all({ id, after: afterSubscriptionId, now, limit }) as PendingDelivery[];
}

/** Earliest retry time among pending deliveries, or null when none are pending. */
export function nextRetryAt(db: Db, id: number): { pending: number; earliest: number | null } {
  return db
    .prepare(`SELECT count(*) AS pending, min(coalesce(next_attempt_at, 0)) AS earliest FROM deliveries WHERE notification_id = ? AND state = 'pending'`)
    .get(id) as { pending: number; earliest: number | null };
}

/** Earliest retry time after `after` among pending deliveries (retries recorded since then), or null. */
export function earliestRetryAfter(db: Db, id: number, after: number): number | null {
  return (
    db
      .prepare(`SELECT min(next_attempt_at) AS t FROM deliveries WHERE notification_id = ? AND state = 'pending' AND next_attempt_at > ?`)
      .get(id, after) as { t: number | null }
  ).t;
}

/** 'capped' is set in bulk by frequency-caps.ts, never by a push answer. */
export type DeliveryState = 'pending' | 'sent' | 'gone' | 'failed' | 'capped';

export interface DeliveryUpdate {
  notificationId: number;
  subscriptionId: number;
  state: DeliveryState;
  statusCode: number | null;
  error: string | null;
  nextAttemptAt: number | null;
  now: number;
}

export function prepareLedgerWriter(db: Db) {
  const updateDelivery = db.prepare(
    `UPDATE deliveries SET state = @state, attempts = attempts + 1, status_code = @statusCode, error = @error,
       next_attempt_at = @nextAttemptAt, updated_at = @now
     WHERE notification_id = @notificationId AND subscription_id = @subscriptionId`,
  );
  // Successes, by far the most answers, are written a batch at a time: two statements per batch
  // (per status code) instead of two per delivery.
  const markSentMany = db.prepare(
    `UPDATE deliveries SET state = 'sent', attempts = attempts + 1, status_code = ?, error = NULL, next_attempt_at = NULL, updated_at = ?
     WHERE notification_id = ? AND subscription_id IN (SELECT value FROM json_each(?))`,
  );
  const markSuccessMany = db.prepare('UPDATE subscriptions SET last_success_at = ?, failure_count = 0, stale_key_at = NULL WHERE id IN (SELECT value FROM json_each(?))');
  const markFailure = db.prepare('UPDATE subscriptions SET failure_count = failure_count + 1 WHERE id = ?');
  const deleteSubscription = db.prepare('DELETE FROM subscriptions WHERE id = ?');
  const apply = (u: DeliveryUpdate) => {
    updateDelivery.run(u);
    if (u.state === 'gone') deleteSubscription.run(u.subscriptionId);
    else if (u.state === 'failed' || (u.state === 'pending' && u.statusCode !== null)) markFailure.run(u.subscriptionId);
  };
  /** Records push-service answers, several in one transaction (group commit). */
  const recordMany = db.transaction((updates: DeliveryUpdate[]) => {
    // (notification, status code, time) -> subscription ids: each answer keeps its own time (the
    // per-day counts read it), and answers handled in one turn mostly share the millisecond.
    const sent = new Map<string, { notificationId: number; statusCode: number | null; ids: number[]; now: number }>();
    for (const u of updates) {
      if (u.state !== 'sent') {
        apply(u);
        continue;
      }
      const key = `${u.notificationId}:${u.statusCode}:${u.now}`;
      const group = sent.get(key);
      if (group) {
        group.ids.push(u.subscriptionId);
      } else {
        sent.set(key, { notificationId: u.notificationId, statusCode: u.statusCode, ids: [u.subscriptionId], now: u.now });
      }
    }
    for (const group of sent.values()) {
      const ids = JSON.stringify(group.ids);
      markSentMany.run(group.statusCode, group.now, group.notificationId, ids);
      markSuccessMany.run(group.now, ids);
    }
  });
  return { recordMany: (updates: DeliveryUpdate[]) => recordMany(updates) };
}

export interface DeliveryCounts {
  total: number;
  sent: number;
  gone: number;
  failed: number;
  pending: number;
  /** skipped: the subscriber had reached a frequency cap */
  capped: number;
}

export function deliveryCounts(db: Db, id: number): DeliveryCounts {
  const rows = db.prepare('SELECT state, count(*) AS n FROM deliveries WHERE notification_id = ? GROUP BY state').all(id) as { state: string; n: number }[];
  const counts: DeliveryCounts = { total: 0, sent: 0, gone: 0, failed: 0, pending: 0, capped: 0 };
  for (const { state, n } of rows) {
    counts.total += n;
    if (state in counts) counts[state as DeliveryState] += n;
  }
  return counts;
}

/** Stores the final counts on the notification so listings need not count the ledger. */
export function storeCounts(db: Db, id: number, counts: DeliveryCounts): void {
  db.prepare('UPDATE notifications SET total_count = ?, sent_count = ?, gone_count = ?, failed_count = ?, capped_count = ? WHERE id = ?').run(
    counts.total,
    counts.sent,
    counts.gone,
    counts.failed,
    counts.capped,
    id,
  );
}

export function recentFailureRows(db: Db, id: number, limit: number): { subscription_id: number; state: string; status_code: number | null; error: string | null; attempts: number; updated_at: number | null }[] {
  return db
    .prepare(
      `SELECT subscription_id, state, status_code, error, attempts, updated_at FROM deliveries
       WHERE notification_id = ? AND (state IN ('failed', 'gone') OR (state = 'pending' AND status_code IS NOT NULL))
       ORDER BY updated_at DESC LIMIT ?`,
    )
    .all(id, limit) as { subscription_id: number; state: string; status_code: number | null; error: string | null; attempts: number; updated_at: number | null }[];
}
