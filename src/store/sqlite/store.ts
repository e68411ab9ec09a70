/**
 * The SQLite backend of the async store. One better-sqlite3 connection, prepared statements,
 * synchronous calls underneath: each operation is one promise around work that never yields, so
 * the speed is SQLite's. Because the connection is one, an open transaction owns it: operations
 * on the store itself wait until the transaction ends (the `gate`), while `tx` runs at once.
 */
import type Database from 'better-sqlite3';
import * as categories from '../categories.js';
import { openDatabase, type Db, type OpenOptions } from '../db.js';
import * as deliveryControl from '../delivery-control.js';
import * as dispatch from '../dispatch.js';
import * as caps from '../frequency-caps.js';
import * as maintenance from '../maintenance.js';
import * as quietHours from '../quiet-hours.js';
import * as keys from '../keys.js';
import * as notifications from '../notifications.js';
import * as stats from '../stats.js';
import type {
  CapRule, DeliveryClaim, FailureRow, SingleSendResult, NotificationListFilter, OccurrenceInsert, Store, StoreOps, SubscriptionUpsert, TableCounts, TableName,
  TableRow, TemplateAdvance, Transaction, TransactionOptions, WorkHint,
} from '../store.js';
import { resolveRefsWith, TABLES } from '../store.js';
import type { NotificationStatus } from '../../limits.js';
import * as subscriptions from '../subscriptions.js';
import * as tracking from '../tracking.js';
import { keysetPages } from '../paging.js';
import { prepareStatements, tableStatements, type Statements } from './statements.js';

type Turn = () => Promise<void> | undefined;
type Ledger = { recordMany(updates: notifications.DeliveryUpdate[]): void };

const DEFAULT_PAGE = 1000;
/** As store/db.ts opens the connection. */
const DEFAULT_BUSY_TIMEOUT_MS = 10_000;

class SqliteOps implements StoreOps {
  constructor(
    readonly db: Db,
    protected readonly sql: Statements,
    private readonly ledger: Ledger,
    /** Resolves when the connection is free for this caller (undefined: it is now). */
    protected readonly turn: Turn,
  ) {
    // Transaction functions are made once: making one costs more than running it.
    this.upsertBatch = db.transaction((batch: readonly SubscriptionUpsert[]) =>
      batch.map(({ write, categoryIds }) => {
        const result = subscriptions.upsertSubscription(db, write);
        if (categoryIds) subscriptions.setCategories(db, result.id, categoryIds, result.created);
        return result;
      }),
    );
    // SQLite has one writer at a time: select and lease inside one IMMEDIATE transaction, and no
    // other process can see these rows as due in between.
    this.claimChunk = db.transaction((claim: DeliveryClaim) => {
      const rows = sql.dueDeliveries.all({ id: claim.notificationId, now: claim.now, limit: claim.limit }) as notifications.PendingDelivery[];
      const until = claim.now + claim.leaseMs;
      if (rows.length) sql.leaseDeliveries.run(until, claim.notificationId, JSON.stringify(rows.map((row) => row.subscription_id)));
      return rows;
    });
  }

  /** A savepoint when already inside a transaction (an import's), its own transaction otherwise. */
  private readonly upsertBatch: Database.Transaction<(batch: readonly SubscriptionUpsert[]) => { id: number; created: boolean }[]>;
  private readonly claimChunk: Database.Transaction<(claim: DeliveryClaim) => notifications.PendingDelivery[]>;
  /** Prepared on first use (a command that issues no token need not pay for it at open). */
  private tokenIssuerMade: ReturnType<typeof tracking.prepareTokenIssuer> | undefined;
  private get tokenIssuer(): ReturnType<typeof tracking.prepareTokenIssuer> {
    return (this.tokenIssuerMade ??= tracking.prepareTokenIssuer(this.db));
  }

  async activeKey() { await this.turn(); return keys.activeKey(this.db); }
  async keyById(id: number) { await this.turn(); return keys.keyById(this.db, id); }
  async keyByPublicKey(publicKey: string) { await this.turn(); return keys.keyByPublicKey(this.db, publicKey); }
  async allKeys() { await this.turn(); return keys.allKeys(this.db); }
  async insertActiveKey(key: { publicKey: string; privateKey: string; subject: string; createdAt: number }, options?: { replace: boolean }) {
    await this.turn();
    return keys.insertActiveKey(this.db, key, options);
  }
  async setKeySubject(id: number, subject: string) { await this.turn(); keys.setKeySubject(this.db, id, subject); }
  async subscriptionCountByKey(keyId: number) { await this.turn(); return keys.subscriptionCountByKey(this.db, keyId); }

  async upsertSubscription(write: subscriptions.SubscriptionWrite) { await this.turn(); return subscriptions.upsertSubscription(this.db, write); }
  async upsertSubscriptions(batch: readonly SubscriptionUpsert[]) {
    await this.turn();
    return this.upsertBatch(batch);
  }
  async subscriptionIdByEndpoint(endpoint: string) { await this.turn(); return subscriptions.subscriptionIdByEndpoint(this.db, endpoint); }
  async setCategories(subscriptionId: number, categoryIds: readonly number[], created: boolean) {
    await this.turn();
    subscriptions.setCategories(this.db, subscriptionId, categoryIds, created);
  }
  async subscriptionById(id: number) { await this.turn(); return subscriptions.subscriptionById(this.db, id); }
  async subscriptionByEndpoint(endpoint: string) { await this.turn(); return subscriptions.subscriptionByEndpoint(this.db, endpoint); }
  async deleteSubscription(id: number) { await this.turn(); return subscriptions.deleteSubscription(this.db, id); }
  async categoryIdsOf(subscriptionId: number) { await this.turn(); return subscriptions.categoryIdsOf(this.db, subscriptionId); }
  async countSubscriptions(categoryId?: number) { await this.turn(); return subscriptions.countSubscriptionRows(this.db, categoryId); }
  async subscriptionDetail(id: number) { await this.turn(); return subscriptions.subscriptionDetail(this.db, id); }
  streamSubscriptionDetails(options: { categoryId?: number | undefined; limit?: number | undefined; pageSize?: number | undefined }) {
    // Keyset pages, not one open iterator: an open better-sqlite3 iterator would lock the
    // connection against every other statement until the caller finished reading.
    const { categoryId } = options;
    return keysetPages(
      async (after: number, limit: number) => {
        await this.turn();
        return (categoryId === undefined
          ? this.sql.subscriptionDetailPage.all({ after, limit })
          : this.sql.subscriptionDetailPageInCategory.all({ after, limit, categoryId })) as subscriptions.SubscriptionDetailRow[];
      },
      (row) => row.id,
      -1,
      { pageSize: options.pageSize ?? DEFAULT_PAGE, limit: options.limit },
    );
  }
  async countPrunable(filter: subscriptions.PruneFilter) { await this.turn(); return subscriptions.countPrunable(this.db, filter); }
  async deletePrunable(filter: subscriptions.PruneFilter) { await this.turn(); return subscriptions.deletePrunable(this.db, filter); }

  async insertCategory(category: { name: string; description: string | null; createdAt: number }) { await this.turn(); return categories.insertCategory(this.db, category); }
  async categoryById(id: number) { await this.turn(); return categories.categoryById(this.db, id); }
  async categoryByName(name: string) { await this.turn(); return categories.categoryByName(this.db, name); }
  async categoryWithCount(id: number) { await this.turn(); return categories.categoryWithCount(this.db, id); }
  async allCategoriesWithCounts() { await this.turn(); return categories.allCategoriesWithCounts(this.db); }
  async categoryIdsByName() { await this.turn(); return categories.categoryIdsByName(this.db); }
  async updateCategory(id: number, change: { name?: string; description?: string | null }) { await this.turn(); categories.updateCategoryRow(this.db, id, change); }
  async deleteCategory(id: number) { await this.turn(); return categories.deleteCategoryRow(this.db, id); }
  async addMembers(categoryId: number, ids: readonly number[]) { await this.turn(); return this.db.transaction(() => categories.addMembers(this.db, categoryId, ids))(); }
  async removeMembers(categoryId: number, ids: readonly number[]) { await this.turn(); return this.db.transaction(() => categories.removeMembers(this.db, categoryId, ids))(); }
  async existingCategoryNames(names: string[]) { await this.turn(); return categories.existingCategoryNames(this.db, names); }

  async insertNotification(row: notifications.NewNotification) {
    await this.turn();
    return this.woke(notifications.insertNotification(this.db, row));
  }
  async setTopic(id: number, topic: string) { await this.turn(); notifications.setTopic(this.db, id, topic); }
  async setTopicIf(id: number, from: string, to: string) { await this.turn(); dispatch.setTopicIf(this.db, id, from, to); }
  async notificationById(id: number) { await this.turn(); return notifications.notificationById(this.db, id); }
  async notificationByIdempotencyKey(key: string) { await this.turn(); return notifications.notificationByIdempotencyKey(this.db, key); }
  async clearIdempotencyKey(id: number) { await this.turn(); notifications.clearIdempotencyKey(this.db, id); }
  async listNotifications(filter: NotificationListFilter) { await this.turn(); return notifications.listNotificationRows(this.db, filter); }
  async deleteNotification(id: number) { await this.turn(); return notifications.deleteNotificationRow(this.db, id); }
  async setStatus(id: number, status: NotificationStatus, extra?: { error?: string | null; finished_at?: number | null }) {
    await this.turn();
    notifications.setStatus(this.db, id, status, extra);
  }
  async cancelNotification(id: number, now: number) { await this.turn(); return this.wokeIf(notifications.cancelRow(this.db, id, now), id); }
  async finishSingleSend(id: number, result: SingleSendResult) { await this.turn(); notifications.finishSingleSend(this.db, id, result); }
  resolveSubscriptionRefs(refs: (string | number)[]) { return resolveRefsWith(this, refs); }

  async tryAcquireLease(id: number, owner: string, now: number, leaseMs: number) { await this.turn(); return notifications.tryAcquireLease(this.db, id, owner, now, leaseMs); }
  async takeOverLease(id: number, deadOwner: string, owner: string, now: number, leaseMs: number) {
    await this.turn();
    return notifications.takeOverLease(this.db, id, deadOwner, owner, now, leaseMs);
  }
  async renewLease(id: number, owner: string, now: number, leaseMs: number) { await this.turn(); return notifications.renewLease(this.db, id, owner, now, leaseMs); }
  async releaseLease(id: number, owner: string) {
    await this.turn();
    notifications.releaseLease(this.db, id, owner);
    this.woke(id);
  }
  async leaseHolder(id: number) { await this.turn(); return notifications.leaseHolder(this.db, id); }

  async countRecipients(target: notifications.TargetQuery, now: number) { await this.turn(); return notifications.countRecipients(this.db, target, now); }
  async recipientEndpoints(target: notifications.TargetQuery, now: number, limit: number) { await this.turn(); return notifications.recipientEndpoints(this.db, target, now, limit); }
  async fixRecipients(id: number, target: notifications.TargetQuery, now: number) {
    await this.turn();
    return this.wokeIf(notifications.fixRecipients(this.db, id, target, now), id);
  }
  async pendingPage(id: number, after: number, now: number, limit: number) { await this.turn(); return notifications.pendingPage(this.db, id, after, now, limit); }
  async claimDeliveries(claim: DeliveryClaim) {
    await this.turn();
    return this.claimChunk.immediate(claim);
  }
  async nextRetryAt(id: number) { await this.turn(); return notifications.nextRetryAt(this.db, id); }
  async earliestRetryAfter(id: number, after: number) { await this.turn(); return notifications.earliestRetryAfter(this.db, id, after); }
  async recordDeliveries(updates: readonly notifications.DeliveryUpdate[]) { await this.turn(); this.ledger.recordMany(updates as notifications.DeliveryUpdate[]); }
  async deliveryCounts(id: number) { await this.turn(); return notifications.deliveryCounts(this.db, id); }
  async storeCounts(id: number, counts: notifications.DeliveryCounts) { await this.turn(); notifications.storeCounts(this.db, id, counts); }
  async recentFailures(id: number, limit: number): Promise<FailureRow[]> { await this.turn(); return notifications.recentFailureRows(this.db, id, limit); }

  async claimNext(owner: string, now: number, leaseMs: number, exclude: readonly number[]) { await this.turn(); return dispatch.claimNext(this.db, owner, now, leaseMs, [...exclude]); }
  async markSkipped(id: number, owner: string, error: string, now: number) { await this.turn(); return dispatch.markSkipped(this.db, id, owner, error, now); }
  async dueTemplates(now: number) { await this.turn(); return dispatch.dueTemplates(this.db, now); }
  async insertOccurrence(occurrence: OccurrenceInsert) {
    await this.turn();
    const id = dispatch.insertOccurrence(this.db, occurrence);
    if (id !== null && occurrence.status === 'scheduled') this.woke(id);
    return id;
  }
  async advanceTemplate(id: number, fromSlot: number, next: TemplateAdvance) { await this.turn(); return dispatch.advanceTemplate(this.db, id, fromSlot, next); }
  async nextWorkAt() { await this.turn(); return dispatch.nextWorkAt(this.db); }
  async occurrenceRows(parentId: number, limit: number) { await this.turn(); return dispatch.occurrenceRows(this.db, parentId, limit); }
  async occurrenceCount(parentId: number) { await this.turn(); return dispatch.occurrenceCount(this.db, parentId); }
  async liveOccurrences(parentId: number, now: number) { await this.turn(); return (this.sql.liveOccurrences.all(parentId, now) as { id: number }[]).map((r) => r.id); }
  async cancelScheduledOccurrences(parentId: number, now: number) { await this.turn(); return dispatch.cancelScheduledOccurrences(this.db, parentId, now); }
  async deleteOccurrences(parentId: number) { await this.turn(); return dispatch.deleteOccurrences(this.db, parentId); }
  async reopenForResume(id: number) { await this.turn(); return this.wokeIf(dispatch.reopenForResume(this.db, id), id); }
  async deferredSends(now: number) { await this.turn(); return dispatch.deferredSends(this.db, now); }

  async setTracking(notificationId: number, plan: string | null) { await this.turn(); tracking.setTracking(this.db, notificationId, plan); }
  async trackingOf(notificationId: number) { await this.turn(); return tracking.trackingOf(this.db, notificationId); }
  async issueTokens(notificationId: number, subscriptionIds: readonly number[], newToken: () => string) {
    await this.turn();
    return this.tokenIssuer.issue(notificationId, [...subscriptionIds], newToken);
  }
  async deliveryByToken(token: string) { await this.turn(); return tracking.deliveryByToken(this.db, token); }
  async trackedDelivery(notificationId: number, subscriptionId: number) { await this.turn(); return tracking.trackedDelivery(this.db, notificationId, subscriptionId); }
  async secret(name: string, create: () => string) { await this.turn(); return tracking.secret(this.db, name, create); }
  async readSecret(name: string) { await this.turn(); return tracking.readSecret(this.db, name); }
  async insertEvent(event: { notificationId: number; subscriptionId: number; kind: tracking.EventKind; action: string | null; at: number }) {
    await this.turn();
    return tracking.insertEvent(this.db, event);
  }
  async funnelCounts(notificationId: number) { await this.turn(); return tracking.funnelCounts(this.db, notificationId); }
  async clicksByAction(notificationId: number) { await this.turn(); return tracking.clicksByAction(this.db, notificationId); }
  async dailyCounts(since: number, category: string | undefined) { await this.turn(); return tracking.dailyCounts(this.db, since, category); }

  async ping() { await this.turn(); stats.pingStore(this.db); }
  async notificationsByStatus() { await this.turn(); return stats.notificationsByStatus(this.db); }
  async overdueNotifications(now: number) { await this.turn(); return stats.overdueNotifications(this.db, now); }
  async pendingDeliveries(now: number) { await this.turn(); return stats.pendingDeliveries(this.db, now); }
  async subscriptionsByCategory() { await this.turn(); return stats.subscriptionsByCategory(this.db); }

  async updateLocale(id: number, change: { timeZone?: string | null | undefined; language?: string | null | undefined }, now: number) {
    await this.turn();
    return subscriptions.updateLocale(this.db, id, change, now);
  }
  async categoryCapsByName(names: readonly string[]) { await this.turn(); return caps.categoryCapsByName(this.db, names); }
  async setCategoryCap(id: number, cap: string | null) { await this.turn(); caps.setCategoryCap(this.db, id, cap); }
  async capPendingDeliveries(id: number, now: number, rules: readonly CapRule[]) { await this.turn(); return caps.capPendingDeliveries(this.db, id, now, rules); }
  async categoryQuietHours(names: readonly string[]) { await this.turn(); return names.length ? quietHours.categoryQuietHours(this.db, names) : []; }
  async setCategoryQuietHours(id: number, text: string | null) { await this.turn(); quietHours.setCategoryQuietHours(this.db, id, text); }
  async pendingZones(id: number) { await this.turn(); return quietHours.pendingZones(this.db, id); }
  async deferZones(id: number, zones: ReadonlyMap<string | null, { until: number; reason: string }>) {
    await this.turn();
    const deferred = quietHours.deferZones(this.db, id, zones);
    if (deferred) this.woke(id);
    return deferred;
  }
  async deferredSummary(id: number, reasonLike: string) { await this.turn(); return quietHours.deferredSummary(this.db, id, reasonLike); }

  async lastRun(task: string) { await this.turn(); return maintenance.lastRun(this.db, task); }
  async claimRun(task: string, now: number, everyMs: number) { await this.turn(); return maintenance.claimRun(this.db, task, now, everyMs); }
  async prunableHistory(before: number) { await this.turn(); return maintenance.prunableHistory(this.db, before); }
  async prunableHistoryIds(before: number, limit: number) { await this.turn(); return maintenance.prunableHistoryIds(this.db, before, limit); }
  async pruneLedger(id: number, now: number) { await this.turn(); return maintenance.pruneLedger(this.db, id, now); }

  async tableCounts() { await this.turn(); return this.sql.tableCounts.get() as TableCounts; }
  streamRows(table: TableName, pageSize = DEFAULT_PAGE) {
    const { statements, key } = this.tableStatements(table);
    return keysetPages(
      async (after: unknown[] | null, limit: number) => {
        await this.turn();
        return (after === null ? statements.first.all(limit) : statements.page.all(...after, limit)) as TableRow[];
      },
      (row): unknown[] | null => key.map((column) => row[column]),
      null,
      { pageSize },
    );
  }
  async insertRows(table: TableName, rows: readonly TableRow[]) {
    await this.turn();
    const { statements } = this.tableStatements(table);
    this.db.transaction(() => {
      for (const row of rows) statements.insert.run(row);
    })();
  }
  async clearAll() {
    await this.turn();
    this.db.transaction(() => {
      for (const table of [...TABLES].reverse()) this.db.prepare(`DELETE FROM ${table.name}`).run();
    })();
  }
  /** AUTOINCREMENT already remembers the highest id inserted. */
  async resetIdentities() {}

  // ---- delivery control (migration 6) ----
  async markStaleKeys(ids: readonly number[], now: number) { await this.turn(); return deliveryControl.markStaleKeys(this.db, ids, now); }
  async claimPaced(claim: deliveryControl.PacedClaim) { await this.turn(); return deliveryControl.claimPaced(this.db, claim); }
  async giveBackClaims(id: number, ids: readonly number[], now: number) { await this.turn(); return deliveryControl.giveBackClaims(this.db, id, ids, now); }
  async pendingByDueTime(id: number) { await this.turn(); return deliveryControl.pendingByDueTime(this.db, id); }
  async pacedSendsInProgress(now: number) { await this.turn(); return deliveryControl.pacedSendsInProgress(this.db, now); }
  async targetZones(target: notifications.TargetQuery, now: number) { await this.turn(); return deliveryControl.zonesOf(this.db, notifications.recipientSelect(target, now)); }
  // ---- shared sends (issue 11) ----
  async renewClaims(notificationId: number, subscriptionIds: readonly number[], fromLease: number, toLease: number) {
    if (!subscriptionIds.length) return 0;
    await this.turn();
    return this.sql.renewClaims.run({ id: notificationId, ids: JSON.stringify(subscriptionIds), fromLease, toLease }).changes;
  }
  async joinableSends(owner: string, now: number, limit: number) {
    await this.turn();
    return (this.sql.joinableSends.all({ owner, now, limit }) as { id: number }[]).map((r) => r.id);
  }
  async releaseClaims(notificationId: number, lease: number, now: number) {
    await this.turn();
    return this.sql.releaseClaims.run({ id: notificationId, lease, now }).changes;
  }
  /** Tells this process's watchers (other processes see the file change); returns `id`. */
  protected woke(id: number): number {
    for (const onWake of watchersOf(this.db)) onWake({ notificationId: id });
    return id;
  }
  protected wokeIf(changed: boolean, id: number): boolean {
    if (changed) this.woke(id);
    return changed;
  }

  private readonly perTable = new Map<TableName, { statements: ReturnType<typeof tableStatements>; key: string[] }>();
  private tableStatements(name: TableName) {
    let entry = this.perTable.get(name);
    if (!entry) {
      const table = TABLES.find((t) => t.name === name)!;
      entry = { statements: tableStatements(this.db, table), key: table.key };
      this.perTable.set(name, entry);
    }
    return entry;
  }
}

class SqliteTransaction extends SqliteOps implements Transaction {
  private depth = 0;

  async savepoint<T>(fn: (tx: Transaction) => Promise<T>): Promise<T> {
    const name = `pushctl_sp${++this.depth}`;
    this.db.exec(`SAVEPOINT ${name}`);
    try {
      const result = await fn(this);
      this.db.exec(`RELEASE ${name}`);
      return result;
    } catch (error) {
      if (this.db.inTransaction) this.db.exec(`ROLLBACK TO ${name}; RELEASE ${name}`);
      throw error;
    } finally {
      this.depth -= 1;
    }
  }
}

export class SqliteStore extends SqliteOps implements Store {
  readonly backend = 'sqlite' as const;
  readonly location: string;
  private readonly tx: SqliteTransaction;
  /** Set while a transaction owns the connection. */
  private readonly gate: Gate;

  private constructor(db: Db, location: string, sql: Statements, ledger: Ledger, gate: Gate, private readonly busyTimeoutMs: number) {
    super(db, sql, ledger, () => gate.current && waitFor(gate));
    this.location = location;
    this.gate = gate;
    this.tx = new SqliteTransaction(db, sql, ledger, () => undefined);
  }

  static open(file: string, options: OpenOptions = {}): SqliteStore {
    const db = openDatabase(file, options);
    // The ledger's statements too are prepared when the first answer is recorded.
    let ledger: Ledger | undefined;
    const lazyLedger: Ledger = { recordMany: (updates) => (ledger ??= notifications.prepareLedgerWriter(db)).recordMany(updates) };
    return new SqliteStore(db, file, prepareStatements(db), lazyLedger, {}, options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS);
  }

  /** The connection underneath: for tests that seed thousands of rows through SQLite directly (the core never uses it). */
  get connection(): Db {
    return this.db;
  }

  async schemaVersion(): Promise<number> {
    await this.turn();
    return this.db.pragma('user_version', { simple: true }) as number;
  }

  async transaction<T>(fn: (tx: Transaction) => Promise<T>, _options?: TransactionOptions): Promise<T> {
    // Every SQLite write transaction is serialised by the write lock, so `lock` needs nothing more.
    // Checked and taken with no await in between, so two callers cannot both find it free.
    while (this.gate.current) await this.gate.current;
    let release!: () => void;
    this.gate.current = new Promise<void>((resolve) => (release = resolve));
    try {
      await this.beginImmediate();
      try {
        const result = await fn(this.tx);
        this.db.exec('COMMIT');
        return result;
      } catch (error) {
        if (this.db.inTransaction) this.db.exec('ROLLBACK');
        throw error;
      }
    } finally {
      this.gate.current = undefined;
      release();
    }
  }

  /**
   * IMMEDIATE: the write lock up front, so a transaction waits for another process's instead of
   * failing half way. The wait is in this event loop, not in SQLite's busy handler: a blocking
   * wait would freeze the whole process (a receiver's requests, a sender's answers) while another
   * process holds the lock.
   */
  private async beginImmediate(): Promise<void> {
    const deadline = Date.now() + this.busyTimeoutMs;
    this.db.pragma('busy_timeout = 0');
    try {
      // Short pauses: the other process commits and begins again within microseconds, and a
      // waiter that sleeps long would rarely see the lock free (it would starve).
      for (let pause = 1; ; pause = Math.min(pause * 2, 8)) {
        try {
          this.db.exec('BEGIN IMMEDIATE');
          return;
        } catch (error) {
          if (!String((error as { code?: string }).code).startsWith('SQLITE_BUSY') || Date.now() >= deadline) throw error;
        }
        await new Promise((resolve) => setTimeout(resolve, pause * (0.5 + Math.random())));
      }
    } finally {
      this.db.pragma(`busy_timeout = ${this.busyTimeoutMs}`);
    }
  }

  async close(): Promise<void> {
    for (const stop of [...this.watches]) await stop();
    await waitFor(this.gate);
    if (this.db.open) this.db.close();
  }

  // ---- shared sends: work wake-ups (issue 11) ----
  private readonly watches = new Set<() => Promise<void>>();

  /**
   * This process's own changes wake at once; other processes' are seen by polling the file's
   * change counter (PRAGMA data_version: it moves when another connection commits) every
   * WATCH_POLL_MS. Any commit elsewhere wakes: a wake is a hint, and checking costs a query or two.
   */
  async watchWork(onWake: (hint: WorkHint) => void): Promise<() => Promise<void>> {
    await this.turn();
    const watchers = watchersOf(this.db);
    watchers.add(onWake);
    let version = this.dataVersion();
    let polling = false;
    const timer = setInterval(() => {
      if (polling || !this.db.open) return;
      polling = true;
      void (async () => {
        try {
          await this.turn();
          const now = this.dataVersion();
          if (now === version) return;
          version = now;
          onWake({ notificationId: null });
        } catch {
          // A closing file: the next poll (if any) looks again.
        } finally {
          polling = false;
        }
      })();
    }, WATCH_POLL_MS);
    const stop = async () => {
      if (!this.watches.delete(stop)) return;
      clearInterval(timer);
      watchers.delete(onWake);
    };
    this.watches.add(stop);
    return stop;
  }

  private dataVersion(): number {
    return this.db.pragma('data_version', { simple: true }) as number;
  }
}

/** How often a SQLite watcher looks for other processes' work (ms): "within about a second". */
const WATCH_POLL_MS = 500;

/** This process's watchers per connection (the store and its transaction object share one). */
const watchersByDb = new WeakMap<Db, Set<(hint: WorkHint) => void>>();
function watchersOf(db: Db): Set<(hint: WorkHint) => void> {
  let watchers = watchersByDb.get(db);
  if (!watchers) watchersByDb.set(db, (watchers = new Set()));
  return watchers;
}

interface Gate {
  current?: Promise<void> | undefined;
}

async function waitFor(gate: Gate): Promise<void> {
  while (gate.current) await gate.current;
}
