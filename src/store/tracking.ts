/**
 * SQL for engagement: the unguessable token each tracked delivery carries, the shown / clicked /
 * dismissed events that come back with it (at most one of each kind per delivery), and the funnel
 * and per-day figures computed from them. Nothing here stores an IP address or a user agent.
 */
import type { Db } from './db.js';

export type { EventKind } from '../limits.js';
import type { EventKind } from '../limits.js';

export function setTracking(db: Db, notificationId: number, tracking: string | null): void {
  db.prepare('UPDATE notifications SET tracking = ? WHERE id = ?').run(tracking, notificationId);
}

export function trackingOf(db: Db, notificationId: number): string | null {
  const row = db.prepare('SELECT tracking FROM notifications WHERE id = ?').get(notificationId) as { tracking: string | null } | undefined;
  return row?.tracking ?? null;
}

/**
 * The tokens of these deliveries, issuing one (from `newToken`) where there is none yet: a retried
 * or resumed delivery keeps its first token, so its events still count once. One transaction per
 * page of recipients.
 */
export function prepareTokenIssuer(db: Db) {
  const insert = db.prepare('INSERT OR IGNORE INTO delivery_tokens (token, notification_id, subscription_id) VALUES (?, ?, ?)');
  const select = db.prepare('SELECT token FROM delivery_tokens WHERE notification_id = ? AND subscription_id = ?').pluck();
  const issue = db.transaction((notificationId: number, subscriptionIds: number[], newToken: () => string) => {
    const tokens = new Map<number, string>();
    for (const subscriptionId of subscriptionIds) {
      // The new token is the stored one when the insert took; only a recipient that already has
      // one (a resumed send) costs a second statement.
      const token = newToken();
      const inserted = insert.run(token, notificationId, subscriptionId).changes === 1;
      tokens.set(subscriptionId, inserted ? token : (select.get(notificationId, subscriptionId) as string));
    }
    return tokens;
  });
  return { issue: (notificationId: number, subscriptionIds: number[], newToken: () => string) => issue.immediate(notificationId, subscriptionIds, newToken) };
}

export interface TokenOwner {
  notification_id: number;
  subscription_id: number;
  tracking: string | null;
  payload: string;
}

/**
 * Whose token this is. Not filtered on the ledger's state: a browser can show a push and report it
 * before the push service's 201 has reached pushctl and been written.
 */
export function deliveryByToken(db: Db, token: string): TokenOwner | undefined {
  return db
    .prepare(
      `SELECT t.notification_id, t.subscription_id, n.tracking, n.payload
       FROM delivery_tokens t JOIN notifications n ON n.id = t.notification_id
       WHERE t.token = ?`,
    )
    .get(token) as TokenOwner | undefined;
}

/**
 * The same for a sealed token's ids: the notification must still exist and so must the
 * subscription (a removed subscription's engagement is forgotten, as its stored tokens are).
 */
export function trackedDelivery(db: Db, notificationId: number, subscriptionId: number): TokenOwner | undefined {
  return db
    .prepare(
      `SELECT n.id AS notification_id, s.id AS subscription_id, n.tracking, n.payload
       FROM notifications n, subscriptions s
       WHERE n.id = ? AND s.id = ?`,
    )
    .get(notificationId, subscriptionId) as TokenOwner | undefined;
}

export function readSecret(db: Db, name: string): string | undefined {
  return db.prepare('SELECT value FROM secrets WHERE name = ?').pluck().get(name) as string | undefined;
}

/** The secret named `name`, stored from `create()` if there is none yet (one transaction). */
export function secret(db: Db, name: string, create: () => string): string {
  return db
    .transaction(() => {
      db.prepare('INSERT OR IGNORE INTO secrets (name, value) VALUES (?, ?)').run(name, create());
      return readSecret(db, name)!;
    })
    .immediate();
}

/**
 * Records an event; false when this delivery already had one of this kind (nothing changes).
 * ON CONFLICT, not OR IGNORE: only a repeat is ignored; a kind outside the CHECK is an error, as on PostgreSQL.
 */
export function insertEvent(db: Db, event: { notificationId: number; subscriptionId: number; kind: EventKind; action: string | null; at: number }): boolean {
  return (
    db
      .prepare('INSERT INTO delivery_events (notification_id, subscription_id, kind, action, at) VALUES (@notificationId, @subscriptionId, @kind, @action, @at) ON CONFLICT DO NOTHING')
      .run(event).changes > 0
  );
}

export interface FunnelRow {
  targeted: number;
  delivered: number;
  shown: number;
  clicked: number;
  dismissed: number;
}

export function funnelCounts(db: Db, notificationId: number): FunnelRow {
  const ledger = db
    .prepare(`SELECT count(*) AS targeted, coalesce(sum(state = 'sent'), 0) AS delivered FROM deliveries WHERE notification_id = ?`)
    .get(notificationId) as { targeted: number; delivered: number };
  const events = db
    .prepare(
      `SELECT coalesce(sum(kind = 'shown'), 0) AS shown, coalesce(sum(kind = 'clicked'), 0) AS clicked, coalesce(sum(kind = 'dismissed'), 0) AS dismissed
       FROM delivery_events WHERE notification_id = ?`,
    )
    .get(notificationId) as { shown: number; clicked: number; dismissed: number };
  return { ...ledger, ...events };
}

/** Clicks per button (action id; null for the notification's body). */
export function clicksByAction(db: Db, notificationId: number): { action: string | null; clicks: number }[] {
  return db
    .prepare(`SELECT action, count(*) AS clicks FROM delivery_events WHERE notification_id = ? AND kind = 'clicked' GROUP BY action ORDER BY clicks DESC, action`)
    .all(notificationId) as { action: string | null; clicks: number }[];
}

export interface DayRow {
  /** days since 1970-01-01 (UTC) */
  day: number;
  delivered: number;
  shown: number;
  clicked: number;
  dismissed: number;
}

/**
 * Per UTC day since `since`: deliveries that reached a push service (by the time of the answer)
 * and events (by the time they happened), optionally only for notifications sent to a category.
 */
export function dailyCounts(db: Db, since: number, category: string | undefined): DayRow[] {
  const scope = category === undefined ? '' : `AND notification_id IN (SELECT n.id FROM notifications n, json_each(n.target, '$.categories') c WHERE c.value = @category)`;
  const params = category === undefined ? { since } : { since, category };
  const delivered = db
    .prepare(`SELECT updated_at / 86400000 AS day, count(*) AS n FROM deliveries WHERE state = 'sent' AND updated_at >= @since ${scope} GROUP BY day`)
    .all(params) as { day: number; n: number }[];
  const events = db
    .prepare(`SELECT at / 86400000 AS day, kind, count(*) AS n FROM delivery_events WHERE at >= @since ${scope} GROUP BY day, kind`)
    .all(params) as { day: number; kind: EventKind; n: number }[];
  return mergeDays(delivered, events);
}

/** Per-day rows, by day, from per-day delivered counts and per-day-and-kind event counts (both backends). */
export function mergeDays(delivered: readonly { day: number; n: number }[], events: readonly { day: number; kind: EventKind; n: number }[]): DayRow[] {
  const days = new Map<number, DayRow>();
  const row = (day: number) => {
    let r = days.get(day);
    if (!r) days.set(day, (r = { day, delivered: 0, shown: 0, clicked: 0, dismissed: 0 }));
    return r;
  };
  for (const d of delivered) row(d.day).delivered = d.n;
  for (const e of events) row(e.day)[e.kind] = e.n;
  return [...days.values()].sort((a, b) => a.day - b.day);
}
