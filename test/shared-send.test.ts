/**
 * Many processes on one database (issue 11), end to end: the built CLI as subprocesses, a real
 * PostgreSQL (one server for the file, a fresh database per test) and, for what one host can
 * share too, a SQLite file; the push-service stand-in counting every request. A send shared by `dispatch --watch` workers
 * reaches each subscriber exactly once; with a worker SIGKILLed mid-send, nobody is missed and the
 * duplicates are at most that worker's requests in flight; two `serve` replicas keep one row per
 * endpoint and one notification per idempotency key; a PostgreSQL restart in the middle of a send
 * leaves exact counts, and serve answers 503 meanwhile and recovers by itself.
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { runCli, runJson, startCli, tempDir, type RunResult } from './support/cli.js';
import { skipWithout } from './support/commands.js';
import { postgresAvailable, sharedPostgres, type PostgresServer } from './support/postgres.js';
import { startPushService, type PushService, type ServiceSubscription } from './support/push-service.js';
import { receivedBySubscription } from './support/scheduling.js';
import { ADMIN_TOKEN, serveConfig, startServe, type ServeHandle } from './support/serve.js';

interface Summary {
  id: number;
  status: string;
  counts: { total: number; sent: number; gone: number; failed: number; pending: number };
}

const SUBSCRIBERS = 3000;

const BACKENDS = [
  { backend: 'postgres' as const, skip: skipWithout(postgresAvailable()) },
  { backend: 'sqlite' as const, skip: false },
];

describe.each(BACKENDS)('many processes on one $backend database', ({ backend, skip }) => {
  // The restart test needs a server to stop: PostgreSQL only.
  // Defined only for PostgreSQL (a server restart has no SQLite counterpart): nothing to skip or count on SQLite.
  const itOnPostgres = backend === 'postgres' ? it : ((() => undefined) as unknown as typeof it);
  let server: PostgresServer;
  let svc: PushService;
  let dir: string;
  let url: string;
  let env: Record<string, string>;
  let publicKey: string;
  const children: { child: ReturnType<typeof startCli>['child']; done: Promise<RunResult> }[] = [];
  const replicas: ServeHandle[] = [];
  const clients: pg.Client[] = [];

  beforeAll(async () => {
    if (skip) return;
    if (backend === 'postgres') server = await sharedPostgres();
    svc = await startPushService({ record: true });
  }, 180_000);
  afterAll(async () => {
    await svc?.close();
  });
  beforeEach(async (test) => {
    if (skip) return test.skip();
    svc.clearBehaviour();
    svc.resetCounts();
    dir = tempDir('pushctl-shared-');
    url = backend === 'postgres' ? await server.createDatabase() : path.join(dir, 'pushctl.db');
    env = { PUSHCTL_DB: url, PUSHCTL_ENDPOINT_ORIGINS: svc.origin };
    publicKey = (await runJson<{ publicKey: string }>(['keys', 'generate', '--subject', 'mailto:ops@example.org'], { cwd: dir, env })).publicKey;
  }, 60_000);
  afterEach(async () => {
    for (const { child, done } of children.splice(0)) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await done;
    }
    for (const replica of replicas.splice(0)) await replica.stop('SIGKILL');
    for (const client of clients.splice(0)) await client.end().catch(() => {});
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function subscribe(count: number): Promise<ServiceSubscription[]> {
    const subs = svc.createSubscriptions(count, publicKey, { shareKeys: true });
    const file = path.join(dir, 'subscribers.ndjson');
    fs.writeFileSync(file, subs.map((s) => JSON.stringify({ endpoint: s.endpoint, keys: s.keys })).join('\n') + '\n');
    const result = await runCli(['subscriptions', 'import', file], { cwd: dir, env, timeoutMs: 120_000 });
    expect(result.code, result.stderr).toBe(0);
    return subs;
  }

  /** `pushctl dispatch --watch`, resolved once it says it is watching; its stderr so far via `log()`. */
  async function worker(args: string[] = []): Promise<{ child: ReturnType<typeof startCli>['child']; done: Promise<RunResult>; log(): string }> {
    const started = startCli(['dispatch', '--watch', '--interval', '30s', ...args], { cwd: dir, env, timeoutMs: 300_000 });
    children.push(started);
    let log = '';
    started.child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
    const deadline = Date.now() + 60_000;
    while (!/watching/.test(log)) {
      if (Date.now() > deadline || started.child.exitCode !== null) throw new Error(`dispatch --watch did not start: ${log}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return { ...started, log: () => log };
  }

  /** A query of the test's own ($1, $2 parameters) on the database the processes share. */
  async function sql<T extends pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<T[]> {
    if (backend === 'sqlite') {
      const db = new Database(url, { readonly: true, fileMustExist: true });
      try {
        return db.prepare(text.replace(/\$\d+/g, '?')).all(...values) as T[];
      } finally {
        db.close();
      }
    }
    let client = clients[0];
    if (!client) {
      client = new pg.Client({ connectionString: url });
      client.on('error', () => {});
      await client.connect();
      clients.push(client);
    }
    return (await client.query<T>(text, values)).rows;
  }

  async function waitFor(what: string, check: () => Promise<boolean> | boolean, ceilingMs = 120_000): Promise<void> {
    const deadline = Date.now() + ceilingMs;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }

  /** Each worker's share of notification `id`, from its log ("joined the send in progress, its share: N sent"). */
  function shares(logs: string[], id: number): number[] {
    const pattern = new RegExp(`notification ${id}: joined the send in progress, its share: (\\d+) sent`, 'g');
    return logs.map((log) => [...log.matchAll(pattern)].reduce((sum, m) => sum + Number(m[1]), 0));
  }

  it('three dispatch --watch workers and the send that started it share one notification: each subscriber exactly once', async () => {
    const subs = await subscribe(SUBSCRIBERS);
    const workers = [await worker(), await worker(), await worker()];
    // The send itself goes slowly (few requests in flight), so the workers have a share to take.
    const sent = await runCli(['send', '--all', '--title', 'Shared', '--yes', '--concurrency', '4', '--json'], { cwd: dir, env, timeoutMs: 240_000 });
    expect(sent.code, sent.stderr).toBe(0);
    expect(sent.stdout, sent.stderr).not.toBe('');
    const summary = JSON.parse(sent.stdout) as Summary;
    expect(summary.status).toBe('sent');
    expect(summary.counts).toMatchObject({ total: SUBSCRIBERS, sent: SUBSCRIBERS, pending: 0, failed: 0 });

    const counts = receivedBySubscription(svc);
    expect(counts.size).toBe(SUBSCRIBERS);
    for (const s of subs) expect(counts.get(s.id), s.id).toBe(1);
    expect(svc.requestCount).toBe(SUBSCRIBERS);

    for (const w of workers) w.child.kill('SIGTERM');
    const results = await Promise.all(workers.map((w) => w.done));
    for (const r of results) expect(r.code, r.stderr).toBe(0);
    const perWorker = shares(workers.map((w) => w.log()), summary.id);
    console.log(`[measure] shares of ${SUBSCRIBERS}: workers ${perWorker.join(', ')}, the send ${SUBSCRIBERS - perWorker.reduce((a, b) => a + b, 0)}`);
    expect(perWorker.filter((n) => n > 0).length).toBeGreaterThanOrEqual(2);
    expect(perWorker.reduce((a, b) => a + b, 0)).toBeLessThan(SUBSCRIBERS);
  }, 300_000);

  itOnPostgres('a send opens its connections while its recipient list is written, and its first requests take them', async () => {
    await subscribe(40);
    // Another session holds the ledger: the send's INSERT of its recipients waits behind it.
    const holder = new pg.Client({ connectionString: url });
    holder.on('error', () => {});
    await holder.connect();
    clients.push(holder);
    await holder.query('BEGIN');
    await holder.query('LOCK TABLE deliveries IN SHARE MODE');
    const send = startCli(['send', '--all', '--title', 'Ahead', '--yes', '--concurrency', '4', '--json'], { cwd: dir, env, timeoutMs: 120_000 });
    children.push(send);
    await waitFor('the send waiting for the lock', async () => Number((await holder.query(`SELECT count(*) AS n FROM pg_locks WHERE relation = 'deliveries'::regclass AND NOT granted`)).rows[0].n) > 0, 60_000);
    await waitFor('4 connections open while the recipient list waits', () => svc.connections === 4, 60_000);
    expect(svc.requestCount).toBe(0);
    await holder.query('ROLLBACK');
    const result = await send.done;
    expect(result.code, result.stderr).toBe(0);
    expect((JSON.parse(result.stdout) as Summary).counts).toMatchObject({ total: 40, sent: 40 });
    expect(svc.requestCount).toBe(40);
    // The requests went over the connections opened ahead.
    expect(svc.connections).toBe(4);
  }, 180_000);

  it('a worker SIGKILLed mid-send: nobody is missed, duplicates at most its requests in flight', async () => {
    const subs = await subscribe(SUBSCRIBERS);
    const concurrency = 16;
    // Short leases: the dead worker's chunk comes back (and its lead role is taken over) within seconds.
    const workers = [];
    for (let i = 0; i < 3; i++) workers.push(await worker(['--lease', '3s', '--concurrency', String(concurrency)]));
    const queued = await runJson<Summary>(['send', '--all', '--title', 'Crash', '--yes', '--enqueue'], { cwd: dir, env });
    // Recorded and printed at once; a worker woken by it may have started it already.
    expect(['scheduled', 'sending']).toContain(queued.status);

    // Kill the lead (the one that logged "sending") once the send is well under way.
    await waitFor('the send under way', () => svc.requestCount >= 600);
    const lead = workers.find((w) => new RegExp(`notification ${queued.id}: sending`).test(w.log()));
    expect(lead, workers.map((w) => w.log()).join('\n---\n')).toBeDefined();
    lead!.child.kill('SIGKILL');
    await lead!.done;
    expect(svc.requestCount).toBeLessThan(SUBSCRIBERS);

    await waitFor('the notification to be sent', async () => (await sql<{ status: string }>('SELECT status FROM notifications WHERE id = $1', [queued.id]))[0]?.status === 'sent');
    const [row] = await sql<{ sent_count: number; total_count: number }>('SELECT sent_count, total_count FROM notifications WHERE id = $1', [queued.id]);
    expect(row).toEqual({ sent_count: SUBSCRIBERS, total_count: SUBSCRIBERS });
    const counts = receivedBySubscription(svc);
    expect(new Set(counts.keys())).toEqual(new Set(subs.map((s) => s.id)));
    const duplicates = svc.received.length - counts.size;
    console.log(`[measure] SIGKILLed lead: ${duplicates} duplicate(s) (its requests in flight: at most ${concurrency})`);
    expect(duplicates).toBeLessThanOrEqual(concurrency);
  }, 300_000);

  it('two serve replicas: the same endpoints posted to both at once make one row each; an idempotency key makes one notification', async () => {
    const config = serveConfig({ push: { endpointOrigins: [svc.origin] } });
    for (let i = 0; i < 2; i++) {
      const replicaDir = tempDir('pushctl-replica-');
      replicas.push(await startServe({ dir: replicaDir, config, env }));
    }
    const subs = Array.from({ length: 100 }, () => svc.createSubscription(publicKey));
    const post = (replica: ServeHandle, body: unknown, headers: Record<string, string> = {}) =>
      fetch(`${replica.url}${headers.authorization ? '/v1/pushnotification' : '/subscription'}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify(body),
      });
    const answers = await Promise.all(subs.flatMap((s) => replicas.map((r) => post(r, { subscription: { endpoint: s.endpoint, keys: s.keys }, categories: [] }))));
    const statuses = answers.map((a) => a.status);
    const refusals = await Promise.all(answers.filter((a) => a.status !== 200 && a.status !== 201).map(async (a) => `${a.status} ${await a.text()}`));
    expect(refusals).toEqual([]);
    expect(statuses.filter((s) => s === 201)).toHaveLength(subs.length);
    const [rows] = await sql<{ n: string }>('SELECT count(*) AS n FROM subscriptions');
    expect(Number(rows!.n)).toBe(subs.length);

    const admin = { authorization: `Bearer ${ADMIN_TOKEN}`, 'idempotency-key': 'replicas-1' };
    const later = { title: 'Later', all: true, send_at: '2099-01-01T00:00:00Z' };
    const made = await Promise.all([...replicas, ...replicas].map((r) => post(r, later, admin)));
    const ids = await Promise.all(made.map(async (a) => ((await a.json()) as { id: number }).id));
    expect(made.map((a) => a.status).every((s) => s === 201 || s === 200)).toBe(true);
    expect(new Set(ids).size).toBe(1);
    const [made1] = await sql<{ m: string }>(`SELECT count(*) AS m FROM notifications WHERE idempotency_key = 'replicas-1'`);
    expect(Number(made1!.m)).toBe(1);
  }, 180_000);

  itOnPostgres('PostgreSQL restarted during a send: the send finishes with exact counts; serve answers 503 while it is down and recovers', async () => {
    const subs = await subscribe(SUBSCRIBERS);
    const replica = await startServe({ dir: tempDir('pushctl-replica-'), config: serveConfig({ push: { endpointOrigins: [svc.origin] } }), env });
    replicas.push(replica);
    const sending = startCli(['send', '--all', '--title', 'Outage', '--yes', '--json', '--concurrency', '8'], { cwd: dir, env, timeoutMs: 300_000 });
    children.push(sending);
    await waitFor('the send under way', () => svc.requestCount >= 500);
    await server.pause();
    let downAnswer: { status: number; body: { error?: { code?: string } } };
    try {
      const fresh = svc.createSubscription(publicKey);
      const answer = await fetch(`${replica.url}/subscription`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ endpoint: fresh.endpoint, keys: fresh.keys }) });
      downAnswer = { status: answer.status, body: (await answer.json()) as { error?: { code?: string } } };
      expect(answer.headers.get('retry-after')).not.toBeNull();
    } finally {
      await server.start();
    }
    expect(downAnswer.status).toBe(503);
    expect(downAnswer.body.error?.code).toBe('store_unavailable');

    const result = await sending.done;
    expect(result.code, result.stderr).toBe(0);
    const summary = JSON.parse(result.stdout) as Summary;
    expect(summary.status).toBe('sent');
    expect(summary.counts).toMatchObject({ total: SUBSCRIBERS, sent: SUBSCRIBERS, pending: 0, failed: 0 });
    const counts = receivedBySubscription(svc);
    expect(new Set(counts.keys())).toEqual(new Set(subs.map((s) => s.id)));
    // Requests in flight at the cut were answered and their answers recorded once the server was back.
    expect(svc.received.length - counts.size).toBeLessThanOrEqual(8);

    // The replica recovered by itself.
    const again = svc.createSubscription(publicKey);
    const answer = await fetch(`${replica.url}/subscription`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ endpoint: again.endpoint, keys: again.keys }) });
    expect(answer.status).toBe(201);
  }, 300_000);
});
