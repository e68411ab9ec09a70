/**
 * Store contract for delivery control (migration 6): stale-key marks and what clears them,
 * throttled claims from the pace cursor (also from two connections at once), pending deliveries
 * by due time, target zones, inactivity that counts shown/clicked events. Same tests on both
 * backends; their answers are compared at the end.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, tempDir } from './support/cli.js';
import { BACKENDS, DAY, NOTIFICATION, NOW, write } from './support/store-fixtures.js';
import { postgresAvailable, startPostgres, type PostgresServer } from './support/postgres.js';
import type { Store } from '../src/store/store.js';

const { openStore } = (await import(path.join(ROOT, 'dist/store/open.js'))) as typeof import('../src/store/open.js');
const { pendingSchedule } = (await import(path.join(ROOT, 'dist/core/local-time-sends.js'))) as typeof import('../src/core/local-time-sends.js');



const answers: Partial<Record<'sqlite' | 'postgres', Record<string, unknown>>> = {};


const sent = (notificationId: number, subscriptionId: number, at: number) =>
  ({ notificationId, subscriptionId, state: 'sent' as const, statusCode: 201, error: null, nextAttemptAt: null, now: at });

describe.each(BACKENDS)('delivery control store on $backend', ({ backend, skip }) => {
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

  async function freshLocation(): Promise<string> {
    if (backend === 'postgres') return server!.createDatabase();
    const dir = tempDir('pushctl-control-');
    dirs.push(dir);
    return path.join(dir, 'pushctl.db');
  }
  async function open(location?: string): Promise<Store> {
    const store = await openStore(location ?? (await freshLocation()));
    opened.push(store);
    return store;
  }

  it.skipIf(skip)('stale-key: marked, left out of broadcasts (not of sends naming it), cleared by a success or a re-subscription', async () => {
    const store = await open();
    const news = await store.insertCategory({ name: 'news', description: null, createdAt: NOW });
    const subs = (await store.upsertSubscriptions([1, 2, 3].map((n) => ({ write: write(n), categoryIds: [news.id] })))).map((s) => s.id);
    const [s1, s2, s3] = subs as [number, number, number];
    expect(await store.markStaleKeys([s1, s2], NOW)).toBe(2);
    expect(await store.markStaleKeys([s1], NOW + 1)).toBe(0); // already marked: keeps its first time
    expect((await store.subscriptionById(s1))!.stale_key_at).toBe(NOW);
    expect((await store.subscriptionDetail(s1))!.stale_key_at).toBe(NOW);
    expect(await store.countRecipients({ all: true }, NOW)).toBe(1);
    expect(await store.countRecipients({ categories: ['news'] }, NOW)).toBe(1);
    expect(await store.countRecipients({ subscriptionIds: [s1, s3] }, NOW)).toBe(2);

    const id = await store.insertNotification(NOTIFICATION);
    expect(await store.fixRecipients(id, { subscriptionIds: [s1] }, NOW)).toBe(true);
    await store.recordDeliveries([sent(id, s1, NOW + 5)]);
    expect((await store.subscriptionById(s1))!.stale_key_at).toBeNull();

    // The same subscription posted again (same key material) stays stale; new key material clears it.
    await store.upsertSubscription(write(2, { updatedAt: NOW + 10 }));
    expect((await store.subscriptionById(s2))!.stale_key_at).toBe(NOW);
    await store.upsertSubscriptions([{ write: write(2, { p256dh: 'fresh', updatedAt: NOW + 11 }) }, { write: write(9) }]);
    expect((await store.subscriptionById(s2))!.stale_key_at).toBeNull();
    await store.markStaleKeys([s3], NOW);
    await store.upsertSubscription(write(3, { auth: 'fresh', updatedAt: NOW + 12 }));
    expect((await store.subscriptionById(s3))!.stale_key_at).toBeNull();
    expect(await store.markStaleKeys([], NOW)).toBe(0);
  });

  it.skipIf(skip)('pending deliveries by due time and zone: times in order, zones in byte order, those without one last', async () => {
    const store = await open();
    const ids = (await store.upsertSubscriptions([1, 2, 3, 4, 5, 6].map((n) => ({ write: write(n) })))).map((s) => s.id);
    const zones = ['Europe/Paris', 'Europe/Berlin', null, 'Asia/Tokyo', 'Europe/Berlin', 'America/New_York'];
    for (const [i, zone] of zones.entries()) if (zone) await store.updateLocale(ids[i]!, { timeZone: zone }, NOW);
    const id = await store.insertNotification({ ...NOTIFICATION });
    await store.fixRecipients(id, { all: true }, NOW);
    // Berlin and Paris wait for one instant, New York for a later one; the rest are due now.
    await store.deferZones(id, new Map([['Europe/Berlin', { until: NOW + 1000, reason: 'r' }], ['Europe/Paris', { until: NOW + 1000, reason: 'r' }], ['America/New_York', { until: NOW + 2000, reason: 'r' }]]));
    expect(await store.pendingByDueTime(id)).toEqual([
      { dueAt: null, zone: 'Asia/Tokyo', deliveries: 1 },
      { dueAt: null, zone: null, deliveries: 1 },
      { dueAt: NOW + 1000, zone: 'Europe/Berlin', deliveries: 2 },
      { dueAt: NOW + 1000, zone: 'Europe/Paris', deliveries: 1 },
      { dueAt: NOW + 2000, zone: 'America/New_York', deliveries: 1 },
    ]);
    // What `notifications show` lists: one line per due time, with its zones (only the store is read).
    expect(await pendingSchedule({ store } as unknown as Parameters<typeof pendingSchedule>[0], id)).toEqual([
      { dueAt: null, deliveries: 2, zones: ['Asia/Tokyo', null] },
      { dueAt: new Date(NOW + 1000).toISOString(), deliveries: 3, zones: ['Europe/Berlin', 'Europe/Paris'] },
      { dueAt: new Date(NOW + 2000).toISOString(), deliveries: 1, zones: ['America/New_York'] },
    ]);
  });

  it.skipIf(skip)('throttled claims: slots an interval apart from one cursor, within the horizon, never twice, resumed after the cursor', async () => {
    const store = await open();
    await store.upsertSubscriptions([1, 2, 3, 4, 5, 6, 7, 8].map((n) => ({ write: write(n) })));
    const id = await store.insertNotification({ ...NOTIFICATION, rate: '10/s' });
    expect((await store.notificationById(id))!.rate).toBe('10/s');
    await store.fixRecipients(id, { all: true }, NOW);
    const claim = { notificationId: id, intervalMs: 100, horizonMs: 250, leaseMs: 60_000, limit: 10 };
    const first = await store.claimPaced({ ...claim, now: NOW });
    // Slots NOW, +100, +200 fit the 250 ms horizon.
    expect(first.rows.map((r) => r.slot_at)).toEqual([NOW, NOW + 100, NOW + 200]);
    expect(first.rows[0]!.endpoint).toBe('https://push.example.net/send/1');
    expect(first.pacedUntil).toBe(NOW + 300);
    // Nothing more fits until the horizon reaches the cursor.
    expect((await store.claimPaced({ ...claim, now: NOW + 40 })).rows).toEqual([]);
    const second = await store.claimPaced({ ...claim, now: NOW + 60, limit: 1 });
    expect(second.rows.map((r) => r.slot_at)).toEqual([NOW + 300]);
    // A late worker gives its rows back; they are due again and get new slots, never old ones.
    expect(await store.giveBackClaims(id, [first.rows[2]!.subscription_id], NOW + 500)).toBe(1);
    const later = await store.claimPaced({ ...claim, now: NOW + 1000 });
    expect(later.rows[0]!.slot_at).toBe(NOW + 1000);
    expect(later.rows.map((r) => r.subscription_id)).toContain(first.rows[2]!.subscription_id);
    const byDue = await store.pendingByDueTime(id);
    expect(byDue.reduce((n, r) => n + r.deliveries, 0)).toBe(8);
    expect(byDue[0]).toEqual({ dueAt: null, zone: null, deliveries: 8 - 3 - 1 - later.rows.length + 1 });

    // Two connections claiming at once: every slot once, every row once.
    const location = await freshLocation();
    const a = await open(location);
    const b = await open(location);
    await a.upsertSubscriptions(Array.from({ length: 40 }, (_, i) => ({ write: write(i + 1) })));
    const shared = await a.insertNotification({ ...NOTIFICATION, rate: '10/s' });
    await a.fixRecipients(shared, { all: true }, NOW);
    // A fractional interval (2.5 ms) rounds each slot up within a claim, and the cursor with it.
    const claims = await Promise.all(
      Array.from({ length: 12 }, (_, i) => (i % 2 ? a : b).claimPaced({ notificationId: shared, now: NOW, intervalMs: 2.5, horizonMs: 1000, leaseMs: 60_000, limit: 4 })),
    );
    const rows = claims.flatMap((c) => c.rows);
    expect(rows).toHaveLength(40);
    expect(new Set(rows.map((r) => r.subscription_id)).size).toBe(rows.length);
    expect(rows.map((r) => r.slot_at).sort((x, y) => x - y)).toEqual(Array.from({ length: 40 }, (_, i) => NOW + Math.floor(i / 4) * 10 + [0, 3, 5, 8][i % 4]!));
    // Another process's throttled send with due rows is one to help with; not once its lease is gone.
    expect(await a.pacedSendsInProgress(NOW)).toEqual([]);
    expect(await a.tryAcquireLease(shared, 'other:1:x', NOW, 60_000)).toBe(true);
    await a.giveBackClaims(shared, [rows[0]!.subscription_id], NOW);
    expect(await a.pacedSendsInProgress(NOW)).toEqual([shared]);
    expect(await a.pacedSendsInProgress(NOW + 60_000)).toEqual([]);
    answers[backend] = { ...answers[backend], paced: { first: first.rows.map((r) => [r.subscription_id, r.slot_at]), later: later.rows.length, byDue } };
  });

  it.skipIf(skip)('target zones, and inactivity that counts shown/clicked events', async () => {
    const store = await open();
    const news = await store.insertCategory({ name: 'news', description: null, createdAt: NOW });
    const subs = (await store.upsertSubscriptions([
      { write: write(1, { timeZone: 'Asia/Tokyo', createdAt: NOW - 100 * DAY }), categoryIds: [news.id] },
      { write: write(2, { timeZone: 'Europe/Berlin', createdAt: NOW - 100 * DAY }) },
      { write: write(3, { createdAt: NOW - 100 * DAY }), categoryIds: [news.id] },
      { write: write(4, { timeZone: 'Europe/Berlin', createdAt: NOW - 100 * DAY }) },
    ])).map((s) => s.id);
    const sort = (zones: (string | null)[]) => zones.map(String).sort();
    expect(sort(await store.targetZones({ all: true }, NOW))).toEqual(['Asia/Tokyo', 'Europe/Berlin', 'null']);
    expect(sort(await store.targetZones({ categories: ['news'] }, NOW))).toEqual(['Asia/Tokyo', 'null']);
    expect(sort(await store.targetZones({ subscriptionIds: [subs[1]!] }, NOW))).toEqual(['Europe/Berlin']);

    // s1 clicked 10 days ago, s2 was shown one 10 days ago (an old one dismissed doesn't count), s3/s4 nothing.
    const id = await store.insertNotification(NOTIFICATION);
    await store.fixRecipients(id, { all: true }, NOW - 90 * DAY);
    await store.insertEvent({ notificationId: id, subscriptionId: subs[0]!, kind: 'clicked', action: null, at: NOW - 10 * DAY });
    await store.insertEvent({ notificationId: id, subscriptionId: subs[1]!, kind: 'shown', action: null, at: NOW - 10 * DAY });
    await store.insertEvent({ notificationId: id, subscriptionId: subs[2]!, kind: 'dismissed', action: null, at: NOW - 10 * DAY });
    await store.insertEvent({ notificationId: id, subscriptionId: subs[3]!, kind: 'shown', action: null, at: NOW - 80 * DAY });
    const filter = { noSuccessSince: NOW - 60 * DAY };
    expect(await store.countPrunable(filter)).toBe(2);
    expect(await store.deletePrunable(filter)).toBe(2);
    expect(await store.subscriptionById(subs[0]!)).toBeDefined();
    expect(await store.subscriptionById(subs[2]!)).toBeUndefined();
    answers[backend] = { ...answers[backend], zones: true };
  });

  it.skipIf(skip)('occurrences of a rule inherit its local time and rate', async () => {
    const store = await open();
    const rule = await store.insertNotification({ ...NOTIFICATION, status: 'scheduled', cron: '0 9 * * 1', tz: 'UTC', local_time: 'rule', rate: '5/min' });
    const occurrence = await store.insertOccurrence({ parentId: rule, slotAt: NOW, status: 'scheduled', error: null, now: NOW });
    const row = (await store.notificationById(occurrence!))!;
    expect([row.local_time, row.rate, row.paced_until]).toEqual(['rule', '5/min', null]);
  });
});

describe('both backends', () => {
  it.skipIf(!postgresAvailable())('gave the same answers', () => {
    expect(answers.postgres).toEqual(answers.sqlite);
  });
});
