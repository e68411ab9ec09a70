/**
 * The one store interface the core is to use, whatever the backend (sqlite/ or postgres/). Every
 * operation is async; row types are plain objects (snake_case, times in ms since the epoch, ids
 * as numbers) that both backends return alike. Large result sets come as async iterables of
 * pages, so memory stays flat and the per-row cost is a loop step, not a promise.
 */
import type { NotificationStatus } from '../limits.js';
import type { CategoryRow, CategoryWithCount } from './categories.js';
import type { VapidKeyRow } from './keys.js';
import type { DeliveryCounts, DeliveryUpdate, NewNotification, NotificationRow, PendingDelivery, TargetQuery } from './notifications.js';
import type { PruneFilter, SubscriptionDetailRow, SubscriptionRow, SubscriptionWrite } from './subscriptions.js';
import type { DayRow, EventKind, FunnelRow, TokenOwner } from './tracking.js';
import type { PacedClaim, PacedClaimResult } from './delivery-control.js';

export type { CategoryRow, CategoryWithCount } from './categories.js';
export type { VapidKeyRow } from './keys.js';
export type { DeliveryCounts, DeliveryState, DeliveryUpdate, NewNotification, NotificationRow, PendingDelivery, TargetQuery } from './notifications.js';
export type { PruneFilter, SubscriptionDetailRow, SubscriptionRow, SubscriptionWrite } from './subscriptions.js';
export type { DayRow, EventKind, FunnelRow, TokenOwner } from './tracking.js';
export type { PacedClaim, PacedClaimResult, PacedDelivery } from './delivery-control.js';
export { CATEGORY_SEPARATOR } from './subscriptions.js';

export type Backend = 'sqlite' | 'postgres';

/** One subscription of a batch upsert, with the categories it is to have (undefined: leave them). */
export interface SubscriptionUpsert {
  write: SubscriptionWrite;
  categoryIds?: readonly number[] | undefined;
}

export interface NotificationListFilter {
  status?: NotificationStatus | undefined;
  since?: number | undefined;
  limit: number;
  offset: number;
}

export type TemplateAdvance = { sendAt: number; remaining: number | null } | { finishedAt: number; remaining: number | null };

export interface OccurrenceInsert {
  parentId: number;
  slotAt: number;
  status: 'scheduled' | 'skipped';
  error: string | null;
  now: number;
}

export interface SingleSendResult {
  status: NotificationStatus;
  sent: number;
  gone: number;
  failed: number;
  error: string | null;
  startedAt: number;
  finishedAt: number;
}

export interface FailureRow {
  subscription_id: number;
  state: string;
  status_code: number | null;
  error: string | null;
  attempts: number;
  updated_at: number | null;
}

/** A frequency cap as applied: at most `limit` notifications (to `category`, if given) since `since`. */
export interface CapRule {
  limit: number;
  since: number;
  category?: string | undefined;
}

export interface DeliveryClaim {
  notificationId: number;
  now: number;
  /** The claimed rows are not due again (for anyone) until now + leaseMs: a dead worker's chunk is taken over then. */
  leaseMs: number;
  /** Rows per chunk (a few hundred). */
  limit: number;
}

/** Row counts of every table: what `db status` shows and `db copy` verifies. */
export interface TableCounts {
  vapid_keys: number;
  subscriptions: number;
  categories: number;
  subscription_categories: number;
  notifications: number;
  deliveries: number;
  delivery_tokens: number;
  delivery_events: number;
  maintenance_runs: number;
  secrets: number;
}

export type TableName = keyof TableCounts;

/** A row of a table as stored, ids included (what `db copy` moves). */
export type TableRow = Record<string, string | number | null>;

/**
 * Every table with its columns and primary key, in an order where each row's references come
 * first (copy in this order, clear in the reverse). Mirrors the migrations on both backends.
 */
export const TABLES: { name: TableName; key: string[]; columns: string[] }[] = [
  { name: 'vapid_keys', key: ['id'], columns: ['id', 'public_key', 'private_key', 'subject', 'created_at', 'active'] },
  { name: 'categories', key: ['id'], columns: ['id', 'name', 'description', 'created_at', 'frequency_cap', 'quiet_hours'] },
  {
    name: 'subscriptions',
    key: ['id'],
    columns: ['id', 'endpoint', 'p256dh', 'auth', 'key_id', 'expiration_time', 'label', 'user_agent', 'created_at', 'updated_at', 'last_success_at', 'failure_count', 'time_zone', 'language', 'stale_key_at'],
  },
  { name: 'subscription_categories', key: ['subscription_id', 'category_id'], columns: ['subscription_id', 'category_id'] },
  {
    name: 'notifications',
    key: ['id'],
    columns: [
      'id', 'payload', 'target', 'ttl', 'urgency', 'topic', 'status', 'send_at', 'cron', 'tz', 'until_at', 'remaining_count', 'stale_after_ms',
      'parent_id', 'slot_at', 'lease_owner', 'lease_expires_at', 'idempotency_key', 'created_at', 'started_at', 'finished_at', 'error',
      'total_count', 'sent_count', 'gone_count', 'failed_count', 'tracking', 'ledger_pruned_at', 'capped_count', 'urgent', 'local_time', 'rate', 'paced_until',
    ],
  },
  {
    name: 'deliveries',
    key: ['notification_id', 'subscription_id'],
    columns: ['notification_id', 'subscription_id', 'state', 'attempts', 'status_code', 'error', 'next_attempt_at', 'updated_at'],
  },
  { name: 'delivery_tokens', key: ['token'], columns: ['token', 'notification_id', 'subscription_id'] },
  { name: 'delivery_events', key: ['notification_id', 'subscription_id', 'kind'], columns: ['notification_id', 'subscription_id', 'kind', 'action', 'at'] },
  { name: 'maintenance_runs', key: ['task'], columns: ['task', 'last_run_at'] },
  { name: 'secrets', key: ['name'], columns: ['name', 'value'] },
];

/** Everything the core asks of the store; a transaction offers the same operations. */
export interface StoreOps {
  // ---- VAPID keys ----
  activeKey(): Promise<VapidKeyRow | undefined>;
  keyById(id: number): Promise<VapidKeyRow | undefined>;
  keyByPublicKey(publicKey: string): Promise<VapidKeyRow | undefined>;
  allKeys(): Promise<VapidKeyRow[]>;
  /** Makes this key the active one, atomically (see store/keys.ts insertActiveKey). */
  insertActiveKey(
    key: { publicKey: string; privateKey: string; subject: string; createdAt: number },
    options?: { replace: boolean },
  ): Promise<{ row: VapidKeyRow } | { blockedBy: VapidKeyRow }>;
  setKeySubject(id: number, subject: string): Promise<void>;
  subscriptionCountByKey(keyId: number): Promise<number>;

  // ---- subscriptions ----
  /** Inserts, or updates the row with the same endpoint. */
  upsertSubscription(write: SubscriptionWrite): Promise<{ id: number; created: boolean }>;
  /** Many upserts (an import batch) in one call: one promise per batch, not per row. */
  upsertSubscriptions(batch: readonly SubscriptionUpsert[]): Promise<{ id: number; created: boolean }[]>;
  subscriptionIdByEndpoint(endpoint: string): Promise<number | undefined>;
  /** Replaces the membership with exactly these categories (`created`: nothing to clear first). */
  setCategories(subscriptionId: number, categoryIds: readonly number[], created: boolean): Promise<void>;
  subscriptionById(id: number): Promise<SubscriptionRow | undefined>;
  subscriptionByEndpoint(endpoint: string): Promise<SubscriptionRow | undefined>;
  deleteSubscription(id: number): Promise<boolean>;
  categoryIdsOf(subscriptionId: number): Promise<number[]>;
  countSubscriptions(categoryId?: number): Promise<number>;
  subscriptionDetail(id: number): Promise<SubscriptionDetailRow | undefined>;
  /** Rows in id order, in pages (keyset paging: never all rows in memory). */
  streamSubscriptionDetails(options: { categoryId?: number | undefined; limit?: number | undefined; pageSize?: number | undefined }): AsyncIterable<SubscriptionDetailRow[]>;
  countPrunable(filter: PruneFilter): Promise<number>;
  deletePrunable(filter: PruneFilter): Promise<number>;

  // ---- categories ----
  insertCategory(category: { name: string; description: string | null; createdAt: number }): Promise<CategoryRow>;
  categoryById(id: number): Promise<CategoryRow | undefined>;
  categoryByName(name: string): Promise<CategoryRow | undefined>;
  categoryWithCount(id: number): Promise<CategoryWithCount | undefined>;
  allCategoriesWithCounts(): Promise<CategoryWithCount[]>;
  categoryIdsByName(): Promise<Map<string, number>>;
  updateCategory(id: number, change: { name?: string; description?: string | null }): Promise<void>;
  deleteCategory(id: number): Promise<boolean>;
  addMembers(categoryId: number, subscriptionIds: readonly number[]): Promise<number>;
  removeMembers(categoryId: number, subscriptionIds: readonly number[]): Promise<number>;
  existingCategoryNames(names: string[]): Promise<Set<string>>;

  // ---- notifications ----
  insertNotification(row: NewNotification): Promise<number>;
  setTopic(id: number, topic: string): Promise<void>;
  /** Sets the topic only while it is still `from` (an occurrence inheriting its rule's automatic topic). */
  setTopicIf(id: number, from: string, to: string): Promise<void>;
  notificationById(id: number): Promise<NotificationRow | undefined>;
  notificationByIdempotencyKey(key: string): Promise<NotificationRow | undefined>;
  clearIdempotencyKey(id: number): Promise<void>;
  listNotifications(filter: NotificationListFilter): Promise<NotificationRow[]>;
  deleteNotification(id: number): Promise<boolean>;
  setStatus(id: number, status: NotificationStatus, extra?: { error?: string | null; finished_at?: number | null }): Promise<void>;
  cancelNotification(id: number, now: number): Promise<boolean>;
  /** Records the answer to a one-off push to an unstored subscription (its counts, status, times), releasing its lease. */
  finishSingleSend(id: number, result: SingleSendResult): Promise<void>;
  resolveSubscriptionRefs(refs: (string | number)[]): Promise<{ ids: number[]; unknown: string[] }>;

  // ---- the sending lease on a notification ----
  tryAcquireLease(id: number, owner: string, now: number, leaseMs: number): Promise<boolean>;
  takeOverLease(id: number, deadOwner: string, owner: string, now: number, leaseMs: number): Promise<boolean>;
  renewLease(id: number, owner: string, now: number, leaseMs: number): Promise<boolean>;
  releaseLease(id: number, owner: string): Promise<void>;
  leaseHolder(id: number): Promise<{ owner: string | null; expiresAt: number | null }>;

  // ---- the delivery ledger ----
  /** Subscriptions the target names whose expirationTime has not passed by `now`. */
  countRecipients(target: TargetQuery, now: number): Promise<number>;
  /** Endpoints of the first `limit` of those subscriptions by id: the first a send reaches (to open connections ahead). */
  recipientEndpoints(target: TargetQuery, now: number, limit: number): Promise<string[]>;
  /** Fixes the recipient list once (false when it already was). */
  fixRecipients(id: number, target: TargetQuery, now: number): Promise<boolean>;
  /** Due pending deliveries after a subscription id, without claiming them (one sender alone). */
  pendingPage(id: number, afterSubscriptionId: number, now: number, limit: number): Promise<PendingDelivery[]>;
  /**
   * Claims the next chunk of due pending deliveries for this worker: they are not due again until
   * the lease runs out, so concurrent workers (processes, hosts) take disjoint chunks, and a
   * chunk whose worker died is taken over after the lease. PostgreSQL: FOR UPDATE SKIP LOCKED;
   * SQLite: the same in one IMMEDIATE transaction (one writer at a time).
   */
  claimDeliveries(claim: DeliveryClaim): Promise<PendingDelivery[]>;
  nextRetryAt(id: number): Promise<{ pending: number; earliest: number | null }>;
  /** The first retry time after `after` among pending deliveries (what a sweep waits for next). */
  earliestRetryAfter(id: number, after: number): Promise<number | null>;
  /** Records push-service answers, all in one transaction (group commit). */
  recordDeliveries(updates: readonly DeliveryUpdate[]): Promise<void>;
  deliveryCounts(id: number): Promise<DeliveryCounts>;
  storeCounts(id: number, counts: DeliveryCounts): Promise<void>;
  recentFailures(id: number, limit: number): Promise<FailureRow[]>;

  // ---- the dispatcher ----
  claimNext(owner: string, now: number, leaseMs: number, exclude: readonly number[]): Promise<NotificationRow | undefined>;
  markSkipped(id: number, owner: string, error: string, now: number): Promise<boolean>;
  dueTemplates(now: number): Promise<NotificationRow[]>;
  /** The occurrence of a rule for one slot, at most once; null when the slot already existed. */
  insertOccurrence(occurrence: OccurrenceInsert): Promise<number | null>;
  advanceTemplate(id: number, fromSlot: number, next: TemplateAdvance): Promise<boolean>;
  nextWorkAt(): Promise<number | null>;
  occurrenceRows(parentId: number, limit: number): Promise<NotificationRow[]>;
  occurrenceCount(parentId: number): Promise<number>;
  liveOccurrences(parentId: number, now: number): Promise<number[]>;
  cancelScheduledOccurrences(parentId: number, now: number): Promise<number>;
  deleteOccurrences(parentId: number): Promise<number>;
  reopenForResume(id: number): Promise<boolean>;
  /**
   * Sends nobody holds whose pending deliveries all wait for a retry time still to come, with
   * how many wait and when the first is due; by due time, then id.
   */
  deferredSends(now: number): Promise<{ id: number; deliveries: number; dueAt: number }[]>;

  // ---- engagement (tokens, events, funnel) ----
  setTracking(notificationId: number, tracking: string | null): Promise<void>;
  trackingOf(notificationId: number): Promise<string | null>;
  /**
   * The tokens of these deliveries, issuing one (from `newToken`) where there is none yet: a
   * retried or resumed delivery keeps its first token, so its events still count once.
   */
  issueTokens(notificationId: number, subscriptionIds: readonly number[], newToken: () => string): Promise<Map<number, string>>;
  /** Whose token this is (whatever the ledger says: a browser may report before the 201 is written). */
  deliveryByToken(token: string): Promise<TokenOwner | undefined>;
  /**
   * The same for a sealed token's ids (core/tracking-tokens.ts): undefined when the notification
   * or the subscription is gone (a removed subscription's engagement is forgotten).
   */
  trackedDelivery(notificationId: number, subscriptionId: number): Promise<TokenOwner | undefined>;
  /** A secret kept in the store under `name`, stored from `create()` by whichever caller comes first. */
  secret(name: string, create: () => string): Promise<string>;
  /** The secret named `name` if there is one (nothing is created). */
  readSecret(name: string): Promise<string | undefined>;
  /** Records an event; false when this delivery already had one of this kind (nothing changes). */
  insertEvent(event: { notificationId: number; subscriptionId: number; kind: EventKind; action: string | null; at: number }): Promise<boolean>;
  funnelCounts(notificationId: number): Promise<FunnelRow>;
  /** Clicks per button (null: the body), most first, then by action (null first). */
  clicksByAction(notificationId: number): Promise<{ action: string | null; clicks: number }[]>;
  /** Per UTC day since `since`, optionally only notifications sent to a category; by day. */
  dailyCounts(since: number, category: string | undefined): Promise<DayRow[]>;

  // ---- gauges (metrics, readiness): each walks an index ----
  /** Resolves when the store answers a trivial query. */
  ping(): Promise<void>;
  /** Notifications per status, by status. */
  notificationsByStatus(): Promise<{ status: string; n: number }[]>;
  /** Scheduled one-off notifications whose time has come but that no one has started. */
  overdueNotifications(now: number): Promise<number>;
  /** Pending deliveries of sends in progress: due now, or waiting for a later attempt. */
  pendingDeliveries(now: number): Promise<{ due: number; deferred: number }>;
  /** Members per category, in category id order. */
  subscriptionsByCategory(): Promise<{ name: string; n: number }[]>;

  // ---- subscriber locale, frequency caps, quiet hours (migration 5) ----
  /** Sets the subscriber's zone and/or language (undefined leaves one alone); false when there is no such row. */
  updateLocale(id: number, change: { timeZone?: string | null | undefined; language?: string | null | undefined }, now: number): Promise<boolean>;
  /** name -> cap text for those of these categories that have a cap. */
  categoryCapsByName(names: readonly string[]): Promise<Map<string, string>>;
  setCategoryCap(id: number, cap: string | null): Promise<void>;
  /**
   * For each cap: the untried pending deliveries of `id` whose subscriber was sent at least
   * `limit` other notifications (to `category`, when given) since `since` become 'capped'; one
   * range of recipients per transaction. Returns how many.
   */
  capPendingDeliveries(id: number, now: number, caps: readonly CapRule[]): Promise<number>;
  /** [name, quiet hours] for those of these categories that have their own, by name (byte order). */
  categoryQuietHours(names: readonly string[]): Promise<[string, string][]>;
  setCategoryQuietHours(id: number, text: string | null): Promise<void>;
  /** The distinct zones (null: unknown) of a notification's untried pending recipients, in no particular order. */
  pendingZones(id: number): Promise<(string | null)[]>;
  /** Moves untried pending deliveries in these zones to the zone's `until` (never earlier), with its reason; returns how many. */
  deferZones(id: number, zones: ReadonlyMap<string | null, { until: number; reason: string }>): Promise<number>;
  /** Untried pending deliveries whose reason matches a LIKE pattern (ASCII case-insensitive), and the first one due. */
  deferredSummary(id: number, reasonLike: string): Promise<{ count: number; until: number | null }>;

  // ---- housekeeping (migration 5) ----
  /** When a task last ran (ms), or null when never. */
  lastRun(task: string): Promise<number | null>;
  /** Claims a task's run: true for exactly one caller per `everyMs`, however many ask at once. */
  claimRun(task: string, now: number, everyMs: number): Promise<boolean>;
  /** Finished one-off notifications finished before `before` that still have ledger rows, and those rows. */
  prunableHistory(before: number): Promise<{ notifications: number; deliveries: number }>;
  prunableHistoryIds(before: number, limit: number): Promise<number[]>;
  /** Stores a notification's counts from its ledger, marks it pruned, drops its ledger rows (returns how many), atomically. */
  pruneLedger(id: number, now: number): Promise<number>;

  // ---- whole installation (db status, db copy) ----
  tableCounts(): Promise<TableCounts>;
  /** A table's rows in primary-key order, in pages (keyset paging). */
  streamRows(table: TableName, pageSize?: number): AsyncIterable<TableRow[]>;
  /** Inserts rows as they are, ids included. */
  insertRows(table: TableName, rows: readonly TableRow[]): Promise<void>;
  /** Deletes every row of every table (db copy --force). */
  clearAll(): Promise<void>;
  /** Moves id generators past the highest id present (after insertRows). */
  resetIdentities(): Promise<void>;

  // ---- delivery control: stale keys, local time, throttling (migration 6; issue 14) ----
  /** Marks these subscriptions stale-key (pushes refused for their VAPID key); returns how many were not already. */
  markStaleKeys(subscriptionIds: readonly number[], now: number): Promise<number>;
  /**
   * Claims due pending deliveries of a throttled send, each with its own start slot taken from the
   * notification's pace cursor (`paced_until`), atomically across processes (see delivery-control.ts).
   */
  claimPaced(claim: PacedClaim): Promise<PacedClaimResult>;
  /** Makes claimed, still pending deliveries due again at `now` (a worker too late for their slots). */
  giveBackClaims(notificationId: number, subscriptionIds: readonly number[], now: number): Promise<number>;
  /** Pending deliveries by due time (null: now) and subscriber zone (null: none), by time then zone. */
  pendingByDueTime(notificationId: number): Promise<{ dueAt: number | null; zone: string | null; deliveries: number }[]>;
  /** The distinct zones (null: none) of the subscriptions a target names now. */
  targetZones(target: TargetQuery, now: number): Promise<(string | null)[]>;
  /** Throttled sends another process holds (a live lease) with deliveries due now: what a dispatcher can help with, by id. */
  pacedSendsInProgress(now: number): Promise<number[]>;
  // ---- shared sends: chunk leases (issue 11) ----
  /**
   * Extends the lease of claimed deliveries this worker still holds: those of `subscriptionIds`
   * still pending and still carrying the lease they were claimed with (`fromLease`, i.e. the
   * claim's now + leaseMs) now run to `toLease`. Rows already answered, or taken over by another
   * worker after the lease ran out, are left alone. Returns how many were renewed.
   */
  renewClaims(notificationId: number, subscriptionIds: readonly number[], fromLease: number, toLease: number): Promise<number>;
  /**
   * Sends in progress that another live worker leads (status sending, recipients fixed, lease
   * held by someone other than `owner` and not expired, and already answered at least once, so
   * its lead has applied caps and quiet hours) with deliveries due now: what a worker can join by
   * claiming chunks. A send nobody leads is claimNext's, not this. By id.
   */
  joinableSends(owner: string, now: number, limit: number): Promise<number[]>;
  /**
   * Makes the pending deliveries that carry exactly this lease (`lease`: a dead lead's lease end,
   * which its chunks carry) due at `now`; returns how many. Retries and other workers' chunks
   * carry other times and stay as they are.
   */
  releaseClaims(notificationId: number, lease: number, now: number): Promise<number>;
}

export interface TransactionOptions {
  /**
   * Serialises this transaction with every other one naming the same lock, in any process
   * (check-then-write sections: key rotation, idempotency keys, materialising rules).
   * SQLite's write transactions are serialised anyway; PostgreSQL takes pg_advisory_xact_lock.
   */
  lock?: string | undefined;
}

export interface Transaction extends StoreOps {
  /** Runs `fn` in a savepoint: if it throws, only its writes are undone (group commit per item). */
  savepoint<T>(fn: (tx: Transaction) => Promise<T>): Promise<T>;
}

export interface Store extends StoreOps {
  readonly backend: Backend;
  /** Where the data lives, fit to print: a file path, or a URL without its password. */
  readonly location: string;
  schemaVersion(): Promise<number>;
  /**
   * Runs `fn` in one write transaction: committed when its promise resolves, rolled back when
   * it rejects. Inside, use `tx`, never the store itself (on SQLite the store waits for the
   * transaction to end; on PostgreSQL it would run on another connection).
   */
  transaction<T>(fn: (tx: Transaction) => Promise<T>, options?: TransactionOptions): Promise<T>;
  close(): Promise<void>;

  // ---- shared sends: work wake-ups (issue 11) ----
  /**
   * Calls `onWake` soon after work may have appeared for a worker, in this process or any other
   * sharing the store: a notification recorded, a send started (recipients fixed) or reopened,
   * a send left by its holder, deliveries deferred, a notification cancelled. PostgreSQL: LISTEN
   * on a dedicated connection (re-LISTENed after a reconnect, with one wake for what was missed);
   * SQLite: a poll of the file's change counter about once a second. A wake is a hint: check the
   * store for due work, never trust it as a count. Resolves with a function that stops watching.
   */
  watchWork(onWake: (hint: WorkHint) => void): Promise<() => Promise<void>>;
}

/** What a wake-up knows: the notification concerned, when one is known. */
export interface WorkHint {
  notificationId: number | null;
}

/**
 * How long (ms) an operation keeps retrying while a PostgreSQL server is unreachable before it
 * fails with store_unavailable, by the kind of process (open option `retryForMs`): a receiver
 * answers 503 after a moment and recovers by itself; a worker waits out a restart or failover.
 */
export const RETRY_BUDGET = { command: 10_000, serve: 2_000, worker: 5 * 60_000 } as const;

/** Subscriptions named by id or endpoint, each id once; names that match none, separately (both backends). */
export async function resolveRefsWith(
  lookup: Pick<Store, 'subscriptionById' | 'subscriptionByEndpoint'>,
  refs: readonly (string | number)[],
): Promise<{ ids: number[]; unknown: string[] }> {
  const ids = new Set<number>();
  const unknown: string[] = [];
  for (const ref of refs) {
    const text = String(ref);
    const row = /^\d+$/.test(text) ? await lookup.subscriptionById(Number(text)) : await lookup.subscriptionByEndpoint(text);
    if (row) ids.add(row.id);
    else unknown.push(text);
  }
  return { ids: [...ids], unknown };
}
