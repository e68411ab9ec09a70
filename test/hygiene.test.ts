/**
 * Subscription and ledger hygiene, through the built CLI against the push-service stand-in, on a
 * simulated calendar (PUSHCTL_NOW): expired subscriptions are not sent to and are pruned;
 * `subscriptions prune --inactive`; `notifications prune --older-than` keeps each notification's
 * counts; `push.pruneInactiveAfter` / `push.keepHistoryFor` make dispatch do it once a day, however
 * many dispatchers run.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { openDbWritable } from './support/cli.js';
import type { ServiceSubscription } from './support/push-service.js';
import { receivedBySubscription, simulatedAt, standInPerFile, type NotificationJson } from './support/scheduling.js';

const DAY = 86_400_000;
const T0 = Date.parse('2030-01-10T12:00:00Z');
const at = simulatedAt;

const t = standInPerFile('pushctl-hygiene-');

/** `send` (or any command) with --json whatever its exit code (a send with pending deliveries exits 1). */
async function jsonOf<T>(args: string[], now: number): Promise<T> {
  const result = await t.inst.cli([...args, '--json'], at(now));
  if (!result.stdout.trim()) throw new Error(`pushctl ${args.join(' ')} exited ${result.code}: ${result.stderr}`);
  return JSON.parse(result.stdout) as T;
}

/** Subscribers made at the stand-in, imported with extra fields (expirationTime, createdAt, ...). */
async function importAt(now: number, records: Record<string, unknown>[]): Promise<ServiceSubscription[]> {
  const subs = records.map(() => t.svc.createSubscription(t.inst.publicKey));
  const file = path.join(t.inst.dir, `import-${Math.random().toString(36).slice(2)}.ndjson`);
  fs.writeFileSync(file, subs.map((s, i) => JSON.stringify({ endpoint: s.endpoint, keys: s.keys, ...records[i] })).join('\n') + '\n');
  const result = await t.inst.cli(['subscriptions', 'import', file], at(now));
  expect(result.code, result.stderr).toBe(0);
  return subs;
}


const endpoints = () => t.inst.query<{ endpoint: string }>('SELECT endpoint FROM subscriptions ORDER BY id').map((r) => r.endpoint);
const deliveryRows = (id: number) => t.inst.query<{ n: number }>('SELECT count(*) AS n FROM deliveries WHERE notification_id = ?', id)[0]!.n;

interface Shown extends NotificationJson {
  ledgerPrunedAt: string | null;
}

describe('expired subscriptions', () => {
  it('are not sent to, and the one that expires while a send waits is recorded gone and deleted', async () => {
    const [past, soon, future, never] = await importAt(T0, [
      { expirationTime: T0 - 1000 },
      { expirationTime: T0 + 30 * 60_000 },
      { expirationTime: T0 + 30 * DAY },
      { expirationTime: null },
    ]);
    // 503 for "soon" once: its retry comes due after it has expired.
    t.svc.behave({ status: 503, retryAfter: '3600', subscriptions: [soon!.id], first: 1 });
    const dryRun = await t.inst.json<{ recipients: number }>(['send', '--all', '--title', 'Hello', '--dry-run'], at(T0));
    expect(dryRun.recipients).toBe(3);
    const sent = await jsonOf<Shown>(['send', '--all', '--title', 'Hello', '--yes'], T0);
    expect(sent.counts).toMatchObject({ total: 3, sent: 2, pending: 1 });
    const got = receivedBySubscription(t.svc);
    expect([got.get(past!.id), got.get(soon!.id), got.get(future!.id), got.get(never!.id)]).toEqual([undefined, undefined, 1, 1]);

    const later = await t.inst.cli(['dispatch', '--json'], at(T0 + 2 * 3_600_000));
    expect(later.code, later.stderr).toBe(0);
    const shown = await t.inst.json<Shown>(['notifications', 'show', String(sent.id)], at(T0 + 2 * 3_600_000));
    expect(shown.counts).toMatchObject({ total: 3, sent: 2, gone: 1, pending: 0 });
    expect(receivedBySubscription(t.svc).get(soon!.id)).toBeUndefined();
    expect(t.inst.query<{ error: string }>('SELECT error FROM deliveries WHERE state = ?', 'gone')[0]!.error).toMatch(/expired/);
    // "soon" went with its gone delivery; "past" was never a recipient and is pruned by dispatch's daily housekeeping.
    expect(endpoints()).toEqual([future!.endpoint, never!.endpoint]);
  });

  it('subscriptions prune --expired (with --dry-run) removes those whose expirationTime has passed', async () => {
    const [, , keep] = await importAt(T0, [{ expirationTime: T0 - DAY }, { expirationTime: T0 + DAY }, { expirationTime: null }]);
    const dry = await t.inst.json<{ matched: number; removed: number }>(['subscriptions', 'prune', '--expired', '--dry-run'], at(T0 + 2 * DAY));
    expect(dry).toMatchObject({ matched: 2, removed: 0 });
    expect(endpoints()).toHaveLength(3);
    const done = await t.inst.json<{ removed: number }>(['subscriptions', 'prune', '--expired'], at(T0 + 2 * DAY));
    expect(done.removed).toBe(2);
    expect(endpoints()).toEqual([keep!.endpoint]);
  });
});

describe('subscriptions prune --inactive', () => {
  it('counts from the last successful push, or from creation when there never was one', async () => {
    const [active, silent] = await importAt(T0, [{}, {}]);
    const [old] = await importAt(T0, [{ createdAt: new Date(T0 - 90 * DAY).toISOString(), lastSuccessAt: new Date(T0 - 10 * DAY).toISOString() }]);
    // Day 30: a push reaches "active" only (the service refuses the others).
    t.svc.behave({ status: 400, subscriptions: [silent!.id, old!.id] });
    const sent = await jsonOf<Shown>(['send', '--all', '--title', 'Day 30', '--yes'], T0 + 30 * DAY);
    expect(sent.counts).toMatchObject({ sent: 1, failed: 2 });
    t.svc.clearBehaviour();

    // Day 65: "silent" was created 65 days ago and never reached; "old" last succeeded 75 days ago; "active" 35 days ago.
    const dry = await t.inst.json<{ matched: number; dryRun: boolean }>(['subscriptions', 'prune', '--inactive', '60d', '--dry-run'], at(T0 + 65 * DAY));
    expect(dry).toMatchObject({ matched: 2, dryRun: true });
    expect(endpoints()).toHaveLength(3);
    const text = await t.inst.cli(['subscriptions', 'prune', '--inactive', '60d'], at(T0 + 65 * DAY));
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/removed 2 stale subscriptions/);
    expect(endpoints()).toEqual([active!.endpoint]);
  });

  it('refuses bad durations and contradictory flags with exit 2, removing nothing', async () => {
    await importAt(T0 - 100 * DAY, [{}]);
    for (const [args, message] of [
      [['--inactive', 'sixty days'], /--inactive: "sixty days" is not a duration/],
      [['--inactive', '60d', '--older-than', '60d'], /--inactive or --older-than/],
      [[], /say what is stale with --inactive DURATION/],
    ] as const) {
      const result = await t.inst.cli(['subscriptions', 'prune', ...args], at(T0));
      expect(result.code, result.stderr).toBe(2);
      expect(result.stderr).toMatch(message);
    }
    expect(endpoints()).toHaveLength(1);
  });
});

describe('notifications prune --older-than', () => {
  it('drops the delivery rows of old finished notifications and keeps their counts in show and list', async () => {
    const subs = await importAt(T0, [{}, {}, {}, {}]);
    t.svc.behave({ status: 410, subscriptions: [subs[0]!.id] });
    t.svc.behave({ status: 400, subscriptions: [subs[1]!.id] });
    const old = await jsonOf<Shown>(['send', '--all', '--title', 'Old', '--yes'], T0);
    t.svc.clearBehaviour();
    const recent = await t.inst.json<Shown>(['send', '--all', '--title', 'Recent', '--yes'], at(T0 + 50 * DAY));
    const upcoming = await t.inst.json<Shown>(['schedule', '--all', '--title', 'Upcoming', '--at', '2030-12-01T09:00:00Z'], at(T0 + 50 * DAY));
    const before = await t.inst.json<Shown>(['notifications', 'show', String(old.id)], at(T0 + 100 * DAY));
    expect(before.counts).toEqual({ total: 4, sent: 2, gone: 1, failed: 1, pending: 0, capped: 0 });
    const listed = async () => (await t.inst.json<Shown[]>(['notifications', 'list'], at(T0 + 100 * DAY))).map((n) => [n.id, n.status, n.counts]);
    const listBefore = await listed();
    expect(deliveryRows(old.id)).toBe(4);

    const dry = await t.inst.json<{ notifications: number; deliveries: number }>(['notifications', 'prune', '--older-than', '90d', '--dry-run'], at(T0 + 100 * DAY));
    expect(dry).toMatchObject({ notifications: 1, deliveries: 4, dryRun: true });
    expect(deliveryRows(old.id)).toBe(4);

    const pruned = await t.inst.cli(['notifications', 'prune', '--older-than', '90d'], at(T0 + 100 * DAY));
    expect(pruned.code, pruned.stderr).toBe(0);
    expect(pruned.stdout).toMatch(/dropped 4 delivery records of 1 notification finished before 2030-01-\d\dT.*; their counts are kept/);
    expect(deliveryRows(old.id)).toBe(0);
    expect(deliveryRows(recent.id)).toBe(3);

    const after = await t.inst.json<Shown>(['notifications', 'show', String(old.id)], at(T0 + 100 * DAY));
    expect(after.counts).toEqual(before.counts);
    expect(after.status).toBe(before.status);
    expect(Date.parse(after.ledgerPrunedAt!) - (T0 + 100 * DAY)).toBeGreaterThanOrEqual(0);
    expect(Date.parse(after.ledgerPrunedAt!) - (T0 + 100 * DAY)).toBeLessThan(60_000);
    expect(await listed()).toEqual(listBefore);
    const text = await t.inst.cli(['notifications', 'show', String(old.id)], at(T0 + 100 * DAY));
    expect(text.stdout).toMatch(/counts: +4 recipients: 2 sent, 1 gone, 1 failed, 0 pending/);
    expect(text.stdout).toMatch(/history: +per-delivery records pruned .* \(counts kept\)/);
    expect((await t.inst.json<Shown>(['notifications', 'show', String(upcoming.id)], at(T0 + 100 * DAY))).status).toBe('scheduled');

    // Again: nothing left to prune.
    const again = await t.inst.json<{ notifications: number }>(['notifications', 'prune', '--older-than', '90d'], at(T0 + 100 * DAY));
    expect(again.notifications).toBe(0);
    const bad = await t.inst.cli(['notifications', 'prune', '--older-than', 'ages'], at(T0 + 100 * DAY));
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--older-than: "ages" is not a duration/);
  });

  it('stores counts from the ledger for a send that was cancelled while its sender was gone', async () => {
    await importAt(T0, [{}, {}]);
    const sent = await t.inst.json<Shown>(['send', '--all', '--title', 'x', '--yes'], at(T0));
    expect(sent.counts.sent).toBe(2);
    // What a cancel leaves when the sender died first: a row whose stored counts lag the ledger.
    const rw = openDbWritable(t.inst.db);
    rw.prepare("UPDATE notifications SET status = 'cancelled', sent_count = 0 WHERE id = ?").run(sent.id);
    rw.close();
    expect((await t.inst.json<Shown>(['notifications', 'show', String(sent.id)], at(T0 + 100 * DAY))).counts.sent).toBe(0);
    expect((await t.inst.cli(['notifications', 'prune', '--older-than', '90d'], at(T0 + 100 * DAY))).code).toBe(0);
    expect((await t.inst.json<Shown>(['notifications', 'show', String(sent.id)], at(T0 + 100 * DAY))).counts).toMatchObject({ total: 2, sent: 2 });
  });
});

describe('dispatch housekeeping: push.pruneInactiveAfter and push.keepHistoryFor', () => {
  interface Run {
    maintenance?: { expired?: number; inactive?: number; history?: { notifications: number; deliveries: number } };
  }

  it('runs once a day however many dispatchers overlap, and records the last run in the store', async () => {
    t.config({ endpointOrigins: [t.svc.origin], pruneInactiveAfter: '60d', keepHistoryFor: '90d' });
    const [active] = await importAt(T0, [{}, {}, { expirationTime: T0 + 99 * DAY }]);
    // 1 and 3 are reached on day 45, so only 2 is inactive on day 100 (3 has expired by then): the
    // tasks may run in any order across the dispatchers, and each must find its own subscription.
    const first = await t.inst.json<Shown>(['send', '--subscription', '1', '--title', 'Keeps 1 alive', '--yes'], at(T0 + 45 * DAY));
    expect(first.counts.sent).toBe(1);
    const third = await t.inst.json<Shown>(['send', '--subscription', '3', '--title', 'Keeps 3 alive', '--yes'], at(T0 + 45 * DAY));
    expect(third.counts.sent).toBe(1);

    // Day 100: four dispatchers at once; exactly one does the day's housekeeping.
    const day100 = T0 + 100 * DAY;
    const runs = await Promise.all(Array.from({ length: 4 }, () => t.inst.start(['dispatch', '--json'], at(day100)).done));
    for (const run of runs) expect(run.code, run.stderr).toBe(0);
    // Each task is claimed on its own, so the work may be shared out; each is done exactly once.
    const reports = runs.map((run) => (JSON.parse(run.stdout) as Run).maintenance).filter((r) => r !== undefined);
    for (const task of ['expired', 'inactive', 'history'] as const) expect(reports.filter((r) => r[task] !== undefined), task).toHaveLength(1);
    // Subscription 2: never reached, created 100 days ago. 3: expired. 1: reached 55 days ago: stays.
    expect(Object.assign({}, ...reports)).toMatchObject({ expired: 1, inactive: 1, history: { notifications: 0, deliveries: 0 } });
    expect(endpoints()).toEqual([active!.endpoint]);
    const runsRow = t.inst.query<{ task: string; last_run_at: number }>('SELECT task, last_run_at FROM maintenance_runs ORDER BY task');
    expect(runsRow.map((r) => r.task)).toEqual(['prune-expired-subscriptions', 'prune-history', 'prune-inactive-subscriptions']);
    for (const row of runsRow) expect(Math.abs(row.last_run_at - day100)).toBeLessThan(60_000);

    // Later the same day: nothing. Days later: history older than 90 days goes (the day-45 sends finished 95 days before day 140).
    const sameDay = await t.inst.json<Run>(['dispatch'], at(day100 + 6 * 3_600_000));
    expect(sameDay.maintenance).toBeUndefined();
    const day140 = await t.inst.json<Run>(['dispatch'], at(T0 + 140 * DAY));
    expect(day140.maintenance).toMatchObject({ history: { notifications: 2, deliveries: 2 } });
    expect(deliveryRows(first.id) + deliveryRows(third.id)).toBe(0);
    expect((await t.inst.json<Shown>(['notifications', 'show', String(first.id)], at(T0 + 140 * DAY))).counts).toMatchObject({ total: 1, sent: 1 });
    // "active" last succeeded on day 45, 95 days before: the inactive rule takes it too.
    expect(day140.maintenance).toMatchObject({ inactive: 1 });
    expect(endpoints()).toEqual([]);
  });

  it('a quiet cron run stays quiet when housekeeping finds nothing, and says what it did otherwise', async () => {
    t.config({ endpointOrigins: [t.svc.origin], pruneInactiveAfter: '60d' });
    await importAt(T0, [{}]);
    const quiet = await t.inst.cli(['dispatch', '--quiet'], at(T0 + DAY));
    expect(quiet.code).toBe(0);
    expect(quiet.stdout + quiet.stderr).toBe('');
    const told = await t.inst.cli(['dispatch'], at(T0 + 70 * DAY));
    expect(told.code, told.stderr).toBe(0);
    expect(told.stderr + told.stdout).toMatch(/housekeeping: 1 inactive subscription removed/);
  });

  it('refuses durations it cannot read or shorter than a day, naming the key, before touching anything', async () => {
    await importAt(T0, [{}]);
    for (const [push, message] of [
      [{ keepHistoryFor: 'forever' }, /push\.keepHistoryFor: "forever" is not a duration/],
      [{ pruneInactiveAfter: '5m' }, /push\.pruneInactiveAfter: "5m" is shorter than a day/],
      [{ pruneInactiveAfter: 60 }, /push\.pruneInactiveAfter: .*expected string/],
    ] as const) {
      t.config({ endpointOrigins: [t.svc.origin], ...push });
      const result = await t.inst.cli(['dispatch'], at(T0 + 100 * DAY));
      expect(result.code, result.stderr).toBe(2);
      expect(result.stderr).toMatch(message);
    }
    expect(endpoints()).toHaveLength(1);
    expect(t.inst.query('SELECT * FROM maintenance_runs')).toEqual([]);
  });
});
