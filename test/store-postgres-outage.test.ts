/**
 * The PostgreSQL store riding out outages (issue 11): the server stopped and started under a
 * stream of operations, connections killed under a transaction and under single statements.
 * Operations retry within the store's budget (retryForMs) and come out with exact results;
 * past the budget they fail with store_unavailable (503, exit 1), and the store recovers by itself.
 */
import path from 'node:path';
import pg from 'pg';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from './support/cli.js';
import { skipWithout } from './support/commands.js';
import { postgresAvailable, sharedPostgres, type PostgresServer } from './support/postgres.js';
import type { Store, SubscriptionWrite } from '../src/store/store.js';
import type { StoreOpenOptions } from '../src/store/open.js';

const { openStore } = (await import(path.join(ROOT, 'dist/store/open.js'))) as typeof import('../src/store/open.js');
const { exitCodeFor, httpStatusFor } = (await import(path.join(ROOT, 'dist/errors.js'))) as typeof import('../src/errors.js');
const { errorReply } = (await import(path.join(ROOT, 'dist/http/http-error.js'))) as typeof import('../src/http/http-error.js');

const NOW = 1_800_000_000_000;
const NOTIFICATION = { payload: '{}', target: '{"all":true}', ttl: 60, urgency: null, topic: null, status: 'sending' as const, send_at: NOW, cron: null, tz: null, until_at: null, remaining_count: null, stale_after_ms: null, idempotency_key: null, created_at: NOW };

function write(n: number): SubscriptionWrite {
  return { endpoint: `https://push.example.net/send/${n}`, p256dh: `p256dh-${n}`, auth: `auth-${n}`, keyId: null, expirationTime: null, updatedAt: NOW };
}

describe.skipIf(skipWithout(postgresAvailable()))('PostgreSQL outages', () => {
  let server: PostgresServer;
  const opened: Store[] = [];
  const admins: pg.Client[] = [];

  beforeAll(async () => {
    server = await sharedPostgres();
  }, 180_000);
  afterEach(async () => {
    for (const admin of admins.splice(0)) await admin.end().catch(() => {});
    for (const store of opened.splice(0)) await store.close();
  });

  async function open(location: string, options: StoreOpenOptions): Promise<Store> {
    const store = await openStore(location, options);
    opened.push(store);
    return store;
  }
  /** A plain connection of the test's own, to kill backends and hold locks with. */
  async function admin(location: string): Promise<pg.Client> {
    const client = new pg.Client({ connectionString: location });
    client.on('error', () => {});
    await client.connect();
    admins.push(client);
    return client;
  }
  /** Kills pushctl's connections to this database (the server's view of a network cut). */
  async function killStoreConnections(client: pg.Client): Promise<number> {
    const { rows } = await client.query<{ n: string }>(
      `SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity
       WHERE datname = current_database() AND application_name = 'pushctl' AND pid <> pg_backend_pid()`,
    );
    return Number(rows[0]!.n);
  }

  it('a send stream across a server restart: every delivery recorded once, counts exact, writes issued while down applied once', async () => {
    const location = await server.createDatabase();
    const store = await open(location, { retryForMs: 120_000 });
    const n = 3000;
    for (let from = 0; from < n; from += 1000) await store.upsertSubscriptions(Array.from({ length: 1000 }, (_, i) => ({ write: write(from + i + 1) })));
    const id = await store.insertNotification(NOTIFICATION);
    expect(await store.fixRecipients(id, { all: true }, Date.now())).toBe(true);

    // A worker: claim a chunk (short lease: a claim lost with its connection comes back soon), record it.
    const recorded = new Map<number, number>();
    let chunks = 0;
    let chunksWhenDown = 0;
    let serverDown!: () => void;
    const down = new Promise<void>((resolve) => (serverDown = resolve));
    let reachedFive!: () => void;
    const fiveChunks = new Promise<void>((resolve) => (reachedFive = resolve));
    const worker = (async () => {
      for (;;) {
        // Five chunks in, the worker waits for the server to be down, then carries on into the outage.
        if (chunks === 5) {
          reachedFive();
          await down;
        }
        const now = Date.now();
        const chunk = await store.claimDeliveries({ notificationId: id, now, leaseMs: 1_500, limit: 50 });
        if (!chunk.length) {
          if ((await store.nextRetryAt(id)).pending === 0) return;
          await new Promise((resolve) => setTimeout(resolve, 100));
          continue;
        }
        chunks += 1;
        await store.recordDeliveries(chunk.map((d) => ({ notificationId: id, subscriptionId: d.subscription_id, state: 'sent' as const, statusCode: 201, error: null, nextAttemptAt: null, now })));
        for (const d of chunk) recorded.set(d.subscription_id, (recorded.get(d.subscription_id) ?? 0) + 1);
      }
    })();
    // Some chunks in, the server goes down; the worker's next claim and the writes issued meanwhile wait for it.
    await fiveChunks;
    await server.pause();
    chunksWhenDown = chunks;
    serverDown();
    const whileDown = [
      store.insertCategory({ name: 'made-while-down', description: null, createdAt: NOW }),
      store.transaction(async (tx) => {
        await tx.insertCategory({ name: 'in-a-transaction', description: null, createdAt: NOW });
        return tx.upsertSubscription(write(n + 1));
      }),
    ];
    await server.start();
    await worker;
    await Promise.all(whileDown);

    // The outage fell mid-send: most of it was sent after the restart.
    expect(chunksWhenDown).toBe(5);
    expect(chunks).toBeGreaterThanOrEqual(n / 50);
    expect(recorded.size).toBe(n);
    // Only a chunk whose claim or record was in flight at the cut can come round twice.
    expect([...recorded.values()].filter((times) => times > 1).length).toBeLessThanOrEqual(50);
    expect(await store.deliveryCounts(id)).toEqual({ total: n, sent: n, gone: 0, failed: 0, pending: 0, capped: 0 });
    expect((await store.allCategoriesWithCounts()).map((c) => c.name)).toEqual(['in-a-transaction', 'made-while-down']);
    expect(await store.countSubscriptions()).toBe(n + 1);
  });

  it('a serve-sized budget: store_unavailable (503, exit 1) while the server is down, and the same store works once it is back', async () => {
    const location = await server.createDatabase();
    const store = await open(location, { retryForMs: 2_000 });
    await store.insertCategory({ name: 'kept', description: null, createdAt: NOW });
    await server.pause();
    let started = 0;
    try {
      started = Date.now();
      const error: unknown = await store.categoryByName('kept').catch((e: unknown) => e);
      const waited = Date.now() - started;
      expect(error).toMatchObject({ code: 'store_unavailable', kind: 'busy' });
      expect((error as Error).message).toMatch(/^the database postgres:\/\/postgres@127\.0\.0\.1:\d+\/\w+ is unavailable: .*\(retried for 2 s\); try again shortly$/);
      expect(httpStatusFor(error)).toBe(503);
      expect(exitCodeFor(error)).toBe(1);
      const reply = errorReply(error);
      expect(reply).toMatchObject({ status: 503, unexpected: false, body: { error: { code: 'store_unavailable', message: 'the database is unavailable; try again shortly' } } });
      expect(reply.headers['retry-after']).toBeDefined();
      // It retried for its budget, not for ever.
      expect(waited).toBeGreaterThanOrEqual(1_900);
      expect(waited).toBeLessThan(30_000);
      // A transaction gives up the same way, having written nothing.
      await expect(store.transaction((tx) => tx.insertCategory({ name: 'lost', description: null, createdAt: NOW }))).rejects.toMatchObject({ code: 'store_unavailable' });
    } finally {
      await server.start();
    }
    expect((await store.categoryByName('kept'))?.name).toBe('kept');
    expect(await store.categoryByName('lost')).toBeUndefined();
  });

  it('a busy pool is not an outage: a statement that waits for a free connection longer than the connect timeout still runs', async () => {
    // Under load, serve's requests queue for the pool's few connections; that wait once counted as
    // "cannot connect" and turned into 503s after the 2 s budget although the server was fine.
    const location = await server.createDatabase();
    const store = await open(location, { retryForMs: 1_000, poolSize: 1 });
    await store.insertCategory({ name: 'kept', description: null, createdAt: NOW });
    let holding!: () => void;
    const held = new Promise<void>((resolve) => (holding = resolve));
    const holder = store.transaction(async (tx) => {
      await tx.insertCategory({ name: 'held', description: null, createdAt: NOW });
      holding();
      // Twice the connect timeout (and the whole budget) with the only connection taken.
      await new Promise((resolve) => setTimeout(resolve, 2_500));
    });
    await held;
    const waiting = store.categoryByName('kept');
    await holder;
    expect((await waiting)?.name).toBe('kept');
    expect((await store.categoryByName('held'))?.name).toBe('held');
  });

  it('a transaction whose connection dies before COMMIT runs again from the start, and commits once', async () => {
    const location = await server.createDatabase();
    const store = await open(location, { retryForMs: 60_000 });
    const killer = await admin(location);
    let runs = 0;
    const result = await store.transaction(async (tx) => {
      runs += 1;
      await tx.insertCategory({ name: 'once', description: null, createdAt: NOW });
      if (runs === 1) expect(await killStoreConnections(killer)).toBeGreaterThan(0);
      return tx.insertCategory({ name: 'twice-written-once', description: null, createdAt: NOW });
    });
    expect(runs).toBe(2);
    expect(result.name).toBe('twice-written-once');
    expect((await store.allCategoriesWithCounts()).map((c) => c.name)).toEqual(['once', 'twice-written-once']);
  });

  it('a statement cut mid-flight: a read or a repeatable write runs again; a write that must not repeat says its outcome is unknown', async () => {
    const location = await server.createDatabase();
    const store = await open(location, { retryForMs: 60_000 });
    const id = await store.insertNotification(NOTIFICATION);
    const holder = await admin(location);
    const killer = await admin(location);
    /** Runs `op` while the table is locked, kills its connection once it waits, then lets go. */
    async function cutMidFlight<T>(op: () => Promise<T>): Promise<T | unknown> {
      await holder.query('BEGIN');
      await holder.query('LOCK TABLE notifications, categories IN ACCESS EXCLUSIVE MODE');
      const pending = op().catch((e: unknown) => e);
      // Wait until the statement is in the server, waiting for the lock.
      for (;;) {
        const { rows } = await killer.query<{ n: string }>(
          `SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'pushctl' AND wait_event_type = 'Lock'`,
        );
        if (Number(rows[0]!.n) > 0) break;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      await killStoreConnections(killer);
      await holder.query('COMMIT');
      return pending;
    }
    // Repeatable: a read, and setting a status (the same value again).
    expect(await cutMidFlight(() => store.notificationById(id))).toMatchObject({ id });
    expect(await cutMidFlight(() => store.setStatus(id, 'partial', { finished_at: NOW + 1 }))).toBeUndefined();
    expect(await store.notificationById(id)).toMatchObject({ status: 'partial', finished_at: NOW + 1 });
    // Not repeatable: a second insert would be a second row (or a false "already exists").
    const error = await cutMidFlight(() => store.insertCategory({ name: 'maybe', description: null, createdAt: NOW }));
    expect(error).toMatchObject({ code: 'store_unavailable', details: { outcomeUnknown: true } });
    expect((error as Error).message).toMatch(/was lost during a write .* it may or may not have been applied/);
    // The store itself is fine afterwards.
    expect(await store.categoryByName('maybe')).toBeUndefined();
  });

  it('a server that comes up late: open waits for it within the budget', async () => {
    const location = await server.createDatabase();
    await (await openStore(location)).close();
    await server.pause();
    const opening = openStore(location, { retryForMs: 120_000 });
    await server.start();
    const store = await opening;
    opened.push(store);
    expect(await store.countSubscriptions()).toBe(0);
  });
});
