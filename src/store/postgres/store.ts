/**
 * The PostgreSQL backend of the async store: a pg Pool sized for the process, every statement a
 * named prepared statement (src/store/postgres/statements.ts), transactions on one pooled
 * connection, and numbered migrations taken under an advisory lock so that replicas starting
 * together migrate once.
 */
import pg from 'pg';
import { fail, PushctlError } from '../../errors.js';
import { redactLocation } from '../location.js';
import type { CategoryRow, CategoryWithCount } from '../categories.js';
import type { VapidKeyRow } from '../keys.js';
import type { DeliveryCounts, DeliveryState, DeliveryUpdate, NewNotification, NotificationRow, PendingDelivery, TargetQuery } from '../notifications.js';
import type {
  CapRule, DeliveryClaim, FailureRow, SingleSendResult, NotificationListFilter, OccurrenceInsert, Store, StoreOps, SubscriptionUpsert, TableCounts, TableName,
  TableRow, TemplateAdvance, Transaction, TransactionOptions, WorkHint,
} from '../store.js';
import { resolveRefsWith, RETRY_BUDGET, TABLES } from '../store.js';
import type { NotificationStatus } from '../../limits.js';
import type { PruneFilter, SubscriptionDetailRow, SubscriptionRow, SubscriptionWrite } from '../subscriptions.js';
import { mergeDays, type DayRow, type EventKind, type FunnelRow, type TokenOwner } from '../tracking.js';
import { keysetPages } from '../paging.js';
import type { PacedClaim, PacedClaimResult, PacedDelivery } from '../delivery-control.js';
import { MIGRATIONS, SCHEMA_VERSION } from './migrations.js';
import { rewriteEndpointsPostgres } from './endpoint-rewrite.js';
import { IDENTITY_TABLES, isPlainRead, REPEATABLE_WRITES, SQL, tableSql, type StatementName } from './statements.js';
import { describe, isConflictAbort, isTransient, NotSent, Retrier } from './resilience.js';
import { watchNotifications } from './listener.js';

export interface PostgresOpenOptions {
  /** Connections in this process's pool (default 5: a command needs one or two, serve a few). */
  poolSize?: number | undefined;
  /** How long to wait for a connection (default 10 s, and never longer than `retryForMs` when that is set). */
  connectTimeoutMs?: number | undefined;
  /**
   * Refuse a database without pushctl's schema instead of creating it: only the commands that set
   * pushctl up create a store, so a cron job pointed at the wrong database fails loudly.
   */
  mustExist?: boolean | undefined;
  /**
   * How long one operation keeps retrying while the server is unreachable (restart, failover)
   * before it fails with `store_unavailable` (default RETRY_BUDGET.command; serve: a couple of
   * seconds, so it answers 503 meanwhile; send and dispatch: minutes).
   */
  retryForMs?: number | undefined;
}

/** Any number that fits: ids, counts and ms times (bigint) come back as numbers, like SQLite's. */
const INT8 = 20;
const TYPES = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8 ? (value: string) => Number(value) : pg.types.getTypeParser(oid, format ?? 'text')) as typeof pg.types.getTypeParser,
};

/** pg_advisory_lock key for migrations: 'pushctl' folded into 64 bits, fixed forever. */
const MIGRATION_LOCK = '7070757368637431';

const DEFAULT_PAGE = 1000;
/** Recipients per transaction when caps or quiet hours change a send's pending rows in bulk (as on SQLite). */
const PENDING_RANGE = 5_000;
/** A recipient list this long is worth fresh planner statistics before its claims start. */
const ANALYZE_AFTER_ROWS = 10_000;

/** Where statements go: the retrying pool (one statement, one pooled connection) or a transaction's connection. */
interface Executor {
  query<R extends pg.QueryResultRow = Record<string, unknown>>(config: pg.QueryConfig | string): Promise<pg.QueryResult<R>>;
}

/**
 * The pool as the store uses it outside transactions: each statement on a pooled connection,
 * retried (within the store's budget) when no connection could be had, and when the connection
 * died under a statement that is harmless to repeat (REPEATABLE_WRITES, plain reads).
 */
class RetryingPool implements Executor {
  constructor(
    private readonly pool: pg.Pool,
    private readonly retrier: Retrier,
  ) {}

  query<R extends pg.QueryResultRow = Record<string, unknown>>(config: pg.QueryConfig | string): Promise<pg.QueryResult<R>> {
    const statement = typeof config === 'string' ? { text: config } : config;
    const name = statement.name?.replace(/^pushctl_/, '');
    // Unnamed statements are the store's own idempotent upkeep (setval); named ones are judged by name.
    const repeatable = name === undefined || REPEATABLE_WRITES.has(name) || isPlainRead(statement.text);
    return this.retrier.run(async () => {
      let client: pg.PoolClient;
      try {
        client = await checkOut(this.pool);
      } catch (error) {
        throw new NotSent(error);
      }
      try {
        const result = await client.query<R>(statement);
        client.release();
        return result;
      } catch (error) {
        // A connection that failed is not given back to the pool.
        const lost = isTransient(error);
        client.release(lost ? (error as Error) : undefined);
        // A pooled connection found dead before the statement went out sent nothing.
        if (lost && /not queryable/.test((error as Error).message)) throw new NotSent(error);
        throw error;
      }
    }, repeatable);
  }
}
type Atomic = <T>(fn: (ops: PostgresOps) => Promise<T>, lock?: string) => Promise<T>;

class PostgresOps implements StoreOps {
  constructor(
    protected readonly executor: Executor,
    /** Runs `fn` atomically: in the open transaction, or in a new one. */
    protected readonly atomic: Atomic,
  ) {}

  protected async q<R extends pg.QueryResultRow = Record<string, unknown>>(name: StatementName, values: unknown[] = []): Promise<pg.QueryResult<R>> {
    return this.executor.query<R>({ name: `pushctl_${name}`, text: SQL[name], values });
  }
  protected async one<R extends pg.QueryResultRow>(name: StatementName, values: unknown[] = []): Promise<R | undefined> {
    return (await this.q<R>(name, values)).rows[0];
  }
  protected async all<R extends pg.QueryResultRow>(name: StatementName, values: unknown[] = []): Promise<R[]> {
    return (await this.q<R>(name, values)).rows;
  }
  protected async count(name: StatementName, values: unknown[] = []): Promise<number> {
    return (await this.one<{ n: number }>(name, values))?.n ?? 0;
  }
  protected async changed(name: StatementName, values: unknown[] = []): Promise<number> {
    return (await this.q(name, values)).rowCount ?? 0;
  }

  activeKey() { return this.one<VapidKeyRow>('activeKey'); }
  keyById(id: number) { return this.one<VapidKeyRow>('keyById', [id]); }
  keyByPublicKey(publicKey: string) { return this.one<VapidKeyRow>('keyByPublicKey', [publicKey]); }
  allKeys() { return this.all<VapidKeyRow>('allKeys'); }
  insertActiveKey(key: { publicKey: string; privateKey: string; subject: string; createdAt: number }, options: { replace: boolean } = { replace: true }) {
    // Serialised with every other key change: the check and the write are one step.
    return this.atomic(async (tx): Promise<{ row: VapidKeyRow } | { blockedBy: VapidKeyRow }> => {
      const active = await tx.activeKey();
      if (active && active.public_key !== key.publicKey && !options.replace) return { blockedBy: active };
      await tx.q('deactivateKeys');
      const existing = await tx.keyByPublicKey(key.publicKey);
      if (existing) return { row: (await tx.one<VapidKeyRow>('reactivateKey', [existing.id, key.subject]))! };
      return { row: (await tx.one<VapidKeyRow>('insertActiveKey', [key.publicKey, key.privateKey, key.subject, key.createdAt]))! };
    }, 'vapid_keys');
  }
  async setKeySubject(id: number, subject: string) { await this.q('setKeySubject', [id, subject]); }
  subscriptionCountByKey(keyId: number) { return this.count('subscriptionCountByKey', [keyId]); }

  async upsertSubscription(w: SubscriptionWrite) {
    const row = await this.one<{ id: number; created: boolean }>('upsertSubscription', subscriptionValues(w));
    return { id: row!.id, created: row!.created };
  }
  upsertSubscriptions(batch: readonly SubscriptionUpsert[]) {
    return this.atomic(async (tx) => {
      const endpoints = new Set(batch.map((b) => b.write.endpoint));
      // The same endpoint twice in one batch must apply in order: row by row then.
      if (endpoints.size < batch.length) return tx.upsertOneByOne(batch);
      const columns = subscriptionColumns(batch.map((b) => b.write));
      const found = new Map<string, { id: number; created: boolean }>();
      for (const row of (await tx.q<{ id: number; endpoint: string }>('insertSubscriptionBatch', columns.slice(0, 13))).rows) {
        found.set(row.endpoint, { id: row.id, created: true });
      }
      const existing = batch.filter((b) => !found.has(b.write.endpoint));
      if (existing.length) {
        const rows = (await tx.q<{ id: number; endpoint: string }>('updateSubscriptionBatch', subscriptionColumns(existing.map((b) => b.write)))).rows;
        for (const row of rows) found.set(row.endpoint, { id: row.id, created: false });
      }
      // Deleted by someone else between the two statements: those few go row by row.
      const missed = batch.filter((b) => !found.has(b.write.endpoint));
      for (const [i, result] of (await tx.upsertOneByOne(missed)).entries()) found.set(missed[i]!.write.endpoint, result);

      const withCategories = batch.filter((b) => b.categoryIds);
      const cleared = withCategories.map((b) => found.get(b.write.endpoint)!).filter((r) => !r.created).map((r) => r.id);
      if (cleared.length) await tx.q('clearCategoriesOfMany', [cleared]);
      const members: number[] = [];
      const categories: number[] = [];
      for (const b of withCategories) {
        for (const categoryId of b.categoryIds!) {
          members.push(found.get(b.write.endpoint)!.id);
          categories.push(categoryId);
        }
      }
      if (members.length) await tx.q('addMemberships', [members, categories]);
      return batch.map((b) => found.get(b.write.endpoint)!);
    });
  }
  protected async upsertOneByOne(batch: readonly SubscriptionUpsert[]) {
    const results: { id: number; created: boolean }[] = [];
    for (const { write, categoryIds } of batch) {
      const result = await this.upsertSubscription(write);
      if (categoryIds) await this.setCategories(result.id, categoryIds, result.created);
      results.push(result);
    }
    return results;
  }
  async subscriptionIdByEndpoint(endpoint: string) { return (await this.one<{ id: number }>('subscriptionIdByEndpoint', [endpoint]))?.id; }
  async setCategories(subscriptionId: number, categoryIds: readonly number[], created: boolean) {
    if (!created) await this.q('clearCategories', [subscriptionId]);
    if (categoryIds.length) await this.q('addCategories', [subscriptionId, categoryIds]);
  }
  subscriptionById(id: number) { return this.one<SubscriptionRow>('subscriptionById', [id]); }
  subscriptionByEndpoint(endpoint: string) { return this.one<SubscriptionRow>('subscriptionByEndpoint', [endpoint]); }
  async deleteSubscription(id: number) { return (await this.changed('deleteSubscription', [id])) > 0; }
  async categoryIdsOf(subscriptionId: number) { return (await this.all<{ category_id: number }>('categoryIdsOf', [subscriptionId])).map((r) => r.category_id); }
  countSubscriptions(categoryId?: number) {
    return categoryId === undefined ? this.count('countSubscriptions') : this.count('countSubscriptionsInCategory', [categoryId]);
  }
  subscriptionDetail(id: number) { return this.one<SubscriptionDetailRow>('subscriptionDetail', [id]); }
  streamSubscriptionDetails(options: { categoryId?: number | undefined; limit?: number | undefined; pageSize?: number | undefined }) {
    // Keyset pages: no cursor holding a connection and a snapshot open while the caller works.
    const { categoryId } = options;
    return keysetPages(
      (after: number, limit: number) =>
        categoryId === undefined
          ? this.all<SubscriptionDetailRow>('subscriptionDetailPage', [after, limit])
          : this.all<SubscriptionDetailRow>('subscriptionDetailPageInCategory', [after, limit, categoryId]),
      (row) => row.id,
      -1,
      { pageSize: options.pageSize ?? DEFAULT_PAGE, limit: options.limit },
    );
  }
  countPrunable(filter: PruneFilter) { return this.count('countPrunable', pruneValues(filter)); }
  deletePrunable(filter: PruneFilter) { return this.changed('deletePrunable', pruneValues(filter)); }

  async insertCategory(category: { name: string; description: string | null; createdAt: number }) {
    return (await this.one<CategoryRow>('insertCategory', [category.name, category.description, category.createdAt]))!;
  }
  categoryById(id: number) { return this.one<CategoryRow>('categoryById', [id]); }
  categoryByName(name: string) { return this.one<CategoryRow>('categoryByName', [name]); }
  categoryWithCount(id: number) { return this.one<CategoryWithCount>('categoryWithCount', [id]); }
  allCategoriesWithCounts() { return this.all<CategoryWithCount>('allCategoriesWithCounts'); }
  async categoryIdsByName() { return new Map((await this.all<{ id: number; name: string }>('categoryIdsByName')).map((r) => [r.name, r.id])); }
  async updateCategory(id: number, change: { name?: string; description?: string | null }) {
    if (change.name !== undefined) await this.q('renameCategory', [id, change.name]);
    if (change.description !== undefined) await this.q('describeCategory', [id, change.description]);
  }
  async deleteCategory(id: number) { return (await this.changed('deleteCategory', [id])) > 0; }
  addMembers(categoryId: number, ids: readonly number[]) { return ids.length ? this.changed('addMembers', [categoryId, ids]) : Promise.resolve(0); }
  removeMembers(categoryId: number, ids: readonly number[]) { return ids.length ? this.changed('removeMembers', [categoryId, ids]) : Promise.resolve(0); }
  async existingCategoryNames(names: string[]) {
    if (!names.length) return new Set<string>();
    return new Set((await this.all<{ name: string }>('existingCategoryNames', [names])).map((r) => r.name));
  }

  async insertNotification(row: NewNotification) {
    const inserted = await this.one<{ id: number }>('insertNotification', [
      row.payload, row.target, row.ttl, row.urgency, row.topic, row.status, row.send_at, row.cron, row.tz, row.until_at, row.remaining_count,
      row.stale_after_ms, row.idempotency_key, row.created_at, row.parent_id ?? null, row.slot_at ?? null, row.lease_owner ?? null, row.lease_expires_at ?? null,
      row.urgent ?? 0, row.local_time ?? null, row.rate ?? null,
    ]);
    await this.notifyWork(inserted!.id);
    return inserted!.id;
  }
  async setTopic(id: number, topic: string) { await this.q('setTopic', [id, topic]); }
  async setTopicIf(id: number, from: string, to: string) { await this.q('setTopicIf', [id, from, to]); }
  notificationById(id: number) { return this.one<NotificationRow>('notificationById', [id]); }
  notificationByIdempotencyKey(key: string) { return this.one<NotificationRow>('notificationByIdempotencyKey', [key]); }
  async clearIdempotencyKey(id: number) { await this.q('clearIdempotencyKey', [id]); }
  listNotifications(filter: NotificationListFilter) {
    return this.all<NotificationRow>('listNotifications', [filter.status || null, filter.since ?? null, filter.limit, filter.offset]);
  }
  async deleteNotification(id: number) { return (await this.changed('deleteNotification', [id])) > 0; }
  async setStatus(id: number, status: NotificationStatus, extra: { error?: string | null; finished_at?: number | null } = {}) {
    await this.q('setStatus', [id, status, extra.error ?? null, extra.finished_at ?? null]);
  }
  async cancelNotification(id: number, now: number) {
    const cancelled = (await this.changed('cancelNotification', [id, now])) > 0;
    if (cancelled) await this.notifyWork(id);
    return cancelled;
  }
  async finishSingleSend(id: number, r: SingleSendResult) {
    await this.q('finishSingleSend', [id, r.status, r.sent, r.gone, r.failed, r.error, r.startedAt, r.finishedAt]);
  }
  resolveSubscriptionRefs(refs: (string | number)[]) { return resolveRefsWith(this, refs); }

  async tryAcquireLease(id: number, owner: string, now: number, leaseMs: number) { return (await this.changed('tryAcquireLease', [id, owner, now, now + leaseMs])) > 0; }
  async takeOverLease(id: number, deadOwner: string, owner: string, now: number, leaseMs: number) {
    return (await this.changed('takeOverLease', [id, owner, deadOwner, now + leaseMs])) > 0;
  }
  async renewLease(id: number, owner: string, now: number, leaseMs: number) { return (await this.changed('renewLease', [id, owner, now + leaseMs])) > 0; }
  async releaseLease(id: number, owner: string) {
    // A send left by its holder may have work left for others.
    if ((await this.changed('releaseLease', [id, owner])) > 0) await this.notifyWork(id);
  }
  async leaseHolder(id: number) { return (await this.one<{ owner: string | null; expiresAt: number | null }>('leaseHolder', [id])) ?? { owner: null, expiresAt: null }; }

  countRecipients(target: TargetQuery, now: number) {
    if (target.all) return this.count('countAll', [now]);
    if (target.categories) return this.count('countInCategories', [target.categories, now]);
    return this.count('countByIds', [target.subscriptionIds ?? [], now]);
  }
  async recipientEndpoints(target: TargetQuery, now: number, limit: number) {
    const rows = target.all
      ? await this.all<{ endpoint: string }>('endpointsAll', [now, limit])
      : target.categories
        ? await this.all<{ endpoint: string }>('endpointsInCategories', [target.categories, now, limit])
        : await this.all<{ endpoint: string }>('endpointsByIds', [target.subscriptionIds ?? [], now, limit]);
    return rows.map((row) => row.endpoint);
  }
  fixRecipients(id: number, target: TargetQuery, now: number) {
    return this.atomic(async (tx) => {
      // The row lock makes a second starter wait, then see started_at set.
      const row = await tx.one<{ started_at: number | null }>('lockForStart', [id]);
      if (!row || row.started_at !== null) return false;
      const inserted = target.all
        ? await tx.changed('fixAll', [id, now])
        : target.categories
          ? await tx.changed('fixInCategories', [target.categories, id, now])
          : await tx.changed('fixByIds', [target.subscriptionIds ?? [], id, now]);
      await tx.q('markStarted', [id, now, inserted]);
      // Workers elsewhere join the send once its recipients are fixed (delivered at commit).
      await tx.notifyWork(id);
      // Autovacuum would analyze within a minute or so; a send's first minute must not run on
      // statistics from before its rows existed (claims would scan the whole send per chunk).
      if (inserted >= ANALYZE_AFTER_ROWS) await tx.executor.query(SQL.analyzeDeliveries);
      return true;
    });
  }
  pendingPage(id: number, after: number, now: number, limit: number) { return this.all<PendingDelivery>('pendingPage', [id, after, now, limit]); }
  claimDeliveries(claim: DeliveryClaim) {
    return this.all<PendingDelivery>('claimDeliveries', [claim.notificationId, claim.now, claim.now + claim.leaseMs, claim.limit]);
  }
  async nextRetryAt(id: number) {
    const row = await this.one<{ pending: number; earliest: number | null }>('nextRetryAt', [id]);
    return row ?? { pending: 0, earliest: null };
  }
  async earliestRetryAfter(id: number, after: number) { return (await this.one<{ t: number | null }>('earliestRetryAfter', [id, after]))?.t ?? null; }
  async recordDeliveries(updates: readonly DeliveryUpdate[]) {
    if (!updates.length) return;
    await this.q('recordDeliveries', [
      updates.map((u) => u.notificationId), updates.map((u) => u.subscriptionId), updates.map((u) => u.state),
      updates.map((u) => u.statusCode), updates.map((u) => u.error), updates.map((u) => u.nextAttemptAt), updates.map((u) => u.now),
    ]);
  }
  async deliveryCounts(id: number) {
    const counts: DeliveryCounts = { total: 0, sent: 0, gone: 0, failed: 0, pending: 0, capped: 0 };
    for (const { state, n } of await this.all<{ state: string; n: number }>('deliveryCounts', [id])) {
      counts.total += n;
      if (state in counts) counts[state as DeliveryState] += n;
    }
    return counts;
  }
  async storeCounts(id: number, c: DeliveryCounts) { await this.q('storeCounts', [id, c.total, c.sent, c.gone, c.failed, c.capped]); }
  recentFailures(id: number, limit: number) { return this.all<FailureRow>('recentFailures', [id, limit]); }

  claimNext(owner: string, now: number, leaseMs: number, exclude: readonly number[]) { return this.one<NotificationRow>('claimNext', [now, owner, now + leaseMs, exclude]); }
  async markSkipped(id: number, owner: string, error: string, now: number) { return (await this.changed('markSkipped', [id, owner, error, now])) > 0; }
  dueTemplates(now: number) { return this.all<NotificationRow>('dueTemplates', [now]); }
  async insertOccurrence(o: OccurrenceInsert) {
    const id = (await this.one<{ id: number }>('insertOccurrence', [o.parentId, o.status, o.slotAt, o.now, o.error]))?.id ?? null;
    if (id !== null && o.status === 'scheduled') await this.notifyWork(id);
    return id;
  }
  async advanceTemplate(id: number, fromSlot: number, next: TemplateAdvance) {
    return 'sendAt' in next
      ? (await this.changed('advanceTemplate', [id, fromSlot, next.sendAt, next.remaining])) > 0
      : (await this.changed('finishTemplate', [id, fromSlot, next.finishedAt, next.remaining])) > 0;
  }
  async nextWorkAt() { return (await this.one<{ t: number | null }>('nextWorkAt'))?.t ?? null; }
  occurrenceRows(parentId: number, limit: number) { return this.all<NotificationRow>('occurrenceRows', [parentId, limit]); }
  occurrenceCount(parentId: number) { return this.count('occurrenceCount', [parentId]); }
  async liveOccurrences(parentId: number, now: number) { return (await this.all<{ id: number }>('liveOccurrences', [parentId, now])).map((r) => r.id); }
  cancelScheduledOccurrences(parentId: number, now: number) { return this.changed('cancelScheduledOccurrences', [parentId, now]); }
  deleteOccurrences(parentId: number) { return this.changed('deleteOccurrences', [parentId]); }
  async reopenForResume(id: number) {
    const reopened = (await this.changed('reopenForResume', [id])) > 0;
    if (reopened) await this.notifyWork(id);
    return reopened;
  }
  deferredSends(now: number) { return this.all<{ id: number; deliveries: number; dueAt: number }>('deferredSends', [now]); }

  async setTracking(notificationId: number, tracking: string | null) { await this.q('setTracking', [notificationId, tracking]); }
  async trackingOf(notificationId: number) { return (await this.one<{ tracking: string | null }>('trackingOf', [notificationId]))?.tracking ?? null; }
  async issueTokens(notificationId: number, subscriptionIds: readonly number[], newToken: () => string) {
    if (!subscriptionIds.length) return new Map<number, string>();
    // Two statements, no transaction needed: an insert that loses to an earlier token changes nothing.
    await this.q('insertTokens', [notificationId, subscriptionIds, subscriptionIds.map(() => newToken())]);
    const issued = new Map((await this.all<{ subscription_id: number; token: string }>('tokensOf', [notificationId, subscriptionIds])).map((r) => [r.subscription_id, r.token]));
    // In the order asked, as on SQLite.
    return new Map(subscriptionIds.map((id) => [id, issued.get(id)!]));
  }
  deliveryByToken(token: string) { return this.one<TokenOwner>('deliveryByToken', [token]); }
  trackedDelivery(notificationId: number, subscriptionId: number) { return this.one<TokenOwner>('trackedDelivery', [notificationId, subscriptionId]); }
  async secret(name: string, create: () => string) {
    // Two statements, no transaction needed: an insert that loses to an earlier secret changes nothing.
    await this.q('insertSecret', [name, create()]);
    return (await this.one<{ value: string }>('secret', [name]))!.value;
  }
  async readSecret(name: string) { return (await this.one<{ value: string }>('secret', [name]))?.value; }
  async insertEvent(event: { notificationId: number; subscriptionId: number; kind: EventKind; action: string | null; at: number }) {
    return (await this.changed('insertEvent', [event.notificationId, event.subscriptionId, event.kind, event.action, event.at])) > 0;
  }
  async funnelCounts(notificationId: number): Promise<FunnelRow> {
    const [ledger, events] = await Promise.all([
      this.one<{ targeted: number; delivered: number }>('ledgerFunnel', [notificationId]),
      this.one<{ shown: number; clicked: number; dismissed: number }>('eventFunnel', [notificationId]),
    ]);
    return { ...ledger!, ...events! };
  }
  clicksByAction(notificationId: number) { return this.all<{ action: string | null; clicks: number }>('clicksByAction', [notificationId]); }
  async dailyCounts(since: number, category: string | undefined): Promise<DayRow[]> {
    const values = [since, category ?? null];
    const [delivered, events] = await Promise.all([
      this.all<{ day: number; n: number }>('dailyDelivered', values),
      this.all<{ day: number; kind: EventKind; n: number }>('dailyEvents', values),
    ]);
    return mergeDays(delivered, events);
  }

  async ping() { await this.q('ping'); }
  notificationsByStatus() { return this.all<{ status: string; n: number }>('notificationsByStatus'); }
  overdueNotifications(now: number) { return this.count('overdueNotifications', [now]); }
  async pendingDeliveries(now: number) { return (await this.one<{ due: number; deferred: number }>('pendingDeliveries', [now]))!; }
  subscriptionsByCategory() { return this.all<{ name: string; n: number }>('subscriptionsByCategory'); }

  async updateLocale(id: number, change: { timeZone?: string | null | undefined; language?: string | null | undefined }, now: number) {
    const values = [id, now, change.timeZone !== undefined, change.timeZone ?? null, change.language !== undefined, change.language ?? null];
    return (await this.changed('updateLocale', values)) > 0;
  }
  async categoryCapsByName(names: readonly string[]) {
    if (!names.length) return new Map<string, string>();
    return new Map((await this.all<{ name: string; frequency_cap: string }>('categoryCapsByName', [names])).map((r) => [r.name, r.frequency_cap]));
  }
  async setCategoryCap(id: number, cap: string | null) { await this.q('setCategoryCap', [id, cap]); }
  capPendingDeliveries(id: number, now: number, caps: readonly CapRule[]) {
    return this.inPendingRanges(id, async (tx, lo, hi) => {
      let changed = 0;
      for (const cap of caps) changed += await tx.changed('capRange', [id, now, lo, hi, cap.since, cap.limit, cap.category ?? null]);
      return changed;
    });
  }
  async categoryQuietHours(names: readonly string[]) {
    if (!names.length) return [];
    return (await this.all<{ name: string; quiet_hours: string }>('categoryQuietHours', [names])).map((r): [string, string] => [r.name, r.quiet_hours]);
  }
  async setCategoryQuietHours(id: number, text: string | null) { await this.q('setCategoryQuietHours', [id, text]); }
  async pendingZones(id: number) { return (await this.all<{ zone: string | null }>('pendingZones', [id])).map((r) => r.zone); }
  deferZones(id: number, zones: ReadonlyMap<string | null, { until: number; reason: string }>) {
    if (!zones.size) return Promise.resolve(0);
    const entries = [...zones];
    const arrays = [entries.map(([zone]) => zone), entries.map(([, q]) => q.until), entries.map(([, q]) => q.reason)];
    return this.inPendingRanges(id, async (tx, lo, hi) => {
      const deferred = await tx.changed('deferZones', [id, lo, hi, ...arrays]);
      // A watcher sleeping until the next due time learns of the new one.
      if (deferred) await tx.notifyWork(id);
      return deferred;
    });
  }
  async deferredSummary(id: number, reasonLike: string) { return (await this.one<{ count: number; until: number | null }>('deferredSummary', [id, reasonLike]))!; }

  async lastRun(task: string) { return (await this.one<{ last_run_at: number }>('lastRun', [task]))?.last_run_at ?? null; }
  async claimRun(task: string, now: number, everyMs: number) { return (await this.changed('claimRun', [task, now, everyMs])) > 0; }
  async prunableHistory(before: number) { return (await this.one<{ notifications: number; deliveries: number }>('prunableHistory', [before]))!; }
  async prunableHistoryIds(before: number, limit: number) { return (await this.all<{ id: number }>('prunableHistoryIds', [before, limit])).map((r) => r.id); }
  pruneLedger(id: number, now: number) {
    return this.atomic(async (tx) => {
      await tx.storeCounts(id, await tx.deliveryCounts(id));
      await tx.q('markLedgerPruned', [id, now]);
      return tx.changed('deleteLedger', [id]);
    });
  }

  /**
   * Calls `step(lo, hi)` per range of a notification's pending recipients, each in its own
   * transaction (each step is idempotent, so a crash between ranges leaves nothing a rerun would
   * not finish); returns the sum of its results.
   */
  protected async inPendingRanges(id: number, step: (tx: PostgresOps, lo: number, hi: number) => Promise<number>): Promise<number> {
    let total = 0;
    for (let after = 0; ; ) {
      const range = await this.one<{ lo: number | null; hi: number | null }>('pendingRange', [id, after, PENDING_RANGE]);
      if (!range || range.lo === null || range.hi === null) return total;
      const { lo, hi } = range;
      total += await this.atomic((tx) => step(tx, lo, hi));
      after = hi;
    }
  }

  async tableCounts() { return (await this.one<TableCounts>('tableCounts'))!; }
  streamRows(table: TableName, pageSize = DEFAULT_PAGE) {
    const { key } = TABLES.find((t) => t.name === table)!;
    const sql = TABLE_SQL.get(table)!;
    return keysetPages(
      async (after: unknown[] | null, limit: number) =>
        (after === null
          ? await this.executor.query<TableRow>({ name: `pushctl_first_${table}`, text: sql.first, values: [limit] })
          : await this.executor.query<TableRow>({ name: `pushctl_page_${table}`, text: sql.page, values: [...after, limit] })
        ).rows,
      (row): unknown[] | null => key.map((column) => row[column]),
      null,
      { pageSize },
    );
  }
  async insertRows(table: TableName, rows: readonly TableRow[]) {
    if (!rows.length) return;
    await this.executor.query({ name: `pushctl_insert_${table}`, text: TABLE_SQL.get(table)!.insert, values: [JSON.stringify(rows)] });
  }
  clearAll() {
    return this.atomic(async (tx) => {
      await tx.executor.query(`TRUNCATE ${TABLES.map((t) => t.name).join(', ')} CASCADE`);
    });
  }
  async resetIdentities() {
    for (const table of IDENTITY_TABLES) {
      await this.executor.query(`SELECT setval(pg_get_serial_sequence('${table}', 'id'), coalesce((SELECT max(id) FROM ${table}), 0) + 1, false)`);
    }
  }

  // ---- delivery control (migration 6; issue 14) ----
  markStaleKeys(ids: readonly number[], now: number) { return ids.length ? this.changed('markStaleKeys', [ids, now]) : Promise.resolve(0); }
  claimPaced(claim: PacedClaim) {
    return this.atomic(async (tx): Promise<PacedClaimResult> => {
      const cursor = (await tx.one<{ paced_until: number | null }>('pacedCursor', [claim.notificationId]))?.paced_until ?? null;
      const start = Math.max(cursor ?? claim.now, claim.now);
      const room = start > claim.now + claim.horizonMs ? 0 : Math.floor((claim.now + claim.horizonMs - start) / claim.intervalMs) + 1;
      const limit = Math.min(room, claim.limit);
      if (limit <= 0) return { rows: [], pacedUntil: start };
      const rows = await tx.all<PacedDelivery>('claimPaced', [claim.notificationId, claim.now, start, limit, claim.intervalMs, claim.leaseMs]);
      const pacedUntil = start + Math.ceil(rows.length * claim.intervalMs);
      if (rows.length) await tx.q('setPacedUntil', [claim.notificationId, pacedUntil]);
      return { rows, pacedUntil };
    });
  }
  giveBackClaims(id: number, ids: readonly number[], now: number) { return ids.length ? this.changed('giveBackClaims', [id, ids, now]) : Promise.resolve(0); }
  pendingByDueTime(id: number) { return this.all<{ dueAt: number | null; zone: string | null; deliveries: number }>('pendingByDueTime', [id]); }
  async pacedSendsInProgress(now: number) { return (await this.all<{ id: number }>('pacedSendsInProgress', [now])).map((r) => r.id); }
  async targetZones(target: TargetQuery, now: number) {
    const rows = target.all
      ? await this.all<{ zone: string | null }>('zonesOfAll', [now])
      : target.categories
        ? await this.all<{ zone: string | null }>('zonesInCategories', [target.categories, now])
        : await this.all<{ zone: string | null }>('zonesByIds', [target.subscriptionIds ?? [], now]);
    return rows.map((r) => r.zone);
  }
  // ---- shared sends (issue 11) ----
  renewClaims(notificationId: number, subscriptionIds: readonly number[], fromLease: number, toLease: number) {
    if (!subscriptionIds.length) return Promise.resolve(0);
    return this.changed('renewClaims', [notificationId, subscriptionIds, fromLease, toLease]);
  }
  async joinableSends(owner: string, now: number, limit: number) {
    return (await this.all<{ id: number }>('joinableSends', [owner, now, limit])).map((r) => r.id);
  }
  releaseClaims(notificationId: number, lease: number, now: number) { return this.changed('releaseClaims', [notificationId, lease, now]); }
  /** Wakes every watchWork listener (at commit, inside a transaction). */
  protected async notifyWork(id: number) { await this.q('notifyWork', [String(id)]); }
}

/** A write as the upsert statements' parameters: the row's 13 values, then 5 flags ("given", so update it). */
function subscriptionValues(w: SubscriptionWrite): unknown[] {
  return [
    w.endpoint, w.p256dh, w.auth, w.keyId, w.expirationTime, w.label ?? null, w.userAgent ?? null,
    w.createdAt ?? w.updatedAt, w.updatedAt, w.lastSuccessAt ?? null, w.failureCount ?? 0, w.timeZone ?? null, w.language ?? null,
    w.label !== undefined, w.userAgent !== undefined, w.lastSuccessAt !== undefined, w.timeZone !== undefined, w.language !== undefined,
  ];
}

/** A batch of writes as the column arrays the batch statements unnest, in the same order. */
function subscriptionColumns(writes: readonly SubscriptionWrite[]): unknown[][] {
  const rows = writes.map(subscriptionValues);
  return rows.length ? rows[0]!.map((_, i) => rows.map((row) => row[i])) : [];
}

function pruneValues(filter: PruneFilter): unknown[] {
  return [filter.noSuccessSince ?? null, filter.failedMoreThan ?? null, filter.expiredAt ?? null];
}

const TABLE_SQL = new Map(TABLES.map((table) => [table.name, tableSql(table)]));

class PostgresTransaction extends PostgresOps implements Transaction {
  private depth = 0;

  constructor(private readonly client: pg.PoolClient) {
    super(client, (fn) => fn(this));
  }

  async savepoint<T>(fn: (tx: Transaction) => Promise<T>): Promise<T> {
    const name = `pushctl_sp${++this.depth}`;
    await this.client.query(`SAVEPOINT ${name}`);
    try {
      const result = await fn(this);
      await this.client.query(`RELEASE SAVEPOINT ${name}`);
      return result;
    } catch (error) {
      await this.client.query(`ROLLBACK TO SAVEPOINT ${name}`);
      throw error;
    } finally {
      this.depth -= 1;
    }
  }
}

/** Longest wait for a free pooled connection (at least the retry budget): a wait, not an outage. */
const POOL_WAIT_MS = 30_000;

export class PostgresStore extends PostgresOps implements Store {
  readonly backend = 'postgres' as const;
  readonly location: string;

  private constructor(
    private readonly pool: pg.Pool,
    url: string,
    private readonly connection: pg.ClientConfig,
    private readonly retrier: Retrier,
  ) {
    super(new RetryingPool(pool, retrier), (fn, lock) => this.transaction((tx) => fn(tx as PostgresTransaction), { lock }));
    this.location = redactLocation(url);
  }

  /** Connects, brings the schema up to date (once, whoever else starts now), and returns the store. */
  static async open(url: string, options: PostgresOpenOptions = {}): Promise<PostgresStore> {
    const retryForMs = options.retryForMs ?? RETRY_BUDGET.command;
    const connection: pg.ClientConfig = {
      connectionString: url,
      // A server that does not answer at all (a black-holed address) must not outlast the budget by much.
      connectionTimeoutMillis: options.connectTimeoutMs ?? Math.min(10_000, Math.max(1_000, retryForMs)),
      application_name: 'pushctl',
      types: TYPES,
    };
    // pg-pool's connectionTimeoutMillis bounds both opening a connection and waiting for a free
    // one; with the connect timeout there, a pool busy under load looked like a lost server (serve
    // answered 503 with PostgreSQL up). So the client bounds its own connect, and the pool's wait
    // gets a bound of its own, far longer: long enough for any queue under load, short enough that
    // requests queued behind statements hung on a vanished server still end (then as an outage).
    const connectTimeout = connection.connectionTimeoutMillis;
    class ConnectBoundedClient extends pg.Client {
      constructor(config: pg.ClientConfig = {}) {
        super({ ...config, connectionTimeoutMillis: connectTimeout });
      }
    }
    const poolWaitMs = Math.max(POOL_WAIT_MS, retryForMs);
    const pool = new pg.Pool({ ...connection, connectionTimeoutMillis: poolWaitMs, Client: ConnectBoundedClient, max: options.poolSize ?? 5 });
    // An idle connection dropped by the server must not crash the process; the next query reconnects.
    pool.on('error', () => {});
    const location = redactLocation(url);
    const store = new PostgresStore(pool, url, connection, new Retrier({ retryForMs }, location));
    const cannotOpen = (code: 'invalid_input' | 'store_unavailable', cause: unknown) =>
      fail(code, `database ${location}: cannot open: ${describe(cause)}`, { worded: true, details: { database: location } });
    try {
      // A server still starting (or restarting) is waited for within the budget, like any
      // operation; migrating again is safe (each migration commits with its version row).
      await store.retrier.run(
        async () => {
          if (options.mustExist && !(await hasSchema(pool))) {
            throw fail('store_not_found', `database ${location} has no pushctl store in it yet`, { details: { database: location } });
          }
          await migrate(pool, location);
        },
        true,
        (cause) => cannotOpen('store_unavailable', cause),
      );
    } catch (error) {
      await pool.end().catch(() => {});
      // Unreachable: store_unavailable (try again later); reachable but refused (password, no such database): fix the URL.
      throw error instanceof PushctlError ? error : cannotOpen('invalid_input', error);
    }
    return store;
  }

  async schemaVersion(): Promise<number> {
    return (await this.executor.query<{ v: number | null }>('SELECT max(version) AS v FROM pushctl_schema_migrations')).rows[0]?.v ?? 0;
  }

  /**
   * One transaction on one pooled connection. When the connection is lost before COMMIT was sent
   * the server rolled everything back, so `fn` runs again from the start (within the retry
   * budget; `fn` must touch nothing but `tx`); lost during COMMIT, the outcome is unknown and
   * the caller gets store_unavailable.
   */
  transaction<T>(fn: (tx: Transaction) => Promise<T>, options: TransactionOptions = {}): Promise<T> {
    return this.retrier.run(() => this.transactionOnce(fn, options), false);
  }

  private async transactionOnce<T>(fn: (tx: Transaction) => Promise<T>, options: TransactionOptions): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await checkOut(this.pool);
    } catch (error) {
      throw new NotSent(error);
    }
    let broken: Error | undefined;
    try {
      let result: T;
      try {
        await client.query('BEGIN');
        if (options.lock) await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`pushctl:${options.lock}`]);
        result = await fn(new PostgresTransaction(client));
      } catch (error) {
        await client.query('ROLLBACK').catch((rollbackError: Error) => (broken = rollbackError));
        // Nothing was committed: a lost connection, a deadlock or a serialisation failure is a
        // clean start over.
        throw isTransient(error) || isConflictAbort(error) ? new NotSent(error) : error;
      }
      try {
        await client.query('COMMIT');
      } catch (error) {
        if (isTransient(error)) broken = error as Error;
        throw error;
      }
      return result;
    } finally {
      // A connection that could not even roll back is thrown away, not returned to the pool.
      client.release(broken);
    }
  }

  async close(): Promise<void> {
    await Promise.all([...this.watches].map((stop) => stop()));
    await this.pool.end();
  }

  // ---- shared sends: work wake-ups (issue 11) ----
  private readonly watches = new Set<() => Promise<void>>();

  async watchWork(onWake: (hint: WorkHint) => void): Promise<() => Promise<void>> {
    const stopListening = await watchNotifications(this.connection, this.retrier, onWake);
    const stop = async () => {
      if (!this.watches.delete(stop)) return;
      await stopListening();
    };
    this.watches.add(stop);
    return stop;
  }
}

/**
 * A pooled connection that may die while checked out without taking the process down: pg emits
 * 'error' on it then (the pool listens only while it is idle). Released, it goes back to the pool
 * only if it did not die meanwhile.
 */
async function checkOut(pool: pg.Pool): Promise<pg.PoolClient> {
  const client = await pool.connect();
  let lost: Error | undefined;
  const onError = (error: Error) => (lost = error);
  client.on('error', onError);
  const release = client.release.bind(client);
  client.release = (error?: Error | boolean) => {
    client.removeListener('error', onError);
    release(error ?? lost);
  };
  return client;
}

async function hasSchema(pool: pg.Pool): Promise<boolean> {
  return (await pool.query<{ t: string | null }>("SELECT to_regclass('pushctl_schema_migrations')::text AS t")).rows[0]?.t != null;
}

/**
 * Applies the missing migrations under a session advisory lock: replicas starting together wait
 * for the first, then find nothing left to do. Each migration commits with its version row.
 */
async function migrate(pool: pg.Pool, location: string): Promise<void> {
  const client = await checkOut(pool);
  let broken: Error | undefined;
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    try {
      await client.query(`CREATE TABLE IF NOT EXISTS pushctl_schema_migrations (
        version integer PRIMARY KEY, description text NOT NULL, applied_at bigint NOT NULL)`);
      const current = (await client.query<{ v: number | null }>('SELECT max(version) AS v FROM pushctl_schema_migrations')).rows[0]?.v ?? 0;
      if (current > SCHEMA_VERSION) {
        throw fail(
          'conflict',
          `database ${location} has schema version ${current}, but this pushctl knows only up to ${SCHEMA_VERSION}: it was written by a newer pushctl. Upgrade pushctl to use it.`,
          { details: { database: location, schemaVersion: current, supported: SCHEMA_VERSION } },
        );
      }
      for (const migration of MIGRATIONS) {
        if (migration.version <= current) continue;
        await client.query('BEGIN');
        try {
          await client.query(migration.sql);
          if (migration.step === 'rewrite-endpoints') await rewriteEndpointsPostgres(client);
          await client.query('INSERT INTO pushctl_schema_migrations (version, description, applied_at) VALUES ($1, $2, $3)', [
            migration.version, migration.description, Date.now(),
          ]);
          await client.query('COMMIT');
        } catch (error) {
          await client.query('ROLLBACK').catch((e: Error) => (broken = e));
          throw error;
        }
      }
    } finally {
      if (!broken) await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch((e: Error) => (broken = e));
    }
  } finally {
    client.release(broken);
  }
}
