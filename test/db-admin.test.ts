/**
 * `pushctl db status` and `pushctl db copy`, through the built CLI: an installation moved from
 * SQLite to PostgreSQL and back arrives row for row (ids, ledger and memberships included), with
 * counts verified; a non-empty target is refused without --force; new rows after a copy get ids
 * past the copied ones.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, runCli, tempDir } from './support/cli.js';
import { postgresAvailable, startPostgres, type PostgresServer } from './support/postgres.js';
import type { Store, TableRow } from '../src/store/store.js';

const { openStore } = (await import(path.join(ROOT, 'dist/store/open.js'))) as typeof import('../src/store/open.js');
const { TABLES } = (await import(path.join(ROOT, 'dist/store/store.js'))) as typeof import('../src/store/store.js');
const { tokenSealOf } = (await import(path.join(ROOT, 'dist/core/tracking-tokens.js'))) as typeof import('../src/core/tracking-tokens.js');

const NOW = 1_800_000_000_000;

/** Fills a store; returns a sealed tracking token of one of its deliveries (its key is in the store). */
async function populate(store: Store): Promise<string> {
  await store.insertActiveKey({ publicKey: 'old-pub', privateKey: 'old-priv', subject: 'mailto:a@example.com', createdAt: NOW - 1000 });
  await store.insertActiveKey({ publicKey: 'pub', privateKey: 'priv', subject: 'mailto:a@example.com', createdAt: NOW });
  const news = await store.insertCategory({ name: 'news', description: 'daily "news"\n', createdAt: NOW });
  const offers = await store.insertCategory({ name: 'offers', description: null, createdAt: NOW });
  const subs = await store.upsertSubscriptions(
    Array.from({ length: 2500 }, (_, i) => ({
      write: { endpoint: `https://push.example.net/send/${i}?x=é`, p256dh: `p${i}`, auth: `a${i}`, keyId: i % 2 ? 1 : 2, expirationTime: i % 3 ? null : NOW + 1 + i, label: i % 5 ? null : `label ${i}`, updatedAt: NOW + i },
      categoryIds: i % 2 ? [news.id] : [news.id, offers.id],
    })),
  );
  await store.deleteSubscription(subs[10]!.id); // a gap in the ids
  const base = { payload: '{"title":"ünïcode ✓"}', target: '{"all":true}', ttl: 60, urgency: 'high', topic: null, status: 'sending' as const, send_at: NOW, cron: null, tz: null, until_at: null, remaining_count: null, stale_after_ms: null, idempotency_key: 'key-1', created_at: NOW };
  const id = await store.insertNotification(base);
  await store.fixRecipients(id, { all: true }, NOW);
  await store.recordDeliveries(subs.slice(0, 300).map((s, i) => ({ notificationId: id, subscriptionId: s.id, state: i % 7 ? ('sent' as const) : ('failed' as const), statusCode: i % 7 ? 201 : 500, error: i % 7 ? null : 'boom', nextAttemptAt: null, now: NOW + 5 })));
  const rule = await store.insertNotification({ ...base, status: 'scheduled', cron: '0 9 * * *', tz: 'Europe/Berlin', idempotency_key: null });
  await store.insertOccurrence({ parentId: rule, slotAt: NOW, status: 'skipped', error: 'missed', now: NOW });

  // A tracked notification: tokens for its deliveries (a text key; some start with '-', which
  // sorts below '-1': paging must not start from a sentinel), and events of every kind.
  const tracked = await store.insertNotification({ ...base, idempotency_key: null });
  await store.setTracking(tracked, '{"clicks":true,"base":"https://example.com","targets":{"":"https://example.com/a"}}');
  await store.fixRecipients(tracked, { all: true }, NOW);
  const recipients = subs.slice(0, 1200).map((s) => s.id).filter((id) => id !== subs[10]!.id);
  let n = 0;
  const tokens = await store.issueTokens(tracked, recipients, () => `${++n % 3 ? '-' : 'A'}${String(n).padStart(22, '0')}`);
  await store.recordDeliveries(recipients.map((subscriptionId) => ({ notificationId: tracked, subscriptionId, state: 'sent' as const, statusCode: 201, error: null, nextAttemptAt: null, now: NOW + 9 })));
  for (const [i, subscriptionId] of recipients.entries()) {
    if (i % 2 === 0) await store.insertEvent({ notificationId: tracked, subscriptionId, kind: 'shown', action: null, at: NOW + 10 + i });
    if (i % 5 === 0) await store.insertEvent({ notificationId: tracked, subscriptionId, kind: 'clicked', action: i % 10 ? null : 'open', at: NOW + 20 + i });
    if (i % 7 === 0) await store.insertEvent({ notificationId: tracked, subscriptionId, kind: 'dismissed', action: null, at: NOW + 30 + i });
  }
  if (tokens.size !== recipients.length) throw new Error('tokens missing');
  return (await tokenSealOf(store)).seal(tracked, recipients[1]!)!;
}

async function dump(location: string): Promise<Record<string, TableRow[]>> {
  const store = await openStore(location);
  try {
    const tables: Record<string, TableRow[]> = {};
    for (const table of TABLES) {
      tables[table.name] = [];
      for await (const page of store.streamRows(table.name, 700)) tables[table.name]!.push(...page);
    }
    return tables;
  } finally {
    await store.close();
  }
}

describe.skipIf(!postgresAvailable())('pushctl db', () => {
  let server: PostgresServer;
  let dir: string;
  beforeAll(async () => {
    server = await startPostgres();
    dir = tempDir('pushctl-db-admin-');
  }, 180_000);
  afterAll(async () => {
    await server?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it('copies SQLite to PostgreSQL and back, row for row, with counts verified', async () => {
    const original = path.join(dir, 'original.db');
    const store = await openStore(original);
    const sealed = await populate(store);
    const counts = await store.tableCounts();
    await store.close();
    expect(counts).toEqual({
      vapid_keys: 2, subscriptions: 2499, categories: 2, subscription_categories: 3748, notifications: 4, deliveries: 4998,
      delivery_tokens: 1199, delivery_events: 600 + 240 + 172, maintenance_runs: 0, secrets: 1,
    });

    const url = await server.createDatabase();
    const there = await runCli(['db', 'copy', '--from', 'original.db', '--to', url, '--json'], { cwd: dir });
    expect(there.stderr).toBe('');
    expect(there.code).toBe(0);
    expect(JSON.parse(there.stdout)).toMatchObject({ from: { backend: 'sqlite' }, to: { backend: 'postgres' }, counts });

    const status = await runCli(['--db', url.replace('postgres@', 'postgres:hunter2@'), 'db', 'status'], { cwd: dir });
    expect(status.code).toBe(0);
    expect(status.stdout).toContain('backend:         postgres');
    expect(status.stdout).toContain('connection:      ok');
    expect(status.stdout).toMatch(/subscriptions:\s+2499\n/);
    expect(status.stdout).toContain('postgres:***@127.0.0.1');
    expect(status.stdout + status.stderr).not.toContain('hunter2');

    const back = await runCli(['db', 'copy', '--from', url, '--to', 'back.db'], { cwd: dir });
    expect(back.code).toBe(0);
    expect(back.stdout).toMatch(/^✓ copied postgres .* to sqlite .*back\.db; counts verified/);

    const [a, b, c] = await Promise.all([dump(original), dump(url), dump(path.join(dir, 'back.db'))]);
    for (const table of TABLES) {
      expect(b[table.name], `${table.name} on PostgreSQL`).toEqual(a[table.name]);
      expect(c[table.name], `${table.name} back on SQLite`).toEqual(a[table.name]);
    }

    // The copied engagement works: tokens resolve, the funnel and the trigger are there.
    const tracked = Math.max(...a.notifications!.map((r) => Number(r.id)));
    const token = String(a.delivery_tokens!.find((r) => String(r.token).startsWith('-'))!.token);
    for (const location of [url, path.join(dir, 'back.db')]) {
      const copy = await openStore(location);
      expect(await copy.funnelCounts(tracked)).toEqual({ targeted: 2499, delivered: 1199, shown: 600, clicked: 240, dismissed: 172 });
      // The key moved too: a token sealed before the copy names the same delivery after it.
      const ids = (await tokenSealOf(copy)).open(sealed)!;
      expect(ids.notificationId).toBe(tracked);
      expect(await copy.trackedDelivery(ids.notificationId, ids.subscriptionId)).toMatchObject({ notification_id: tracked });
      const owner = (await copy.deliveryByToken(token))!;
      expect(owner.notification_id).toBe(tracked);
      expect(await copy.deleteSubscription(owner.subscription_id)).toBe(true);
      expect(await copy.deliveryByToken(token)).toBeUndefined();
      await copy.close();
    }

    // New rows continue after the copied ids on both, never reusing one.
    for (const location of [url, path.join(dir, 'back.db')]) {
      const copy = await openStore(location);
      const created = await copy.upsertSubscription({ endpoint: 'https://push.example.net/new', p256dh: 'p', auth: 'a', keyId: null, expirationTime: null, updatedAt: NOW });
      expect(created.id).toBeGreaterThan(Math.max(...a.subscriptions!.map((r) => Number(r.id))));
      await copy.close();
    }
  });

  it('refuses a non-empty target unless --force, and then replaces its contents', async () => {
    const source = path.join(dir, 'small.db');
    const store = await openStore(source);
    await store.insertCategory({ name: 'only', description: null, createdAt: NOW });
    await store.close();
    const url = await server.createDatabase();
    const target = await openStore(url);
    await target.insertCategory({ name: 'existing', description: null, createdAt: NOW });
    await target.close();

    const refused = await runCli(['db', 'copy', '--from', source, '--to', url], { cwd: dir });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('is not empty (1 categories); pass --force to replace its contents');
    expect((await dump(url)).categories!.map((r) => r.name)).toEqual(['existing']);

    const forced = await runCli(['db', 'copy', '--from', source, '--to', url, '--force'], { cwd: dir });
    expect(forced.code).toBe(0);
    expect((await dump(url)).categories!.map((r) => r.name)).toEqual(['only']);
  });

  it('status of a missing SQLite file is not-found, and creates nothing', async () => {
    const result = await runCli(['--db', 'missing.db', 'db', 'status'], { cwd: dir });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('missing.db does not exist');
    expect(fs.existsSync(path.join(dir, 'missing.db'))).toBe(false);
  });
});
