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
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, tempDir } from './support/cli.js';
import { BACKENDS, DAY, NOTIFICATION, NOW, write } from './support/store-fixtures.js';
import { sharedPostgres, type PostgresServer } from './support/postgres.js';
import type { Store, WorkHint } from '../src/store/store.js';
import type { Context } from '../src/core/context.js';
import type { StoreOpenOptions } from '../src/store/open.js';
import type { NotificationStatus } from '../src/limits.js';

const { openStore } = (await import(path.join(ROOT, 'dist/store/open.js'))) as typeof import('../src/store/open.js');
const { fromStoreError } = (await import(path.join(ROOT, 'dist/errors.js'))) as typeof import('../src/errors.js');
const { MIGRATIONS, SCHEMA_VERSION } = (await import(path.join(ROOT, 'dist/store/migrations.js'))) as typeof import('../src/store/migrations.js');
const postgresMigrations = (await import(path.join(ROOT, 'dist/store/postgres/migrations.js'))) as typeof import('../src/store/postgres/migrations.js');
const { createWriteBatcher } = (await import(path.join(ROOT, 'dist/core/write-batch.js'))) as typeof import('../src/core/write-batch.js');



/** What each backend answered to the same scenario, compared across backends at the end. */
const answers: Partial<Record<'sqlite' | 'postgres', Record<string, unknown>>> = {};


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
  // Tests of PostgreSQL alone are not registered in the SQLite run (rather than reported as skipped).
  const itOnPostgres = backend === 'postgres' ? it.skipIf(skip) : (((_name: string, _fn: () => unknown) => undefined) as unknown as ReturnType<typeof it.skipIf>);
  let server: PostgresServer | undefined;
  const opened: Store[] = [];
  const dirs: string[] = [];

  beforeAll(async () => {
    // The file's one server (stopped when the worker exits); a fresh database per test.
    if (backend === 'postgres' && !skip) server = await sharedPostgres();
  }, 180_000);
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
  async function open(location?: string, options?: StoreOpenOptions): Promise<Store> {
    const store = await openStore(location ?? (await freshLocation()), options);
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

  itOnPostgres('a server that cannot be reached is a clear error, without the password', async () => {
    const error: unknown = await openStore('postgres://pushctl:s3cret@127.0.0.1:1/pushctl?connect_timeout=5', { retryForMs: 300 }).catch((e: unknown) => e);
    expect((error as { code?: string }).code).toBe('store_unavailable');
    expect((error as Error).message).toMatch(/^database postgres:\/\/pushctl:\*\*\*@127\.0\.0\.1:1\/pushctl\?connect_timeout=5: cannot open: .*ECONNREFUSED/);
    expect((error as Error).message).not.toContain('s3cret');
  });

  it.skipIf(skip)('group commit: a batch runs its writes in key order (stable), and each caller gets its own answer', async () => {
    const store = await open();
    const batcher = createWriteBatcher({ store } as unknown as Context);
    const ran: string[] = [];
    const keys = ['c', 'a', 'b', 'a', ''];
    const answers = await Promise.all(
      keys.map((key, i) =>
        batcher.run(async (tx) => {
          ran.push(`${key}${i}`);
          return (await tx.upsertSubscriptions([{ write: write(100 + i) }]))[0]!.id;
        }, key),
      ),
    );
    expect(ran).toEqual(['4', 'a1', 'a3', 'b2', 'c0']);
    const ids = await Promise.all(keys.map(async (_, i) => (await store.subscriptionByEndpoint(write(100 + i).endpoint))!.id));
    expect(answers).toEqual(ids);
  });

  it.skipIf(skip)('two receivers group-committing the same endpoints in opposite orders both commit every write (no deadlock)', async () => {
    const location = await freshLocation();
    const [a, b] = [await open(location), await open(location)];
    const endpoints = Array.from({ length: 60 }, (_, i) => i);
    const replica = (store: Store, order: number[]) => {
      const batcher = createWriteBatcher({ store } as unknown as Context);
      return order.map((n) => batcher.run(async (tx) => (await tx.upsertSubscriptions([{ write: write(n) }]))[0]!, write(n).endpoint));
    };
    // Queued in the same turn: each replica's whole list is one batch, one transaction.
    const results = await Promise.allSettled([...replica(a, endpoints), ...replica(b, [...endpoints].reverse())]);
    expect(results.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason))).toEqual([]);
    expect(await a.countSubscriptions()).toBe(60);
  });

  itOnPostgres('a transaction the server aborts as a deadlock runs again: both writers commit', async () => {
    const location = await freshLocation();
    const [a, b] = [await open(location), await open(location)];
    await a.upsertSubscriptions([{ write: write(1) }, { write: write(2) }]);
    // Each holds one row, then wants the other's: PostgreSQL aborts one of them (40P01).
    const latch = () => {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => (resolve = r));
      return { promise, resolve };
    };
    const holds = [latch(), latch()];
    const attempts: [number, number] = [0, 0];
    const writer = (store: Store, me: 0 | 1, first: number, second: number) =>
      store.transaction(async (tx) => {
        attempts[me] += 1;
        await tx.upsertSubscriptions([{ write: write(first, { label: `writer ${me}` }) }]);
        holds[me]!.resolve();
        await holds[1 - me]!.promise;
        await tx.upsertSubscriptions([{ write: write(second, { label: `writer ${me}` }) }]);
      });
    await Promise.all([writer(a, 0, 1, 2), writer(b, 1, 2, 1)]);
    expect(attempts[0]! + attempts[1]!).toBe(3); // the victim ran twice, and committed
    const rows = [await a.subscriptionByEndpoint(write(1).endpoint), await a.subscriptionByEndpoint(write(2).endpoint)];
    // The writer that went second wrote both rows last: its label is on both.
    expect(rows[0]!.label).toMatch(/^writer [01]$/);
    expect(rows[1]!.label).toBe(rows[0]!.label);
  });

  itOnPostgres('PostgreSQL restarted: with no retry budget, operations fail as unavailable while it is down, and work again once it is back', async () => {
    const store = await open(undefined, { retryForMs: 0 });
    await store.insertCategory({ name: 'before', description: null, createdAt: NOW });
    await server!.pause();
    try {
      const error: unknown = await store.categoryByName('before').catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'store_unavailable', kind: 'busy' });
      expect(fromStoreError(error)).toBeUndefined();
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
    const other = await store.insertNotification({ ...base, status: 'sent', send_at: NOW + 100 });
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
    expect(await store.countRecipients({ all: true }, NOW)).toBe(5);
    expect(await store.countRecipients({ categories: ['news', 'none'] }, NOW)).toBe(3);
    expect(await store.countRecipients({ subscriptionIds: [ids[0]!, 999_999] }, NOW)).toBe(1);
    // The first recipients by id, as a send reaches them (it opens connections to their push services ahead).
    const endpointOf = new Map(subs.map((sub, i) => [sub.id, write(i + 1).endpoint]));
    const byId = (wanted: number[]) => wanted.sort((a, b) => a - b).map((id) => endpointOf.get(id)!);
    expect(await store.recipientEndpoints({ all: true }, NOW, 2)).toEqual(byId([...ids]).slice(0, 2));
    expect(await store.recipientEndpoints({ categories: ['news', 'none'] }, NOW, 10)).toEqual(byId(ids.slice(0, 3)));
    expect(await store.recipientEndpoints({ subscriptionIds: [ids[4]!, ids[0]!, 999_999] }, NOW, 10)).toEqual(byId([ids[0]!, ids[4]!]));
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
    expect(await store.tableCounts()).toEqual({ vapid_keys: 0, subscriptions: 4, categories: 1, subscription_categories: 2, notifications: 1, deliveries: 3, delivery_tokens: 0, delivery_events: 0, maintenance_runs: 0, secrets: 0 });
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

  it.skipIf(skip)('engagement: tokens issued once per delivery, events once per kind, funnel, clicks, days; a removed subscription forgets its events', async () => {
    const store = await open();
    const news = await store.insertCategory({ name: 'news', description: null, createdAt: NOW });
    const subs = (await store.upsertSubscriptions([1, 2, 3, 4, 5].map((n) => ({ write: write(n), categoryIds: n <= 4 ? [news.id] : [] })))).map((s) => s.id);
    const [s1, s2, s3, s4, s5] = subs as [number, number, number, number, number];
    const plan = '{"clicks":true,"base":"https://example.com","targets":{}}';
    const a = await store.insertNotification({ ...NOTIFICATION, payload: '{"title":"A"}', target: '{"categories":["news"]}' });
    const b = await store.insertNotification({ ...NOTIFICATION, payload: '{"title":"B"}' });
    await store.setTracking(a, plan);
    await store.setTracking(b, '{"clicks":false}');
    expect(await store.trackingOf(a)).toBe(plan);
    expect(await store.trackingOf(999_999)).toBeNull();
    await store.fixRecipients(a, { categories: ['news'] }, NOW);
    await store.fixRecipients(b, { all: true }, NOW);

    let n = 0;
    const newToken = () => `tok-${++n}`;
    const first = await store.issueTokens(a, [s1, s2, s3], newToken);
    expect(first).toEqual(new Map([[s1, 'tok-1'], [s2, 'tok-2'], [s3, 'tok-3']]));
    // A retried or resumed delivery keeps its first token; only the new one gets one.
    const again = await store.issueTokens(a, [s2, s3, s4], newToken);
    expect(again).toEqual(new Map([[s2, 'tok-2'], [s3, 'tok-3'], [s4, 'tok-6']]));
    expect(await store.issueTokens(a, [], newToken)).toEqual(new Map());
    const inTx = await store.transaction((tx) => tx.issueTokens(b, [s1, s5], newToken));
    expect([...inTx.keys()]).toEqual([s1, s5]);
    expect(await store.deliveryByToken('tok-1')).toEqual({ notification_id: a, subscription_id: s1, tracking: plan, payload: '{"title":"A"}' });
    expect(await store.deliveryByToken('tok-none')).toBeUndefined();
    // Sealed tokens: the same owner by ids; a secret is made once, whoever asks first.
    expect(await store.trackedDelivery(a, s1)).toEqual({ notification_id: a, subscription_id: s1, tracking: plan, payload: '{"title":"A"}' });
    expect(await store.trackedDelivery(a, 999_999)).toBeUndefined();
    expect(await store.trackedDelivery(999_999, s1)).toBeUndefined();
    expect(await store.readSecret('k')).toBeUndefined();
    const secrets = await Promise.all([store.secret('k', () => 'first'), store.secret('k', () => 'second'), store.transaction((tx) => tx.secret('k', () => 'third'))]);
    expect(new Set(secrets).size).toBe(1);
    expect(await store.secret('k', () => 'later')).toBe(secrets[0]);
    expect(await store.readSecret('k')).toBe(secrets[0]);
    expect(await store.transaction((tx) => tx.readSecret('k'))).toBe(secrets[0]);
    expect(await store.secret('other', () => 'x')).toBe('x');

    await store.recordDeliveries([
      { notificationId: a, subscriptionId: s1, state: 'sent', statusCode: 201, error: null, nextAttemptAt: null, now: NOW + 10 },
      { notificationId: a, subscriptionId: s2, state: 'sent', statusCode: 201, error: null, nextAttemptAt: null, now: NOW + DAY },
      { notificationId: a, subscriptionId: s4, state: 'sent', statusCode: 201, error: null, nextAttemptAt: null, now: NOW + DAY },
      { notificationId: b, subscriptionId: s5, state: 'sent', statusCode: 201, error: null, nextAttemptAt: null, now: NOW + 10 },
    ]);
    const event = (notificationId: number, subscriptionId: number, kind: 'shown' | 'clicked' | 'dismissed', action: string | null, at: number) =>
      store.insertEvent({ notificationId, subscriptionId, kind, action, at });
    expect(await event(a, s1, 'shown', null, NOW + 20)).toBe(true);
    expect(await event(a, s1, 'shown', null, NOW + 25)).toBe(false); // once per kind
    expect(await event(a, s1, 'clicked', 'apple', NOW + 30)).toBe(true);
    expect(await event(a, s1, 'clicked', 'Zed', NOW + 31)).toBe(false);
    expect(await event(a, s2, 'shown', null, NOW + DAY + 1)).toBe(true);
    expect(await event(a, s2, 'clicked', null, NOW + DAY + 2)).toBe(true);
    expect(await event(a, s3, 'clicked', 'Zed', NOW + DAY + 3)).toBe(true); // reported before its 201 was written
    expect(await event(a, s4, 'clicked', 'apple', NOW + DAY + 4)).toBe(true);
    expect(await event(a, s4, 'dismissed', null, NOW + DAY + 5)).toBe(true);
    expect(await event(b, s5, 'shown', null, NOW + 40)).toBe(true);
    await expect(store.insertEvent({ notificationId: b, subscriptionId: s5, kind: 'opened' as 'shown', action: null, at: NOW })).rejects.toThrow();

    const funnel = await store.funnelCounts(a);
    expect(funnel).toEqual({ targeted: 4, delivered: 3, shown: 2, clicked: 4, dismissed: 1 });
    expect(await store.funnelCounts(999_999)).toEqual({ targeted: 0, delivered: 0, shown: 0, clicked: 0, dismissed: 0 });
    // Most clicks first, then by action in byte order with the body (null) first.
    const clicks = await store.clicksByAction(a);
    expect(clicks).toEqual([{ action: 'apple', clicks: 2 }, { action: null, clicks: 1 }, { action: 'Zed', clicks: 1 }]);
    const day = Math.floor(NOW / DAY);
    const days = await store.dailyCounts(NOW - DAY, undefined);
    expect(days).toEqual([
      { day, delivered: 2, shown: 2, clicked: 1, dismissed: 0 },
      { day: day + 1, delivered: 2, shown: 1, clicked: 3, dismissed: 1 },
    ]);
    const newsDays = await store.dailyCounts(NOW - DAY, 'news');
    expect(newsDays).toEqual([
      { day, delivered: 1, shown: 1, clicked: 1, dismissed: 0 },
      { day: day + 1, delivered: 2, shown: 1, clicked: 3, dismissed: 1 },
    ]);
    expect(await store.dailyCounts(NOW + DAY, 'none')).toEqual([]);
    expect(await store.dailyCounts(NOW + 2 * DAY, undefined)).toEqual([]);

    // A rule's occurrences carry its tracking plan.
    const rule = await store.insertNotification({ ...NOTIFICATION, status: 'scheduled', cron: '0 9 * * *', tz: 'UTC' });
    await store.setTracking(rule, plan);
    const occurrence = await store.insertOccurrence({ parentId: rule, slotAt: NOW, status: 'scheduled', error: null, now: NOW });
    expect(await store.trackingOf(occurrence!)).toBe(plan);

    // A subscription removed (deleted, or gone on a 410) takes its tokens and events along; the ledger keeps its row.
    expect(await store.deleteSubscription(s4)).toBe(true);
    await store.recordDeliveries([{ notificationId: a, subscriptionId: s3, state: 'gone', statusCode: 410, error: 'gone', nextAttemptAt: null, now: NOW + DAY }]);
    expect(await store.deliveryByToken('tok-6')).toBeUndefined();
    expect(await store.deliveryByToken('tok-3')).toBeUndefined();
    expect(await store.trackedDelivery(a, s4)).toBeUndefined();
    expect(await store.trackedDelivery(a, s3)).toBeUndefined();
    expect(await store.trackedDelivery(a, s2)).toMatchObject({ notification_id: a, subscription_id: s2 });
    const after = await store.funnelCounts(a);
    expect(after).toEqual({ targeted: 4, delivered: 3, shown: 2, clicked: 2, dismissed: 0 }); // s4's 'sent' stays in the ledger
    // A prune (many at once) too.
    expect(await store.deletePrunable({ noSuccessSince: NOW + 41 })).toBe(2); // s1, s5: last success at NOW + 10, last shown/click by NOW + 40
    expect(await store.deliveryByToken('tok-1')).toBeUndefined();
    const counts = await store.tableCounts();
    expect(counts).toMatchObject({ subscriptions: 1, delivery_tokens: 1, delivery_events: 2 });
    // A deleted notification takes its tokens and events by cascade.
    expect(await store.deleteNotification(a)).toBe(true);
    expect(await store.tableCounts()).toMatchObject({ delivery_tokens: 0, delivery_events: 0, maintenance_runs: 0 });
    expect(await store.trackedDelivery(a, s2)).toBeUndefined();

    answers[backend] = { ...answers[backend], engagement: { first, again, inTx, funnel, clicks, days, newsDays, after, counts } };
  });

  it.skipIf(skip)('gauges and retries: counts by status, overdue, pending due and deferred, members per category, deferred sends', async () => {
    const store = await open();
    await store.ping();
    const zeta = await store.insertCategory({ name: 'zeta', description: null, createdAt: NOW });
    await store.insertCategory({ name: 'alpha', description: null, createdAt: NOW });
    const subs = (await store.upsertSubscriptions([1, 2, 3, 4].map((n) => ({ write: write(n), categoryIds: n <= 2 ? [zeta.id] : [] })))).map((s) => s.id);

    await store.insertNotification({ ...NOTIFICATION, status: 'scheduled', send_at: NOW - 1 }); // overdue
    await store.insertNotification({ ...NOTIFICATION, status: 'scheduled', send_at: null }); // overdue: "now"
    await store.insertNotification({ ...NOTIFICATION, status: 'scheduled', send_at: NOW + 1 });
    await store.insertNotification({ ...NOTIFICATION, status: 'scheduled', send_at: NOW - 1, cron: '* * * * *', tz: 'UTC' }); // a rule: never overdue
    await store.insertNotification({ ...NOTIFICATION, status: 'sent' });
    await store.insertNotification({ ...NOTIFICATION, status: 'cancelled' });
    const retry = (notificationId: number, subscriptionId: number, at: number | null) =>
      ({ notificationId, subscriptionId, state: 'pending' as const, statusCode: at === null ? null : 503, error: null, nextAttemptAt: at, now: NOW });
    // Nobody's, everything waiting: a deferred send.
    const waiting = await store.insertNotification(NOTIFICATION);
    await store.fixRecipients(waiting, { all: true }, NOW);
    await store.recordDeliveries([retry(waiting, subs[0]!, NOW + 5000), retry(waiting, subs[1]!, NOW + 3000), retry(waiting, subs[2]!, NOW + 9000)]);
    await store.recordDeliveries([{ ...retry(waiting, subs[3]!, null), state: 'sent', statusCode: 201 }]);
    // Also nobody's and waiting, due sooner: listed first.
    const sooner = await store.insertNotification(NOTIFICATION);
    await store.fixRecipients(sooner, { subscriptionIds: [subs[0]!] }, NOW);
    await store.recordDeliveries([retry(sooner, subs[0]!, NOW + 1000)]);
    // One delivery due now: not deferred.
    const due = await store.insertNotification(NOTIFICATION);
    await store.fixRecipients(due, { subscriptionIds: [subs[0]!, subs[1]!] }, NOW);
    await store.recordDeliveries([retry(due, subs[0]!, NOW + 7000)]);
    // Held by a live lease: someone is working on it.
    const held = await store.insertNotification({ ...NOTIFICATION, lease_owner: 'w', lease_expires_at: NOW + 60_000 });
    await store.fixRecipients(held, { subscriptionIds: [subs[0]!] }, NOW);
    await store.recordDeliveries([retry(held, subs[0]!, NOW + 2000)]);

    const byStatus = await store.notificationsByStatus();
    expect(byStatus).toEqual([{ status: 'cancelled', n: 1 }, { status: 'scheduled', n: 4 }, { status: 'sending', n: 4 }, { status: 'sent', n: 1 }]);
    const overdue = await store.overdueNotifications(NOW);
    expect(overdue).toBe(2);
    const pending = await store.pendingDeliveries(NOW);
    expect(pending).toEqual({ due: 1, deferred: 6 });
    expect(await store.pendingDeliveries(NOW + 10_000)).toEqual({ due: 7, deferred: 0 });
    const members = await store.subscriptionsByCategory();
    expect(members).toEqual([{ name: 'zeta', n: 2 }, { name: 'alpha', n: 0 }]);

    expect(await store.earliestRetryAfter(waiting, NOW)).toBe(NOW + 3000);
    expect(await store.earliestRetryAfter(waiting, NOW + 3000)).toBe(NOW + 5000);
    expect(await store.earliestRetryAfter(waiting, NOW + 9000)).toBeNull();
    expect(await store.earliestRetryAfter(due, NOW)).toBe(NOW + 7000);
    const deferred = await store.deferredSends(NOW);
    expect(deferred).toEqual([{ id: sooner, deliveries: 1, dueAt: NOW + 1000 }, { id: waiting, deliveries: 3, dueAt: NOW + 3000 }]);
    // Once the lease ends, the held send is nobody's: deferred too.
    expect((await store.deferredSends(NOW + 60_000)).map((d) => d.id)).toEqual([]);
    expect((await store.deferredSends(NOW + 1500)).map((d) => d.id)).toEqual([waiting]);

    answers[backend] = { ...answers[backend], gauges: { byStatus, overdue, pending, members, deferred } };
  });

  it.skipIf(skip)('subscriber locale, expired subscriptions, urgent notifications (migration 5)', async () => {
    const store = await open();
    const first = await store.upsertSubscription(write(1, { timeZone: 'Europe/Berlin', language: 'de-DE' }));
    await store.upsertSubscription(write(1, { p256dh: 'changed' })); // undefined keeps zone and language
    expect(await store.subscriptionById(first.id)).toMatchObject({ p256dh: 'changed', time_zone: 'Europe/Berlin', language: 'de-DE' });
    const batch = await store.upsertSubscriptions([
      { write: write(1, { language: null }) },
      { write: write(2, { timeZone: 'Asia/Tokyo', expirationTime: NOW + 1000 }) },
      { write: write(3, { expirationTime: NOW }) }, // expired at NOW
    ]);
    const [, s2, s3] = batch.map((b) => b.id) as [number, number, number];
    expect(await store.subscriptionById(first.id)).toMatchObject({ time_zone: 'Europe/Berlin', language: null });
    expect(await store.updateLocale(s2, { language: 'ja' }, NOW + 7)).toBe(true);
    expect(await store.updateLocale(999_999, { language: 'ja' }, NOW)).toBe(false);
    const locale = await store.subscriptionById(s2);
    expect(locale).toMatchObject({ time_zone: 'Asia/Tokyo', language: 'ja', updated_at: NOW + 7 });

    // A subscription whose expirationTime has passed is no recipient; one that expires later is flagged when read.
    expect(await store.countRecipients({ all: true }, NOW)).toBe(2);
    expect(await store.countRecipients({ subscriptionIds: [s2, s3] }, NOW + 1000)).toBe(0);
    const id = await store.insertNotification({ ...NOTIFICATION, urgent: 1 });
    await store.fixRecipients(id, { all: true }, NOW);
    const page = await store.pendingPage(id, 0, NOW + 1000, 10);
    expect(page.map((d) => [d.subscription_id, d.expired])).toEqual([[first.id, 0], [s2, 1]]);
    const claimed = await store.claimDeliveries({ notificationId: id, now: NOW + 1000, leaseMs: 1000, limit: 10 });
    expect(claimed.map((d) => [d.subscription_id, d.expired])).toEqual([[first.id, 0], [s2, 1]]);
    expect(await store.countPrunable({ expiredAt: NOW })).toBe(1);
    expect(await store.countPrunable({ failedMoreThan: 100, expiredAt: NOW + 1000 })).toBe(2);
    expect(await store.deletePrunable({ expiredAt: NOW })).toBe(1);

    const rule = await store.insertNotification({ ...NOTIFICATION, status: 'scheduled', cron: '* * * * *', tz: 'UTC', urgent: 1 });
    const occurrence = await store.insertOccurrence({ parentId: rule, slotAt: NOW, status: 'scheduled', error: null, now: NOW });
    expect((await store.notificationById(occurrence!))!.urgent).toBe(1);
    expect((await store.notificationById((await store.insertNotification(NOTIFICATION))))!.urgent).toBe(0);
    await store.storeCounts(id, { total: 5, sent: 1, gone: 1, failed: 1, pending: 0, capped: 2 });
    expect(await store.notificationById(id)).toMatchObject({ total_count: 5, capped_count: 2, urgent: 1 });
    answers[backend] = { ...answers[backend], locale: { locale, page, claimed } };
  });

  it.skipIf(skip)('frequency caps: category caps, and a send\'s untried recipients who had enough become capped', async () => {
    const store = await open();
    const news = await store.insertCategory({ name: 'news', description: null, createdAt: NOW });
    const offers = await store.insertCategory({ name: 'offers', description: null, createdAt: NOW });
    await store.setCategoryCap(news.id, '1/day');
    await store.setCategoryCap(offers.id, '3/week');
    await store.setCategoryCap(offers.id, null);
    expect(await store.categoryCapsByName(['news', 'offers', 'none'])).toEqual(new Map([['news', '1/day']]));
    expect(await store.categoryCapsByName([])).toEqual(new Map());
    expect((await store.categoryById(news.id))!.frequency_cap).toBe('1/day');
    const subs = (await store.upsertSubscriptions([1, 2, 3, 4].map((n) => ({ write: write(n), categoryIds: [news.id] })))).map((s) => s.id);
    const [s1, s2, s3, s4] = subs as [number, number, number, number];
    const sent = (notificationId: number, subscriptionId: number, at: number) =>
      ({ notificationId, subscriptionId, state: 'sent' as const, statusCode: 201, error: null, nextAttemptAt: null, now: at });
    // Earlier sends: one to news (s1, s2 got it), one to everyone (s1, s3 got it), one long ago (s4).
    const toNews = await store.insertNotification({ ...NOTIFICATION, target: '{"categories":["news"]}' });
    await store.fixRecipients(toNews, { categories: ['news'] }, NOW - 100);
    await store.recordDeliveries([sent(toNews, s1, NOW - 90), sent(toNews, s2, NOW - 90)]);
    const toAll = await store.insertNotification(NOTIFICATION);
    await store.fixRecipients(toAll, { all: true }, NOW - 50);
    await store.recordDeliveries([sent(toAll, s1, NOW - 40), sent(toAll, s3, NOW - 40)]);
    await store.setStatus(toAll, 'sent', { finished_at: NOW - 30 });
    const old = await store.insertNotification(NOTIFICATION);
    await store.fixRecipients(old, { subscriptionIds: [s4] }, NOW - DAY);
    await store.recordDeliveries([sent(old, s4, NOW - DAY)]);
    await store.setStatus(old, 'sent', { finished_at: NOW - DAY });

    const id = await store.insertNotification(NOTIFICATION);
    await store.fixRecipients(id, { all: true }, NOW);
    // s2 was already tried once: caps apply only to untried rows.
    await store.recordDeliveries([{ ...sent(id, s2, NOW), state: 'pending', statusCode: 503, nextAttemptAt: NOW + 1 }]);
    expect(await store.capPendingDeliveries(id, NOW + 1, [{ limit: 2, since: NOW - 1000 }])).toBe(1); // s1: two sends
    expect(await store.capPendingDeliveries(id, NOW + 1, [{ limit: 1, since: NOW - 1000, category: 'news' }, { limit: 1, since: NOW - 2 * DAY }])).toBe(2); // s3, s4
    const counts = await store.deliveryCounts(id);
    expect(counts).toEqual({ total: 4, sent: 0, gone: 0, failed: 0, pending: 1, capped: 3 });
    const page = await store.pendingPage(id, 0, NOW + 10, 10);
    expect(page.map((d) => d.subscription_id)).toEqual([s2]);
    answers[backend] = { ...answers[backend], caps: { counts } };
  });

  it.skipIf(skip)('quiet hours: category quiet hours, pending zones, deferring by zone (never earlier), the deferred summary', async () => {
    const store = await open();
    const b = await store.insertCategory({ name: 'b', description: null, createdAt: NOW });
    const a = await store.insertCategory({ name: 'Z', description: null, createdAt: NOW });
    await store.insertCategory({ name: 'c', description: null, createdAt: NOW });
    await store.setCategoryQuietHours(b.id, '22:00-07:00');
    await store.setCategoryQuietHours(a.id, '21:00-09:00');
    const byName = await store.categoryQuietHours(['b', 'Z', 'c', 'none']);
    expect(byName).toEqual([['Z', '21:00-09:00'], ['b', '22:00-07:00']]);
    expect(await store.categoryQuietHours([])).toEqual([]);
    const subs = (await store.upsertSubscriptions([
      { write: write(1, { timeZone: 'Europe/Berlin' }) },
      { write: write(2, { timeZone: 'Asia/Tokyo' }) },
      { write: write(3) },
      { write: write(4, { timeZone: 'Europe/Berlin' }) },
      { write: write(5, { timeZone: 'America/New_York' }) },
    ])).map((s) => s.id);
    const id = await store.insertNotification(NOTIFICATION);
    await store.fixRecipients(id, { all: true }, NOW);
    // s4 already waits past Berlin's quiet hours (a Retry-After): not moved earlier, nor counted. s5 was tried.
    await store.recordDeliveries([{ notificationId: id, subscriptionId: subs[4]!, state: 'pending', statusCode: 503, error: null, nextAttemptAt: NOW + 1, now: NOW }]);
    const zones = (await store.pendingZones(id)).sort((x, y) => String(x).localeCompare(String(y)));
    expect(zones).toEqual(['Asia/Tokyo', 'Europe/Berlin', null]);
    const deferred = await store.deferZones(id, new Map<string | null, { until: number; reason: string }>([
      ['Europe/Berlin', { until: NOW + 5000, reason: 'Quiet hours until 07:00 Europe/Berlin' }],
      [null, { until: NOW + 9000, reason: 'quiet hours until 07:00 UTC' }],
      ['America/New_York', { until: NOW + 9000, reason: 'quiet hours (tried already)' }],
    ]));
    expect(deferred).toBe(3);
    expect(await store.deferZones(id, new Map([['Europe/Berlin', { until: NOW + 4000, reason: 'earlier' }]]))).toBe(0);
    expect(await store.deferZones(id, new Map())).toBe(0);
    const summary = await store.deferredSummary(id, 'quiet hours%');
    expect(summary).toEqual({ count: 3, until: NOW + 5000 });
    expect(await store.deferredSummary(id, 'nothing%')).toEqual({ count: 0, until: null });
    expect((await store.pendingPage(id, 0, NOW + 4999, 10)).map((d) => d.subscription_id)).toEqual([subs[1], subs[4]]);
    answers[backend] = { ...answers[backend], quiet: { byName, zones, deferred, summary } };
  });

  it.skipIf(skip)('housekeeping: a run claimed once per period across connections, and old ledgers pruned with their counts kept', async () => {
    const location = await freshLocation();
    const stores = [await open(location), await open(location)];
    const [store] = stores as [Store];
    expect(await store.lastRun('prune')).toBeNull();
    const claims = await Promise.all(Array.from({ length: 6 }, (_, i) => stores[i % 2]!.claimRun('prune', NOW, DAY)));
    expect(claims.filter(Boolean)).toHaveLength(1);
    expect(await store.lastRun('prune')).toBe(NOW);
    expect(await store.claimRun('prune', NOW + DAY - 1, DAY)).toBe(false);
    expect(await store.claimRun('other', NOW, DAY)).toBe(true);
    expect(await store.claimRun('prune', NOW + DAY, DAY)).toBe(true);
    expect(await store.lastRun('prune')).toBe(NOW + DAY);

    const subs = (await store.upsertSubscriptions([1, 2, 3].map((n) => ({ write: write(n) })))).map((s) => s.id);
    const finished = async (status: NotificationStatus, finishedAt: number, extra: { cron?: string; tz?: string } = {}) => {
      const id = await store.insertNotification({ ...NOTIFICATION, ...extra });
      await store.fixRecipients(id, { all: true }, NOW - 10 * DAY);
      await store.recordDeliveries([{ notificationId: id, subscriptionId: subs[0]!, state: 'sent', statusCode: 201, error: null, nextAttemptAt: null, now: NOW - 10 * DAY }]);
      await store.setStatus(id, status, { finished_at: finishedAt });
      return id;
    };
    const oldSent = await finished('sent', NOW - 9 * DAY);
    const oldCancelled = await finished('cancelled', NOW - 8 * DAY);
    await finished('sent', NOW - DAY); // too recent
    await finished('sending', NOW - 9 * DAY); // not finished
    await finished('sent', NOW - 9 * DAY, { cron: '* * * * *', tz: 'UTC' }); // a rule, not history
    const history = await store.prunableHistory(NOW - 7 * DAY);
    expect(history).toEqual({ notifications: 2, deliveries: 6 });
    expect(await store.prunableHistoryIds(NOW - 7 * DAY, 10)).toEqual([oldSent, oldCancelled]);
    expect(await store.prunableHistoryIds(NOW - 7 * DAY, 1)).toEqual([oldSent]);
    expect(await store.pruneLedger(oldCancelled, NOW)).toBe(3);
    const pruned = await store.notificationById(oldCancelled);
    expect(pruned).toMatchObject({ ledger_pruned_at: NOW, total_count: 3, sent_count: 1, failed_count: 0, capped_count: 0 });
    expect(await store.deliveryCounts(oldCancelled)).toMatchObject({ total: 0 });
    expect(await store.prunableHistory(NOW - 7 * DAY)).toEqual({ notifications: 1, deliveries: 3 });
    expect(await store.tableCounts()).toMatchObject({ maintenance_runs: 2 });
    answers[backend] = { ...answers[backend], housekeeping: { history, pruned: { ...pruned, id: 0 } } };
  });

  itOnPostgres('both backends answered the same scenarios identically, and number their migrations alike', () => {
    expect(postgresMigrations.MIGRATIONS.map((m) => m.version)).toEqual(MIGRATIONS.map((m) => m.version));
    expect(postgresMigrations.SCHEMA_VERSION).toBe(SCHEMA_VERSION);
    expect(answers.postgres).toBeDefined();
    expect(answers.postgres).toEqual(answers.sqlite);
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
        expect(rows.map((r) => [r.version, Number(r.n)])).toEqual(MIGRATIONS.map((m) => [m.version, 1]));
      } finally {
        await client.end();
      }
    }
  });

  /** Runs SQL on a location directly, as an older pushctl (or an operator) would have written it. */
  async function rawSql<T>(location: string, run: (query: (sql: string, params?: unknown[]) => Promise<T[]>) => Promise<void>): Promise<void> {
    if (backend === 'postgres') {
      const client = new pg.Client({ connectionString: location });
      await client.connect();
      try {
        await run(async (sql, params = []) => {
          let n = 0;
          return (await client.query(sql.replace(/\?/g, () => `$${++n}`), params)).rows as T[];
        });
      } finally {
        await client.end();
      }
    } else {
      const db = new Database(location);
      try {
        await run(async (sql, params = []) => (/^\s*select/i.test(sql) ? (db.prepare(sql).all(...params) as T[]) : (db.prepare(sql).run(...params), [])));
      } finally {
        db.close();
      }
    }
  }

  it.skipIf(skip)('migration 8 rewrites endpoints stored before the canonical spelling, merging a browser\'s two rows into the one written last', async () => {
    const location = await freshLocation();
    await (await openStore(location)).close();
    const wns = 'https://wns2-db5p.notify.windows.com/w/?token=';
    const fcm = 'https://fcm.googleapis.com/fcm/send/';
    // [endpoint, p256dh, updated_at, categories]: what a store at version 7 could hold.
    const rows: [string, string, number, string[]][] = [
      [`${wns}AgUA%2fK0%2bNN%3d`, 'solo', 100, ['news']], // lower-case escapes, no twin: renamed
      [`${wns}BQYA%2fa%2b`, 'old-x', 100, ['news']], // the browser's first row...
      [`${wns}BQYA%2Fa%2B`, 'new-x', 200, ['offers']], // ...and its re-post, written last: this one stays
      [`${fcm}race%31`, 'old-y-written-last', 300, ['news']], // an escaped unreserved character, written last: stays
      [`${fcm}race1`, 'new-y', 200, []],
      [`${fcm}ok%3A1`, 'canonical', 100, ['offers']], // canonical already: untouched
      [`${fcm}dup%41%2f`, 'old-z', 100, ['news']], // two old spellings of one endpoint, neither canonical:
      [`${fcm}dupA%2f`, 'new-z', 150, ['offers']], // the one written last stays
    ];
    await rawSql<{ id: number }>(location, async (query) => {
      for (const name of ['news', 'offers']) await query('INSERT INTO categories (name, created_at) VALUES (?, 0)', [name]);
      for (const [endpoint, p256dh, updatedAt, categories] of rows) {
        await query('INSERT INTO subscriptions (endpoint, p256dh, auth, created_at, updated_at) VALUES (?, ?, ?, 0, ?)', [endpoint, p256dh, 'auth', updatedAt]);
        for (const name of categories) {
          await query('INSERT INTO subscription_categories (subscription_id, category_id) SELECT s.id, c.id FROM subscriptions s, categories c WHERE s.endpoint = ? AND c.name = ?', [endpoint, name]);
        }
      }
      // Back to version 7 (migration 8 changes no schema, so this is what a version-7 store looks like).
      if (backend === 'postgres') await query('DELETE FROM pushctl_schema_migrations WHERE version = 8');
      else await query('PRAGMA user_version = 7');
    });
    const ids = new Map<string, number>();
    await rawSql<{ id: number; p256dh: string }>(location, async (query) => {
      for (const row of await query('SELECT id, p256dh FROM subscriptions')) ids.set(row.p256dh, Number(row.id));
    });

    const store = await open(location);
    expect(await store.schemaVersion()).toBe(SCHEMA_VERSION);
    await store.close();
    opened.splice(opened.indexOf(store), 1);
    let after: { id: number; endpoint: string; p256dh: string; categories: string | null }[] = [];
    await rawSql<(typeof after)[number]>(location, async (query) => {
      after = (await query(
        `SELECT s.id, s.endpoint, s.p256dh, (SELECT ${backend === 'postgres' ? "string_agg(c.name, ',' ORDER BY c.name)" : "group_concat(c.name, ',')"} FROM subscription_categories sc JOIN categories c ON c.id = sc.category_id WHERE sc.subscription_id = s.id) AS categories FROM subscriptions s ORDER BY s.id`,
      )).map((r) => ({ ...r, id: Number(r.id) }));
      // The removed rows' memberships went with them.
      const orphans = (await query('SELECT count(*) AS n FROM subscription_categories WHERE subscription_id NOT IN (SELECT id FROM subscriptions)')) as unknown as { n: number | string }[];
      expect(Number(orphans[0]!.n)).toBe(0);
    });
    expect(after).toEqual([
      { id: ids.get('solo'), endpoint: `${wns}AgUA%2FK0%2BNN%3D`, p256dh: 'solo', categories: 'news' },
      { id: ids.get('new-x'), endpoint: `${wns}BQYA%2Fa%2B`, p256dh: 'new-x', categories: 'offers' },
      { id: ids.get('old-y-written-last'), endpoint: `${fcm}race1`, p256dh: 'old-y-written-last', categories: 'news' },
      { id: ids.get('canonical'), endpoint: `${fcm}ok%3A1`, p256dh: 'canonical', categories: 'offers' },
      { id: ids.get('new-z'), endpoint: `${fcm}dupA%2F`, p256dh: 'new-z', categories: 'offers' },
    ]);
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

  // ---- shared sends (issue 11): chunk leases, concurrent claimers, work wake-ups ----

  /** A send of `n` subscribers with its recipients fixed, on a fresh store at `location`. */
  async function sendOf(location: string, n: number): Promise<{ store: Store; id: number; ids: number[] }> {
    const store = await open(location);
    const ids: number[] = [];
    for (let from = 0; from < n; from += 1000) {
      const batch = Array.from({ length: Math.min(1000, n - from) }, (_, i) => ({ write: write(from + i + 1) }));
      ids.push(...(await store.upsertSubscriptions(batch)).map((r) => r.id));
    }
    const id = await store.insertNotification(NOTIFICATION);
    await store.fixRecipients(id, { all: true }, NOW);
    return { store, id, ids };
  }

  it.skipIf(skip)('chunk leases: renewClaims extends only the rows a worker still holds, not answered or taken-over ones', async () => {
    const { store, id } = await sendOf(await freshLocation(), 30);
    const lease = 10_000;
    const chunk = (await store.claimDeliveries({ notificationId: id, now: NOW, leaseMs: lease, limit: 10 })).map((d) => d.subscription_id);
    expect(chunk).toHaveLength(10);
    expect(await store.renewClaims(id, chunk, NOW + lease, NOW + 2 * lease)).toBe(10);
    // Renewed: not due when the first lease would have run out, and renewing from the old lease finds nothing.
    expect((await store.claimDeliveries({ notificationId: id, now: NOW + lease, leaseMs: lease, limit: 100 })).map((d) => d.subscription_id)).not.toContain(chunk[0]);
    expect(await store.renewClaims(id, chunk, NOW + lease, NOW + 3 * lease)).toBe(0);
    await store.recordDeliveries([{ notificationId: id, subscriptionId: chunk[0]!, state: 'sent', statusCode: 201, error: null, nextAttemptAt: null, now: NOW + 1 }]);
    expect(await store.renewClaims(id, chunk, NOW + 2 * lease, NOW + 3 * lease)).toBe(9);
    // The worker stalls past its lease: another takes its rows over, and the first can no longer renew them.
    const takenOver = await store.claimDeliveries({ notificationId: id, now: NOW + 3 * lease, leaseMs: lease, limit: 100 });
    expect(takenOver.map((d) => d.subscription_id)).toEqual(expect.arrayContaining(chunk.slice(1)));
    expect(await store.renewClaims(id, chunk, NOW + 3 * lease, NOW + 4 * lease)).toBe(0);
    expect(await store.renewClaims(id, [], NOW, NOW)).toBe(0);
    // A dead lead's chunk (it carries the lead's lease end) is released at once; others' leases stay.
    const rest = takenOver.map((d) => d.subscription_id);
    expect(await store.releaseClaims(id, NOW + 3 * lease + lease, NOW + 3 * lease + 5)).toBe(rest.length);
    expect(await store.releaseClaims(id, NOW + 12345, NOW)).toBe(0);
    expect((await store.claimDeliveries({ notificationId: id, now: NOW + 3 * lease + 5, leaseMs: lease, limit: 100 })).map((d) => d.subscription_id).sort((a, b) => a - b)).toEqual([...rest].sort((a, b) => a - b));
    expect(await store.deliveryCounts(id)).toMatchObject({ sent: 1, pending: 29 });
  });

  it.skipIf(skip)('chunked claims: four claimers on their own connections, renewing as they work, take each delivery exactly once', async () => {
    const location = await freshLocation();
    const { store: setup, id, ids } = await sendOf(location, 2000);
    const lease = 600_000;
    const claimers = await Promise.all([1, 2, 3, 4].map(() => open(location, { poolSize: 2 })));
    const taken = await Promise.all(
      claimers.map(async (store) => {
        const mine: number[] = [];
        for (let turn = 0; ; turn++) {
          const now = NOW + turn;
          const chunk = (await store.claimDeliveries({ notificationId: id, now, leaseMs: lease, limit: 40 })).map((d) => d.subscription_id);
          if (!chunk.length) return mine;
          // Half way through the chunk, the lease is renewed: all of it is still this claimer's.
          expect(await store.renewClaims(id, chunk, now + lease, now + 2 * lease)).toBe(chunk.length);
          await store.recordDeliveries(chunk.map((subscriptionId) => ({ notificationId: id, subscriptionId, state: 'sent' as const, statusCode: 201, error: null, nextAttemptAt: null, now })));
          mine.push(...chunk);
          await new Promise((resolve) => setImmediate(resolve));
        }
      }),
    );
    const all = taken.flat();
    expect(all).toHaveLength(2000);
    expect(new Set(all)).toEqual(new Set(ids));
    expect(taken.filter((mine) => mine.length > 0).length).toBeGreaterThan(1);
    expect(await setup.deliveryCounts(id)).toEqual({ total: 2000, sent: 2000, gone: 0, failed: 0, pending: 0, capped: 0 });
  });

  it.skipIf(skip)('joinable sends: led by another live worker, recipients fixed, something due; not those the caller leads, nor those nobody leads', async () => {
    const { store, id } = await sendOf(await freshLocation(), 20);
    const notStarted = await store.insertNotification(NOTIFICATION);
    expect(await store.tryAcquireLease(notStarted, 'w1', NOW, 60_000)).toBe(true);
    // Nobody leads it yet: claimNext's, not a join.
    expect(await store.joinableSends('w2', NOW, 10)).toEqual([]);
    expect(await store.tryAcquireLease(id, 'w1', NOW, 60_000)).toBe(true);
    // Led, but its lead has not answered anything yet (caps and quiet hours may still be applied).
    expect(await store.joinableSends('w2', NOW, 10)).toEqual([]);
    const first = await store.claimDeliveries({ notificationId: id, now: NOW, leaseMs: 1, limit: 1 });
    await store.recordDeliveries([{ notificationId: id, subscriptionId: first[0]!.subscription_id, state: 'sent', statusCode: 201, error: null, nextAttemptAt: null, now: NOW }]);
    expect(await store.joinableSends('w2', NOW, 10)).toEqual([id]);
    expect(await store.joinableSends('w1', NOW, 10)).toEqual([]);
    // The leader's lease ran out: claimNext takes it over instead.
    expect(await store.joinableSends('w2', NOW + 60_000, 10)).toEqual([]);
    // Everything claimed (in flight somewhere): nothing to join until a lease runs out.
    const claimed = await store.claimDeliveries({ notificationId: id, now: NOW, leaseMs: 5_000, limit: 100 });
    expect(claimed).toHaveLength(19);
    expect(await store.joinableSends('w2', NOW + 1, 10)).toEqual([]);
    expect(await store.joinableSends('w2', NOW + 5_000, 10)).toEqual([id]);
    await store.recordDeliveries(claimed.map((d) => ({ notificationId: id, subscriptionId: d.subscription_id, state: 'sent' as const, statusCode: 201, error: null, nextAttemptAt: null, now: NOW })));
    expect(await store.joinableSends('w2', NOW + 5_000, 10)).toEqual([]);
  });

  /** Collects wake-ups; `next(match)` resolves at the first one (already had, or to come) that matches. */
  function wakes() {
    const seen: WorkHint[] = [];
    const waiting: { match: (hint: WorkHint) => boolean; resolve: (hint: WorkHint) => void }[] = [];
    return {
      seen,
      onWake(hint: WorkHint) {
        seen.push(hint);
        for (const w of waiting.splice(0)) if (w.match(hint)) w.resolve(hint); else waiting.push(w);
      },
      next(match: (hint: WorkHint) => boolean, what: string): Promise<WorkHint> {
        const had = seen.find(match);
        if (had) return Promise.resolve(had);
        return new Promise((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`no wake-up for ${what} within 20 s; saw ${JSON.stringify(seen)}`)), 20_000);
          waiting.push({ match, resolve: (hint) => (clearTimeout(timer), resolve(hint)) });
        });
      },
      clear() {
        seen.length = 0;
      },
    };
  }

  it.skipIf(skip)('work wake-ups: a watcher wakes when another connection records, starts, reopens or leaves a send, and for its own process', async () => {
    const location = await freshLocation();
    const watcher = await open(location);
    const other = await open(location);
    await other.upsertSubscription(write(1));
    const woke = wakes();
    const stop = await watcher.watchWork(woke.onWake);
    // PostgreSQL names the notification; SQLite's poll (another process's file change) cannot.
    const about = (id: number) => (hint: WorkHint) => hint.notificationId === id || (backend === 'sqlite' && hint.notificationId === null);

    let started = Date.now();
    const id = await other.insertNotification({ ...NOTIFICATION, status: 'scheduled' });
    await woke.next(about(id), 'a recorded notification');
    const latency = [Date.now() - started];

    woke.clear();
    started = Date.now();
    expect(await other.tryAcquireLease(id, 'w1', NOW, 60_000)).toBe(true);
    expect(await other.fixRecipients(id, { all: true }, NOW)).toBe(true);
    await woke.next(about(id), 'a started send');
    latency.push(Date.now() - started);

    woke.clear();
    await other.releaseLease(id, 'w1');
    await woke.next(about(id), 'a send left by its holder');

    woke.clear();
    await other.setStatus(id, 'failed', { finished_at: NOW });
    expect(await other.reopenForResume(id)).toBe(true);
    await woke.next(about(id), 'a reopened send');

    // The watcher's own process: named at once on both backends.
    woke.clear();
    const own = await watcher.insertNotification({ ...NOTIFICATION, status: 'scheduled' });
    await woke.next((hint) => hint.notificationId === own, 'its own process');

    // "Within about a second" (the poll on SQLite, at once on PostgreSQL), with room for a busy machine.
    expect(Math.min(...latency)).toBeLessThan(5_000);
    await stop();
    await stop();
    woke.clear();
    await watcher.insertNotification({ ...NOTIFICATION, status: 'scheduled' });
    expect(woke.seen.filter((hint) => hint.notificationId !== null)).toEqual([]);
  });

  itOnPostgres('work wake-ups: the watcher reconnects after a restart, LISTENs again, and wakes once for what it missed', async () => {
    const location = await freshLocation();
    const watcher = await open(location);
    const woke = wakes();
    await watcher.watchWork(woke.onWake);
    await server!.pause();
    await server!.start();
    await woke.next((hint) => hint.notificationId === null, 'the reconnect');
    const other = await open(location);
    const id = await other.insertNotification({ ...NOTIFICATION, status: 'scheduled' });
    await woke.next((hint) => hint.notificationId === id, 'a notification after the restart');
  });
});
