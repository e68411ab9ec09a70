/**
 * The store contract: the same tests against both backends (SQLite file, real PostgreSQL), on the
 * async store interface the core is moving to. Each backend must give the same answers, and the
 * concurrency properties (chunked claims, migrations, transactions) must hold across connections.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, tempDir } from './support/cli.js';
import { postgresAvailable, startPostgres, type PostgresServer } from './support/postgres.js';
import type { Store, SubscriptionWrite } from '../src/store/store.js';

const { openStore } = (await import(path.join(ROOT, 'dist/store/open.js'))) as typeof import('../src/store/open.js');
const { fromStoreError } = (await import(path.join(ROOT, 'dist/errors.js'))) as typeof import('../src/errors.js');
const { SCHEMA_VERSION } = (await import(path.join(ROOT, 'dist/store/migrations.js'))) as typeof import('../src/store/migrations.js');
const { MIGRATIONS: PG_MIGRATIONS } = (await import(path.join(ROOT, 'dist/store/postgres/migrations.js'))) as typeof import('../src/store/postgres/migrations.js');

const BACKENDS = [
  { backend: 'sqlite' as const, skip: false },
  { backend: 'postgres' as const, skip: !postgresAvailable() },
];

const NOW = 1_800_000_000_000;

function write(n: number, extra: Partial<SubscriptionWrite> = {}): SubscriptionWrite {
  return { endpoint: `https://push.example.net/send/${n}`, p256dh: `p256dh-${n}`, auth: `auth-${n}`, keyId: null, expirationTime: null, updatedAt: NOW, ...extra };
}

/** Runs a node script (ESM) in a child process; resolves with its exit code and output. */
function node(script: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe.each(BACKENDS)('store contract on $backend', ({ backend, skip }) => {
  let server: PostgresServer | undefined;
  const opened: Store[] = [];
  const dirs: string[] = [];

  beforeAll(async () => {
    if (backend === 'postgres' && !skip) server = await startPostgres();
  }, 180_000);
  afterAll(async () => {
    await server?.stop();
  }, 60_000);
  afterEach(async () => {
    for (const store of opened.splice(0)) await store.close();
    for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
  });

  /** A fresh, empty location for this backend. */
  async function freshLocation(): Promise<string> {
    if (backend === 'postgres') return server!.createDatabase();
    const dir = tempDir('pushctl-contract-');
    dirs.push(dir);
    return path.join(dir, 'pushctl.db');
  }
  async function open(location?: string): Promise<Store> {
    const store = await openStore(location ?? (await freshLocation()));
    opened.push(store);
    return store;
  }

  it.skipIf(skip)('says which backend it is, and where, without a password', async () => {
    const location = await freshLocation();
    const store = await open(location);
    expect(store.backend).toBe(backend);
    expect(await store.schemaVersion()).toBe(SCHEMA_VERSION);
    if (backend === 'postgres') {
      const withPassword = location.replace('postgres@', 'postgres:s3cret@');
      const other = await open(withPassword);
      expect(other.location).not.toContain('s3cret');
      expect(other.location).toContain('127.0.0.1');
    }
  });

  it.skipIf(skip)('keys: one active key; a different one is refused without replace, and rotation keeps the old', async () => {
    const store = await open();
    expect(await store.activeKey()).toBeUndefined();
    const first = await store.insertActiveKey({ publicKey: 'pub-1', privateKey: 'priv-1', subject: 'mailto:a@example.com', createdAt: NOW });
    expect('row' in first && first.row.active).toBe(1);
    const blocked = await store.insertActiveKey({ publicKey: 'pub-2', privateKey: 'priv-2', subject: 'mailto:a@example.com', createdAt: NOW }, { replace: false });
    expect('blockedBy' in blocked && blocked.blockedBy.public_key).toBe('pub-1');
    const second = await store.insertActiveKey({ publicKey: 'pub-2', privateKey: 'priv-2', subject: 'mailto:b@example.com', createdAt: NOW + 1 });
    expect('row' in second && second.row.public_key).toBe('pub-2');
    expect((await store.activeKey())!.public_key).toBe('pub-2');
    expect((await store.allKeys()).map((k) => [k.public_key, k.active])).toEqual([['pub-1', 0], ['pub-2', 1]]);
    // Re-activating a known key reuses its row.
    const again = await store.insertActiveKey({ publicKey: 'pub-1', privateKey: 'priv-1', subject: 'mailto:c@example.com', createdAt: NOW + 2 });
    expect('row' in again && again.row.id).toBe('row' in first ? first.row.id : -1);
    expect((await store.keyByPublicKey('pub-1'))!.subject).toBe('mailto:c@example.com');
    const id = (await store.activeKey())!.id;
    await store.setKeySubject(id, 'https://example.com');
    expect((await store.keyById(id))!.subject).toBe('https://example.com');
    await store.upsertSubscription(write(1, { keyId: id }));
    expect(await store.subscriptionCountByKey(id)).toBe(1);
  });

  it.skipIf(skip)('subscriptions: insert, upsert by endpoint, lookups, categories, delete', async () => {
    const store = await open();
    const key = await store.insertActiveKey({ publicKey: 'pub', privateKey: 'priv', subject: 'mailto:a@example.com', createdAt: NOW });
    const keyId = 'row' in key ? key.row.id : 0;
    const news = await store.insertCategory({ name: 'news', description: 'daily', createdAt: NOW });
    const offers = await store.insertCategory({ name: 'offers', description: null, createdAt: NOW });

    const inserted = await store.upsertSubscription(write(1, { keyId, label: 'kitchen', userAgent: 'Firefox' }));
    expect(inserted.created).toBe(true);
    await store.setCategories(inserted.id, [news.id, offers.id], true);
    const updated = await store.upsertSubscription(write(1, { keyId, p256dh: 'new-key', updatedAt: NOW + 5, failureCount: 0 }));
    expect(updated).toEqual({ id: inserted.id, created: false });
    const row = (await store.subscriptionById(inserted.id))!;
    expect(row.p256dh).toBe('new-key');
    expect(row.label).toBe('kitchen'); // undefined keeps the stored value
    expect(row.user_agent).toBe('Firefox');
    expect(row.created_at).toBe(NOW);
    expect(row.updated_at).toBe(NOW + 5);
    expect(typeof row.id).toBe('number');
    expect((await store.subscriptionByEndpoint(write(1).endpoint))!.id).toBe(inserted.id);
    expect(await store.subscriptionIdByEndpoint(write(1).endpoint)).toBe(inserted.id);
    expect(await store.subscriptionIdByEndpoint('https://push.example.net/none')).toBeUndefined();

    const detail = (await store.subscriptionDetail(inserted.id))!;
    expect(detail.category_names!.split('\x1f').sort()).toEqual(['news', 'offers']);
    expect(detail.vapid_public_key).toBe('pub');
    expect((await store.categoryIdsOf(inserted.id)).sort()).toEqual([news.id, offers.id].sort());
    await store.setCategories(inserted.id, [offers.id], false);
    expect(await store.categoryIdsOf(inserted.id)).toEqual([offers.id]);

    const batch = await store.upsertSubscriptions([
      { write: write(2), categoryIds: [news.id] },
      { write: write(3) },
      { write: write(1, { label: null }), categoryIds: [] },
    ]);
    expect(batch.map((r) => r.created)).toEqual([true, true, false]);
    expect(batch[2]!.id).toBe(inserted.id);
    expect((await store.subscriptionById(inserted.id))!.label).toBeNull();
    expect(await store.categoryIdsOf(inserted.id)).toEqual([]);
    expect(await store.countSubscriptions()).toBe(3);
    expect(await store.countSubscriptions(news.id)).toBe(1);

    // The same endpoint twice in one batch applies in order; updates in a batch replace categories.
    const repeated = await store.upsertSubscriptions([
      { write: write(4, { label: 'first' }) },
      { write: write(4, { label: 'second' }), categoryIds: [news.id] },
      { write: write(3, { userAgent: 'Chrome' }), categoryIds: [news.id, offers.id] },
    ]);
    expect(repeated.map((r) => r.created)).toEqual([true, false, false]);
    expect(repeated[0]!.id).toBe(repeated[1]!.id);
    expect((await store.subscriptionById(repeated[0]!.id))!.label).toBe('second');
    expect((await store.subscriptionById(batch[1]!.id))!.user_agent).toBe('Chrome');
    expect((await store.categoryIdsOf(batch[1]!.id)).sort()).toEqual([news.id, offers.id].sort());
    const updatedOnly = await store.upsertSubscriptions([{ write: write(3), categoryIds: [offers.id] }, { write: write(4) }]);
    expect(updatedOnly).toEqual([{ id: batch[1]!.id, created: false }, { id: repeated[0]!.id, created: false }]);
    expect(await store.categoryIdsOf(batch[1]!.id)).toEqual([offers.id]);
    expect(await store.categoryIdsOf(repeated[0]!.id)).toEqual([news.id]); // no categoryIds: left alone
    expect((await store.subscriptionById(batch[1]!.id))!.user_agent).toBe('Chrome'); // undefined keeps it
    await store.deleteSubscription(repeated[0]!.id);

    expect(await store.deleteSubscription(batch[0]!.id)).toBe(true);
    expect(await store.deleteSubscription(batch[0]!.id)).toBe(false);
    expect(await store.countSubscriptions(news.id)).toBe(0); // membership went with it
  });

  it.skipIf(skip)('two connections upserting one endpoint at once make one row; a taken unique name is a conflict', async () => {
    const location = await freshLocation();
    const stores = [await open(location), await open(location)];
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => stores[i % 2]!.upsertSubscription(write(1, { label: `l${i}` }))));
    expect(new Set(results.map((r) => r.id)).size).toBe(1);
    expect(results.filter((r) => r.created)).toHaveLength(1);
    expect(await stores[0]!.countSubscriptions()).toBe(1);

    await stores[0]!.insertCategory({ name: 'news', description: null, createdAt: NOW });
    const error: unknown = await stores[1]!.insertCategory({ name: 'news', description: null, createdAt: NOW }).catch((e: unknown) => e);
    const translated = fromStoreError(error);
    expect(translated?.kind).toBe('conflict');
    expect(translated?.message).toBe('categories.name: already exists (another process wrote it at the same time)');
  });

  it.skipIf(skip || backend !== 'postgres')('a server that cannot be reached is a clear error, without the password', async () => {
    const error: unknown = await openStore('postgres://pushctl:s3cret@127.0.0.1:1/pushctl?connect_timeout=5').catch((e: unknown) => e);
    expect((error as Error).message).toMatch(/^database postgres:\/\/pushctl:\*\*\*@127\.0\.0\.1:1\/pushctl\?connect_timeout=5: cannot open: .*ECONNREFUSED/);
    expect((error as Error).message).not.toContain('s3cret');
  });

  it.skipIf(skip || backend !== 'postgres')('PostgreSQL restarted: operations fail as busy while it is down, and work again once it is back', async () => {
    const store = await open();
    await store.insertCategory({ name: 'before', description: null, createdAt: NOW });
    await server!.pause();
    try {
      const error: unknown = await store.categoryByName('before').catch((e: unknown) => e);
      expect(fromStoreError(error)?.kind).toBe('busy');
    } finally {
      await server!.start();
    }
    // The pool dropped the dead connections; the next operations open new ones.
    expect((await store.categoryByName('before'))?.name).toBe('before');
    await store.transaction((tx) => tx.insertCategory({ name: 'after', description: null, createdAt: NOW }));
    expect((await store.allCategoriesWithCounts()).map((c) => c.name)).toEqual(['after', 'before']);
  });

  it.skipIf(skip)('subscriptions stream in id-ordered pages, with limit and category filter', async () => {
    const store = await open();
    const cat = await store.insertCategory({ name: 'even', description: null, createdAt: NOW });
    await store.upsertSubscriptions(Array.from({ length: 25 }, (_, i) => ({ write: write(i + 1), categoryIds: (i + 1) % 2 === 0 ? [cat.id] : [] })));
    const pages: number[][] = [];
    for await (const page of store.streamSubscriptionDetails({ pageSize: 10 })) pages.push(page.map((r) => r.id));
    expect(pages.map((p) => p.length)).toEqual([10, 10, 5]);
    const ids = pages.flat();
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    expect(new Set(ids).size).toBe(25);

    const limited: number[] = [];
    for await (const page of store.streamSubscriptionDetails({ pageSize: 4, limit: 9 })) limited.push(...page.map((r) => r.id));
    expect(limited).toEqual(ids.slice(0, 9));

    const even: string[] = [];
    for await (const page of store.streamSubscriptionDetails({ categoryId: cat.id, pageSize: 5 })) even.push(...page.map((r) => r.category_names ?? ''));
    expect(even).toHaveLength(12);
    expect(new Set(even)).toEqual(new Set(['even']));
  });

  it.skipIf(skip)('subscriptions prune by age and failures; nothing without a condition', async () => {
    const store = await open();
    await store.upsertSubscription(write(1, { createdAt: NOW - 10_000, updatedAt: NOW - 10_000 }));
    await store.upsertSubscription(write(2, { createdAt: NOW - 10_000, updatedAt: NOW, lastSuccessAt: NOW - 1 }));
    await store.upsertSubscription(write(3, { failureCount: 7 }));
    expect(await store.countPrunable({})).toBe(0);
    expect(await store.countPrunable({ noSuccessSince: NOW - 5_000 })).toBe(1);
    expect(await store.countPrunable({ failedMoreThan: 5 })).toBe(1);
    expect(await store.countPrunable({ noSuccessSince: NOW + 1, failedMoreThan: 5 })).toBe(1);
    expect(await store.deletePrunable({ noSuccessSince: NOW })).toBe(2);
    expect(await store.countSubscriptions()).toBe(1);
  });

  it.skipIf(skip)('categories: counts, byte-order listing, membership, rename, delete keeps subscriptions', async () => {
    const store = await open();
    const b = await store.insertCategory({ name: 'b-news', description: null, createdAt: NOW });
    const a = await store.insertCategory({ name: 'Z_first', description: 'upper', createdAt: NOW });
    await store.insertCategory({ name: 'a', description: null, createdAt: NOW });
    const subs = await store.upsertSubscriptions([1, 2, 3].map((n) => ({ write: write(n) })));
    const ids = subs.map((s) => s.id);
    expect(await store.addMembers(b.id, ids)).toBe(3);
    expect(await store.addMembers(b.id, [ids[0]!, ids[0]!])).toBe(0);
    expect(await store.removeMembers(b.id, [ids[0]!, 999_999])).toBe(1);
    expect((await store.categoryWithCount(b.id))!.subscribers).toBe(2);
    expect((await store.allCategoriesWithCounts()).map((c) => [c.name, c.subscribers])).toEqual([['Z_first', 0], ['a', 0], ['b-news', 2]]);
    expect((await store.categoryByName('Z_first'))!.id).toBe(a.id);
    expect(await store.categoryIdsByName()).toEqual(new Map([['b-news', b.id], ['Z_first', a.id], ['a', a.id + 1]]));
    await store.updateCategory(a.id, { name: 'renamed', description: null });
    expect(await store.categoryById(a.id)).toMatchObject({ name: 'renamed', description: null });
    expect(await store.existingCategoryNames(['renamed', 'nope', 'a'])).toEqual(new Set(['renamed', 'a']));
    expect(await store.deleteCategory(b.id)).toBe(true);
    expect(await store.countSubscriptions()).toBe(3);
  });

  it.skipIf(skip)('notifications: insert, idempotency key, list, status, cancel, leases', async () => {
    const store = await open();
    const base = { payload: '{"title":"hi"}', target: '{"all":true}', ttl: 60, urgency: null, topic: null, status: 'scheduled' as const, send_at: NOW, cron: null, tz: null, until_at: null, remaining_count: null, stale_after_ms: null, idempotency_key: null, created_at: NOW };
    const id = await store.insertNotification({ ...base, idempotency_key: 'k-1' });
    const other = await store.insertNotification({ ...base, status: 'sent' as const, send_at: NOW + 100 });
    await store.setTopic(id, `pushctl-${id}`);
    expect((await store.notificationById(id))!.topic).toBe(`pushctl-${id}`);
    expect((await store.notificationByIdempotencyKey('k-1'))!.id).toBe(id);
    await store.clearIdempotencyKey(id);
    expect(await store.notificationByIdempotencyKey('k-1')).toBeUndefined();
    expect((await store.listNotifications({ limit: 10, offset: 0 })).map((n) => n.id)).toEqual([other, id]);
    expect((await store.listNotifications({ status: 'sent', limit: 10, offset: 0 })).map((n) => n.id)).toEqual([other]);
    expect((await store.listNotifications({ since: NOW + 50, limit: 10, offset: 0 })).map((n) => n.id)).toEqual([other]);

    expect(await store.tryAcquireLease(id, 'a', NOW, 1000)).toBe(true);
    expect((await store.notificationById(id))!.status).toBe('sending');
    expect(await store.tryAcquireLease(id, 'b', NOW + 500, 1000)).toBe(false);
    expect(await store.leaseHolder(id)).toEqual({ owner: 'a', expiresAt: NOW + 1000 });
    expect(await store.renewLease(id, 'a', NOW + 900, 1000)).toBe(true);
    expect(await store.tryAcquireLease(id, 'b', NOW + 1500, 1000)).toBe(false);
    expect(await store.tryAcquireLease(id, 'b', NOW + 1900, 1000)).toBe(true);
    expect(await store.renewLease(id, 'a', NOW + 2000, 1000)).toBe(false);
    expect(await store.takeOverLease(id, 'b', 'c', NOW + 2000, 1000)).toBe(true);
    await store.releaseLease(id, 'c');
    expect(await store.leaseHolder(id)).toEqual({ owner: null, expiresAt: null });

    await store.setStatus(id, 'failed', { error: 'boom', finished_at: NOW + 3 });
    await store.setStatus(id, 'failed', {});
    expect(await store.notificationById(id)).toMatchObject({ status: 'failed', error: 'boom', finished_at: NOW + 3 });
    expect(await store.cancelNotification(id, NOW)).toBe(false);
    const third = await store.insertNotification(base);
    expect(await store.cancelNotification(third, NOW + 7)).toBe(true);
    expect(await store.notificationById(third)).toMatchObject({ status: 'cancelled', finished_at: NOW + 7 });
    expect(await store.deleteNotification(third)).toBe(true);
    expect(await store.notificationById(third)).toBeUndefined();
  });

  it.skipIf(skip)('the delivery ledger: recipients fixed once, answers recorded in one call, counts', async () => {
    const store = await open();
    const cat = await store.insertCategory({ name: 'news', description: null, createdAt: NOW });
    const subs = await store.upsertSubscriptions([1, 2, 3, 4, 5].map((n) => ({ write: write(n), categoryIds: n <= 3 ? [cat.id] : [] })));
    const ids = subs.map((s) => s.id);
    expect(await store.countRecipients({ all: true })).toBe(5);
    expect(await store.countRecipients({ categories: ['news', 'none'] })).toBe(3);
    expect(await store.countRecipients({ subscriptionIds: [ids[0]!, 999_999] })).toBe(1);
    const resolved = await store.resolveSubscriptionRefs([ids[1]!, write(3).endpoint, 'https://push.example.net/none', String(ids[1])]);
    expect(resolved).toEqual({ ids: [ids[1], ids[2]], unknown: ['https://push.example.net/none'] });

    const base = { payload: '{}', target: '{"categories":["news"]}', ttl: 60, urgency: null, topic: null, status: 'sending' as const, send_at: NOW, cron: null, tz: null, until_at: null, remaining_count: null, stale_after_ms: null, idempotency_key: null, created_at: NOW };
    const id = await store.insertNotification(base);
    expect(await store.fixRecipients(id, { categories: ['news'] }, NOW)).toBe(true);
    expect(await store.fixRecipients(id, { categories: ['news'] }, NOW)).toBe(false);
    expect((await store.notificationById(id))!).toMatchObject({ started_at: NOW, total_count: 3 });
    expect(await store.deliveryCounts(id)).toEqual({ total: 3, sent: 0, gone: 0, failed: 0, pending: 3, capped: 0 });
    const page = await store.pendingPage(id, 0, NOW, 2);
    expect(page.map((d) => d.subscription_id)).toEqual([ids[0], ids[1]]);
    expect(page[0]).toMatchObject({ attempts: 0, endpoint: write(1).endpoint, p256dh: 'p256dh-1', auth: 'auth-1', key_id: null });

    await store.recordDeliveries([
      { notificationId: id, subscriptionId: ids[0]!, state: 'sent', statusCode: 201, error: null, nextAttemptAt: null, now: NOW + 10 },
      { notificationId: id, subscriptionId: ids[1]!, state: 'gone', statusCode: 410, error: 'gone', nextAttemptAt: null, now: NOW + 10 },
      { notificationId: id, subscriptionId: ids[2]!, state: 'pending', statusCode: 503, error: 'later', nextAttemptAt: NOW + 5000, now: NOW + 10 },
    ]);
    expect(await store.deliveryCounts(id)).toEqual({ total: 3, sent: 1, gone: 1, failed: 0, pending: 1, capped: 0 });
    expect((await store.subscriptionById(ids[0]!))!).toMatchObject({ last_success_at: NOW + 10, failure_count: 0 });
    expect(await store.subscriptionById(ids[1]!)).toBeUndefined();
    expect((await store.subscriptionById(ids[2]!))!.failure_count).toBe(1);
    expect(await store.nextRetryAt(id)).toEqual({ pending: 1, earliest: NOW + 5000 });
    expect(await store.pendingPage(id, 0, NOW + 100, 10)).toEqual([]);
    expect((await store.recentFailures(id, 10)).map((f) => [f.subscription_id, f.state, f.status_code, f.attempts])).toEqual(
      expect.arrayContaining([[ids[1], 'gone', 410, 1], [ids[2], 'pending', 503, 1]]),
    );
    await store.recordDeliveries([{ notificationId: id, subscriptionId: ids[2]!, state: 'failed', statusCode: 503, error: 'gave up', nextAttemptAt: null, now: NOW + 20 }]);
    const counts = await store.deliveryCounts(id);
    expect(counts).toEqual({ total: 3, sent: 1, gone: 1, failed: 1, pending: 0, capped: 0 });
    await store.storeCounts(id, counts);
    expect(await store.notificationById(id)).toMatchObject({ total_count: 3, sent_count: 1, gone_count: 1, failed_count: 1 });
    expect(await store.tableCounts()).toEqual({ vapid_keys: 0, subscriptions: 4, categories: 1, subscription_categories: 2, notifications: 1, deliveries: 3 });
  });

  it.skipIf(skip)('the dispatcher: claims due work once, occurrences once per slot, a rule advances by compare-and-set', async () => {
    const store = await open();
    const base = { payload: '{}', target: '{"all":true}', ttl: 60, urgency: null, topic: 'pushctl-rule', status: 'scheduled' as const, send_at: NOW, cron: null, tz: null, until_at: null, remaining_count: null, stale_after_ms: null, idempotency_key: null, created_at: NOW };
    const due = await store.insertNotification(base);
    const later = await store.insertNotification({ ...base, send_at: NOW + 60_000 });
    const rule = await store.insertNotification({ ...base, cron: '* * * * *', tz: 'UTC' });
    expect(await store.nextWorkAt()).toBe(NOW);
    const claimed = await store.claimNext('w1', NOW, 1000, []);
    expect(claimed).toMatchObject({ id: due, status: 'sending', lease_owner: 'w1' });
    expect(await store.claimNext('w2', NOW, 1000, [])).toBeUndefined();
    // An interrupted send (no pending rows: it only needs finishing) is taken over once its lease ends.
    expect((await store.claimNext('w2', NOW + 1001, 1000, [])))!.toMatchObject({ id: due, lease_owner: 'w2' });
    expect(await store.claimNext('w3', NOW + 1001, 1000, [due])).toBeUndefined();
    expect(await store.markSkipped(due, 'w1', 'stale', NOW)).toBe(false);
    expect(await store.markSkipped(due, 'w2', 'stale', NOW)).toBe(true);
    expect((await store.claimNext('w1', NOW + 60_000, 1000, [])))!.toMatchObject({ id: later });

    expect((await store.dueTemplates(NOW)).map((t) => t.id)).toEqual([rule]);
    const occurrence = await store.insertOccurrence({ parentId: rule, slotAt: NOW, status: 'scheduled', error: null, now: NOW });
    expect(occurrence).not.toBeNull();
    expect(await store.insertOccurrence({ parentId: rule, slotAt: NOW, status: 'scheduled', error: null, now: NOW })).toBeNull();
    const missed = await store.insertOccurrence({ parentId: rule, slotAt: NOW - 60_000, status: 'skipped', error: 'missed', now: NOW });
    expect(await store.notificationById(missed!)).toMatchObject({ status: 'skipped', finished_at: NOW, parent_id: rule, topic: 'pushctl-rule' });
    await store.setTopicIf(occurrence!, 'pushctl-rule', `pushctl-${occurrence}`);
    await store.setTopicIf(occurrence!, 'pushctl-rule', 'never');
    expect((await store.notificationById(occurrence!))!.topic).toBe(`pushctl-${occurrence}`);
    expect(await store.advanceTemplate(rule, NOW, { sendAt: NOW + 60_000, remaining: null })).toBe(true);
    expect(await store.advanceTemplate(rule, NOW, { sendAt: NOW + 60_000, remaining: null })).toBe(false);
    expect(await store.occurrenceCount(rule)).toBe(2);
    expect((await store.occurrenceRows(rule, 1)).map((r) => r.id)).toEqual([occurrence]);
    expect(await store.liveOccurrences(rule, NOW)).toEqual([]);
    expect(await store.cancelScheduledOccurrences(rule, NOW)).toBe(1);
    expect(await store.deleteOccurrences(rule)).toBe(2);
    expect(await store.advanceTemplate(rule, NOW + 60_000, { finishedAt: NOW, remaining: 0 })).toBe(true);
    expect((await store.notificationById(rule))!.status).toBe('sent');

    const failed = await store.insertNotification({ ...base, status: 'sending' });
    await store.upsertSubscription(write(1));
    await store.fixRecipients(failed, { all: true }, NOW);
    await store.setStatus(failed, 'failed', { finished_at: NOW });
    expect(await store.reopenForResume(failed)).toBe(true);
    expect((await store.notificationById(failed))!).toMatchObject({ status: 'sending', finished_at: null });
  });

  it.skipIf(skip)('transactions commit together, roll back on a throw, and a savepoint undoes only its own writes', async () => {
    const store = await open();
    await expect(
      store.transaction(async (tx) => {
        await tx.insertCategory({ name: 'lost', description: null, createdAt: NOW });
        throw new Error('no');
      }),
    ).rejects.toThrow('no');
    expect(await store.categoryByName('lost')).toBeUndefined();

    const outcome = await store.transaction(async (tx) => {
      await tx.insertCategory({ name: 'kept', description: null, createdAt: NOW });
      const failedItem = await tx.savepoint(async (sp) => {
        await sp.insertCategory({ name: 'undone', description: null, createdAt: NOW });
        await sp.insertCategory({ name: 'kept', description: null, createdAt: NOW }); // unique violation
      }).then(() => 'ok', () => 'failed');
      await tx.savepoint((sp) => sp.insertCategory({ name: 'second', description: null, createdAt: NOW }));
      return failedItem;
    }, { lock: 'categories' });
    expect(outcome).toBe('failed');
    expect((await store.allCategoriesWithCounts()).map((c) => c.name)).toEqual(['kept', 'second']);

    // Two transactions at once on one store: each sees only its own work until it commits.
    const results = await Promise.all(
      ['x', 'y'].map((name) =>
        store.transaction(async (tx) => {
          const before = (await tx.allCategoriesWithCounts()).length;
          await tx.insertCategory({ name, description: null, createdAt: NOW });
          return before;
        }, { lock: 'categories' }),
      ),
    );
    expect([...results].sort()).toEqual([2, 3]);
  });

  it.skipIf(skip)('chunked claims: two claimers at once never take the same delivery; an expired lease is taken over', async () => {
    const location = await freshLocation();
    const setup = await open(location);
    const subs = await setup.upsertSubscriptions(Array.from({ length: 600 }, (_, i) => ({ write: write(i + 1) })));
    const base = { payload: '{}', target: '{"all":true}', ttl: 60, urgency: null, topic: null, status: 'sending' as const, send_at: NOW, cron: null, tz: null, until_at: null, remaining_count: null, stale_after_ms: null, idempotency_key: null, created_at: NOW };
    const id = await setup.insertNotification(base);
    await setup.fixRecipients(id, { all: true }, NOW);
    const claimers = [await open(location), await open(location)];
    const taken: number[][] = [[], []];
    await Promise.all(
      claimers.map(async (store, i) => {
        for (;;) {
          const chunk = await store.claimDeliveries({ notificationId: id, now: NOW, leaseMs: 60_000, limit: 25 });
          if (!chunk.length) return;
          taken[i]!.push(...chunk.map((d) => d.subscription_id));
          // Give the other claimer its turn (on PostgreSQL it runs concurrently anyway).
          await new Promise((resolve) => setImmediate(resolve));
        }
      }),
    );
    const all = [...taken[0]!, ...taken[1]!];
    expect(all).toHaveLength(600);
    expect(new Set(all).size).toBe(600);
    expect(new Set(all)).toEqual(new Set(subs.map((s) => s.id)));
    expect(taken[0]!.length).toBeGreaterThan(0);
    expect(taken[1]!.length).toBeGreaterThan(0);

    // Nothing is due while the leases last; the chunk of a worker that died comes back after.
    expect(await claimers[0]!.claimDeliveries({ notificationId: id, now: NOW + 59_999, leaseMs: 60_000, limit: 25 })).toEqual([]);
    await claimers[0]!.recordDeliveries(taken[0]!.map((subscriptionId) => ({ notificationId: id, subscriptionId, state: 'sent' as const, statusCode: 201, error: null, nextAttemptAt: null, now: NOW + 1 })));
    const takenOver: number[] = [];
    for (;;) {
      const chunk = await claimers[0]!.claimDeliveries({ notificationId: id, now: NOW + 60_000, leaseMs: 60_000, limit: 100 });
      if (!chunk.length) break;
      takenOver.push(...chunk.map((d) => d.subscription_id));
    }
    expect(takenOver.sort((a, b) => a - b)).toEqual([...taken[1]!].sort((a, b) => a - b));
  });

  it.skipIf(skip)('chunked claims: three processes claiming at once share one send, each delivery exactly once', async () => {
    const location = await freshLocation();
    const setup = await open(location);
    await setup.upsertSubscriptions(Array.from({ length: 3000 }, (_, i) => ({ write: write(i + 1) })));
    const base = { payload: '{}', target: '{"all":true}', ttl: 60, urgency: null, topic: null, status: 'sending' as const, send_at: NOW, cron: null, tz: null, until_at: null, remaining_count: null, stale_after_ms: null, idempotency_key: null, created_at: NOW };
    const id = await setup.insertNotification(base);
    await setup.fixRecipients(id, { all: true }, NOW);
    // Each worker claims a chunk, "sends" it, records the answers, until nothing is left.
    const script = `
      const { openStore } = await import(${JSON.stringify(path.join(ROOT, 'dist/store/open.js'))});
      const store = await openStore(process.argv[1]);
      const id = Number(process.argv[2]);
      const mine = [];
      for (;;) {
        const chunk = await store.claimDeliveries({ notificationId: id, now: ${NOW}, leaseMs: 600000, limit: 50 });
        if (!chunk.length) break;
        mine.push(...chunk.map((d) => d.subscription_id));
        await store.recordDeliveries(chunk.map((d) => ({ notificationId: id, subscriptionId: d.subscription_id, state: 'sent', statusCode: 201, error: null, nextAttemptAt: null, now: ${NOW} })));
      }
      await store.close();
      console.log(JSON.stringify(mine));`;
    const results = await Promise.all([1, 2, 3].map(() => node(script, [location, String(id)])));
    const claimed: number[] = [];
    for (const result of results) {
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      claimed.push(...(JSON.parse(result.stdout) as number[]));
    }
    expect(claimed).toHaveLength(3000);
    expect(new Set(claimed).size).toBe(3000);
    expect(await setup.deliveryCounts(id)).toEqual({ total: 3000, sent: 3000, gone: 0, failed: 0, pending: 0, capped: 0 });
    // Every delivery was recorded once: one attempt each.
    const attempts = new Set<number>();
    for await (const page of setup.streamRows('deliveries')) for (const row of page) attempts.add(Number(row.attempts));
    expect([...attempts]).toEqual([1]);
  });

  it.skipIf(skip)('migrations: processes opening a fresh store at once migrate it once', async () => {
    const location = await freshLocation();
    const script = `
      const { openStore } = await import(${JSON.stringify(path.join(ROOT, 'dist/store/open.js'))});
      const store = await openStore(process.argv[1]);
      console.log(await store.schemaVersion());
      await store.close();`;
    const results = await Promise.all([1, 2, 3].map(() => node(script, [location])));
    for (const result of results) {
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      expect(result.stdout.trim()).toBe(String(SCHEMA_VERSION));
    }
    if (backend === 'postgres') {
      const client = new pg.Client({ connectionString: location });
      await client.connect();
      try {
        const { rows } = await client.query<{ version: number; n: string }>('SELECT version, count(*) AS n FROM pushctl_schema_migrations GROUP BY version ORDER BY version');
        expect(rows.map((r) => [r.version, Number(r.n)])).toEqual(PG_MIGRATIONS.map((m) => [m.version, 1]));
      } finally {
        await client.end();
      }
    }
  });

  it.skipIf(skip)('a store written by a newer pushctl is refused politely', async () => {
    const location = await freshLocation();
    await (await openStore(location)).close();
    if (backend === 'postgres') {
      const client = new pg.Client({ connectionString: location });
      await client.connect();
      await client.query(`INSERT INTO pushctl_schema_migrations (version, description, applied_at) VALUES (99, 'future', 0)`);
      await client.end();
    } else {
      const db = new Database(location);
      db.pragma('user_version = 99');
      db.close();
    }
    const error = await openStore(location).then(
      () => undefined,
      (e: Error & { kind?: string }) => e,
    );
    expect(error?.kind).toBe('conflict');
    expect(error?.message).toMatch(/schema version 99, but this pushctl knows only up to \d+: it was written by a newer pushctl/);
  });
});
