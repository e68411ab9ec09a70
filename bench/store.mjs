#!/usr/bin/env node
/**
 * `npm run bench:store [-- N]`: what the async store costs over calling better-sqlite3 directly,
 * on the two shapes that matter: a bulk upsert (an import) and a streaming read (an export).
 * The variants run interleaved in this process on fresh files, best of 5; prints rows/s and the ratio async /
 * direct (1.0 = no overhead). Also the per-row async upsert (one promise per row), and the send
 * path's ledger work (chunked claims, group commits) on SQLite and, when PUSHCTL_BENCH_PG names
 * a PostgreSQL database (its contents are replaced), on PostgreSQL with the ratio between them.
 *
 * Plain JavaScript over dist/: run `npm run build` first; the npm script does.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { openDatabase } = await import(path.join(ROOT, 'dist/store/db.js'));
const subscriptions = await import(path.join(ROOT, 'dist/store/subscriptions.js'));
const { openStore } = await import(path.join(ROOT, 'dist/store/open.js'));

const N = Number(process.argv[2] ?? process.env.BENCH_N ?? 200_000);
const BATCH = 1000;
if (!Number.isSafeInteger(N) || N < BATCH) {
  console.error(`usage: npm run bench:store [-- N]   (N >= ${BATCH})`);
  process.exit(2);
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pushctl-bench-store-'));
let files = 0;
const freshFile = () => path.join(dir, `bench-${++files}.db`);
const write = (i) => ({ endpoint: `https://push.example.net/send/${i}`, p256dh: `p256dh-${i}`, auth: `auth-${i}`, keyId: null, expirationTime: null, updatedAt: 1_800_000_000_000 });

const ROUNDS = 5;

/** N deliveries of one notification: claimed in chunks, answers recorded in groups (as a sender does). */
async function ledger(location) {
  const store = await openStore(location);
  try {
    await store.clearAll();
    for (let start = 0; start < N; start += BATCH) {
      const batch = [];
      for (let i = start; i < start + BATCH; i++) batch.push({ write: write(i) });
      await store.upsertSubscriptions(batch);
    }
    const now = Date.now();
    const id = await store.insertNotification({ payload: '{}', target: '{"all":true}', ttl: 60, urgency: null, topic: null, status: 'sending', send_at: now, cron: null, tz: null, until_at: null, remaining_count: null, stale_after_ms: null, idempotency_key: null, created_at: now });
    return await time(async () => {
      await store.fixRecipients(id, { all: true }, now);
      for (;;) {
        const chunk = await store.claimDeliveries({ notificationId: id, now, leaseMs: 60_000, limit: 500 });
        if (!chunk.length) break;
        for (let i = 0; i < chunk.length; i += 50) {
          await store.recordDeliveries(chunk.slice(i, i + 50).map((d) => ({ notificationId: id, subscriptionId: d.subscription_id, state: 'sent', statusCode: 201, error: null, nextAttemptAt: null, now })));
        }
      }
      const counts = await store.deliveryCounts(id);
      if (counts.sent !== N) throw new Error(`sent ${counts.sent} of ${N}`);
    });
  } finally {
    await store.close();
  }
}

/** Runs the variants interleaved, ROUNDS times, and keeps each one's fastest: a busy shared machine is noisy. */
async function race(variants) {
  const fastest = variants.map(() => Infinity);
  for (let round = 0; round < ROUNDS; round++) {
    for (let k = 0; k < variants.length; k++) {
      const i = (k + round) % variants.length;
      fastest[i] = Math.min(fastest[i], await variants[i][1]());
    }
  }
  return fastest.map((ms, i) => {
    const perSecond = Math.round((N / ms) * 1000);
    console.log(`${variants[i][0].padEnd(44)} ${String(perSecond).padStart(10)} rows/s`);
    return perSecond;
  });
}

async function time(fn) {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}

try {
  console.log(`async store (SQLite) vs direct better-sqlite3, ${N.toLocaleString('en')} subscriptions\n`);
  const [directInsert, asyncBatchInsert, asyncRowInsert] = await race([['insert: direct, one transaction per batch', async () => {
    const db = openDatabase(freshFile());
    // Made once, as the store does: making a transaction function costs more than running it.
    const insertBatch = db.transaction((start) => {
      for (let i = start; i < start + BATCH; i++) subscriptions.upsertSubscription(db, write(i));
    });
    const ms = await time(() => {
      for (let start = 0; start < N; start += BATCH) insertBatch(start);
    });
    db.close();
    return ms;
  }], ['insert: async store, upsertSubscriptions', async () => {
    const store = await openStore(freshFile());
    const ms = await time(async () => {
      for (let start = 0; start < N; start += BATCH) {
        const batch = [];
        for (let i = start; i < start + BATCH; i++) batch.push({ write: write(i) });
        await store.upsertSubscriptions(batch);
      }
    });
    await store.close();
    return ms;
  }], ['insert: async store, await per row in a tx', async () => {
    const store = await openStore(freshFile());
    const ms = await time(async () => {
      for (let start = 0; start < N; start += BATCH) {
        await store.transaction(async (tx) => {
          for (let i = start; i < start + BATCH; i++) await tx.upsertSubscription(write(i));
        });
      }
    });
    await store.close();
    return ms;
  }]]);

  const readFile = freshFile();
  {
    const store = await openStore(readFile);
    for (let start = 0; start < N; start += BATCH) {
      const batch = [];
      for (let i = start; i < start + BATCH; i++) batch.push({ write: write(i) });
      await store.upsertSubscriptions(batch);
    }
    await store.close();
  }
  const [directRead, asyncRead] = await race([['stream: direct, statement.iterate()', async () => {
    const db = openDatabase(readFile);
    let n = 0;
    const ms = await time(() => {
      for (const row of subscriptions.iterateSubscriptionDetails(db, {})) n += row.id > 0 ? 1 : 0;
    });
    db.close();
    if (n !== N) throw new Error(`read ${n} of ${N}`);
    return ms;
  }], ['stream: async store, pages of 1000', async () => {
    const store = await openStore(readFile);
    let n = 0;
    const ms = await time(async () => {
      for await (const page of store.streamSubscriptionDetails({})) for (const row of page) n += row.id > 0 ? 1 : 0;
    });
    await store.close();
    if (n !== N) throw new Error(`read ${n} of ${N}`);
    return ms;
  }]]);

  // The send path: chunked claims and group-committed answers, on SQLite and (given
  // PUSHCTL_BENCH_PG=postgres://...) on PostgreSQL, whose ratio to SQLite the issue targets.
  const ledgerRuns = [['ledger: SQLite, claim 500 + record by 50', () => ledger(freshFile())]];
  if (process.env.PUSHCTL_BENCH_PG) ledgerRuns.push(['ledger: PostgreSQL, claim 500 + record by 50', () => ledger(process.env.PUSHCTL_BENCH_PG)]);
  const ledgerRates = await race(ledgerRuns);

  const ratio = (a, b) => (a / b).toFixed(2);
  if (ledgerRates.length > 1) console.log(`\nratio PostgreSQL/SQLite on the ledger: ${ratio(ledgerRates[1], ledgerRates[0])}`);
  console.log(`\nratio async/direct: bulk insert (batch) ${ratio(asyncBatchInsert, directInsert)}, bulk insert (per-row await) ${ratio(asyncRowInsert, directInsert)}, streaming read ${ratio(asyncRead, directRead)}`);
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
