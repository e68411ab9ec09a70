/**
 * The notification history through the CLI: list and show (counts must equal what the push-service
 * stand-in received, failures come with their status codes), cancel, delete (refused while a
 * send is live) and resume (after a SIGKILLed send, and after a push-service key problem).
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startPushService, type PushService } from './support/push-service.js';
import { installation, receivedBySubscription, until, type Installation, type NotificationJson } from './support/scheduling.js';

let svc: PushService;
let inst: Installation;

beforeAll(async () => {
  svc = await startPushService();
});
afterAll(async () => {
  await svc.close();
});
beforeEach(async () => {
  svc.clearBehaviour();
  svc.resetCounts();
  inst = await installation(svc, 'pushctl-history-');
});
afterEach(() => inst.cleanup());

interface Shown extends NotificationJson {
  payload: unknown;
  ttl: number;
  urgency: string | null;
  cron: string | null;
  recentFailures: { subscriptionId: number; state: string; statusCode: number | null; error: string | null; attempts: number }[];
  occurrences?: { total: number; recent: NotificationJson[] };
  next?: string[];
}

const show = (id: number) => inst.json<Shown>(['notifications', 'show', String(id)]);
const list = (...args: string[]) => inst.json<NotificationJson[]>(['notifications', 'list', ...args]);

describe('notifications list and show', () => {
  it('counts equal what the stand-in received; failures carry their status codes', async () => {
    const subs = await inst.subscribe(12);
    const [gone, rejected] = subs;
    svc.behave({ status: 410, subscriptions: [gone!.id] });
    svc.behave({ status: 400, subscriptions: [rejected!.id], body: 'bad request for this one' });
    const partial = await inst.json<NotificationJson>(['schedule', '--all', '--title', 'Mixed', '--body', 'b', '--ttl', '2h', '--urgency', 'high', '--in', '0s']);
    await inst.cli(['dispatch']);
    svc.clearBehaviour();
    const full = await inst.json<NotificationJson>(['schedule', '--all', '--title', 'Everyone', '--in', '0s']);
    await inst.cli(['dispatch']);
    const later = await inst.json<NotificationJson>(['schedule', '--all', '--title', 'Later', '--in', '3h']);

    const rows = await list();
    expect(rows.map((r) => [r.id, r.status, r.title])).toEqual([
      [later.id, 'scheduled', 'Later'],
      [full.id, 'sent', 'Everyone'],
      [partial.id, 'partial', 'Mixed'],
    ]);
    // Counts, per notification, are what the stand-in accepted.
    const partialReceived = receivedBySubscription(svc, partial.topic!);
    const fullReceived = receivedBySubscription(svc, full.topic!);
    expect(rows[2]!.counts).toEqual({ total: 12, sent: partialReceived.size, gone: 1, failed: 1, pending: 0, capped: 0 });
    expect(partialReceived.size).toBe(10);
    expect(rows[1]!.counts).toEqual({ total: 11, sent: fullReceived.size, gone: 0, failed: 0, pending: 0, capped: 0 }); // the gone one was removed
    expect(fullReceived.size).toBe(11);
    expect(rows[0]!.counts).toEqual({ total: 0, sent: 0, gone: 0, failed: 0, pending: 0, capped: 0 });

    const shown = await show(partial.id);
    expect(shown.payload).toEqual({ title: 'Mixed', body: 'b' });
    expect(shown).toMatchObject({ ttl: 7200, urgency: 'high', status: 'partial' });
    expect(shown.counts).toEqual(rows[2]!.counts);
    const codes = shown.recentFailures.map((f) => [f.state, f.statusCode]).sort();
    expect(codes).toEqual([
      ['failed', 400],
      ['gone', 410],
    ]);

    const human = await inst.cli(['notifications', 'show', String(partial.id)]);
    expect(human.stdout).toMatch(/counts:\s+12 recipients: 10 sent, 1 gone, 1 failed, 0 pending/);
    expect(human.stdout).toMatch(/recent failures/);
    expect(human.stdout).toMatch(/400/);
    const table = await inst.cli(['notifications', 'list']);
    expect(table.stdout).toMatch(/partial/);
    expect(table.stdout).toMatch(/Everyone/);
  });

  it('filters by --status and --since, and refuses an unknown status', async () => {
    await inst.subscribe(2);
    const a = await inst.json<NotificationJson>(['schedule', '--all', '--title', 'A', '--in', '0s']);
    await inst.cli(['dispatch']);
    const b = await inst.json<NotificationJson>(['schedule', '--all', '--title', 'B', '--in', '1h']);
    const c = await inst.json<NotificationJson>(['schedule', '--all', '--title', 'C', '--in', '2h']);
    await inst.cli(['notifications', 'cancel', String(c.id)]);
    expect((await list('--status', 'sent')).map((r) => r.id)).toEqual([a.id]);
    expect((await list('--status', 'scheduled')).map((r) => r.id)).toEqual([b.id]);
    expect((await list('--status', 'cancelled')).map((r) => r.id)).toEqual([c.id]);
    expect(await list('--since', '1h')).toHaveLength(3);
    // --since compares the latest of finished, started, due: only B (due in an hour) is after half an hour from now.
    expect((await list('--since', new Date(Date.now() + 1_800_000).toISOString())).map((r) => r.id)).toEqual([b.id]);
    const bad = await inst.cli(['notifications', 'list', '--status', 'done']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--status: "done" is not one of/);
  });

  it('show of a recurring rule lists its next slots and its occurrences', async () => {
    await inst.subscribe(1);
    const t0 = Date.parse('2030-06-01T08:59:00Z');
    const rule = await inst.json<NotificationJson>(['schedule', '--all', '--title', 'Hourly', '--cron', '0 * * * *', '--tz', 'UTC'], { PUSHCTL_NOW: new Date(t0).toISOString() });
    await inst.cli(['dispatch'], { PUSHCTL_NOW: '2030-06-01T09:00:10Z' });
    await inst.cli(['dispatch'], { PUSHCTL_NOW: '2030-06-01T10:00:10Z' });
    const shown = await inst.json<Shown>(['notifications', 'show', String(rule.id)], { PUSHCTL_NOW: '2030-06-01T10:00:20Z' });
    expect(shown.cron).toBe('0 * * * *');
    expect(shown.next!.slice(0, 2)).toEqual(['2030-06-01T11:00:00.000Z', '2030-06-01T12:00:00.000Z']);
    expect(shown.occurrences!.total).toBe(2);
    expect(shown.occurrences!.recent.map((o) => [o.slotAt, o.status, o.counts.sent])).toEqual([
      ['2030-06-01T10:00:00.000Z', 'sent', 1],
      ['2030-06-01T09:00:00.000Z', 'sent', 1],
    ]);
    expect(svc.received).toHaveLength(2);
  });

  it('not-found and bad ids', async () => {
    const missing = await inst.cli(['notifications', 'show', '999']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/notification 999 does not exist/);
    const bad = await inst.cli(['notifications', 'cancel', 'abc']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/"abc" is not a notification id/);
  });
});

describe('notifications delete', () => {
  it('asks for --yes without a terminal, then removes the notification and its delivery rows', async () => {
    await inst.subscribe(3);
    const note = await inst.json<NotificationJson>(['schedule', '--all', '--title', 'Gone soon', '--in', '0s']);
    await inst.cli(['dispatch']);
    const refused = await inst.cli(['notifications', 'delete', String(note.id)]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/--yes/);
    expect(inst.query('SELECT 1 FROM deliveries WHERE notification_id = ?', note.id)).toHaveLength(3);
    const deleted = await inst.cli(['notifications', 'delete', String(note.id), '--yes']);
    expect(deleted.code, deleted.stderr).toBe(0);
    expect(inst.query('SELECT 1 FROM notifications WHERE id = ?', note.id)).toHaveLength(0);
    expect(inst.query('SELECT 1 FROM deliveries WHERE notification_id = ?', note.id)).toHaveLength(0);
  });

  it('deletes a notification while it is being sent (the send stops), and a rule with its occurrences', async () => {
    await inst.subscribe(1500);
    const note = await inst.json<NotificationJson>(['schedule', '--all', '--title', 'Busy', '--in', '0s']);
    const running = inst.start(['dispatch', '--concurrency', '2', '--json']);
    await until(() => svc.requestCount >= 50);
    const deleted = await inst.cli(['notifications', 'delete', String(note.id), '--yes']);
    expect(deleted.code, deleted.stderr).toBe(0);
    const dispatched = await running.done;
    expect(dispatched.code, dispatched.stderr).toBe(0);
    expect(JSON.parse(dispatched.stdout)).toMatchObject({ delivered: [{ id: note.id, status: 'cancelled', stoppedReason: 'deleted' }], errors: [] });
    // It stopped: far fewer than the 1500 recipients were sent to, and nothing of it is left.
    expect(svc.requestCount).toBeLessThan(1500);
    expect(inst.query('SELECT 1 FROM notifications WHERE id = ?', note.id)).toHaveLength(0);
    expect(inst.query('SELECT 1 FROM deliveries WHERE notification_id = ?', note.id)).toHaveLength(0);

    const rule = await inst.json<NotificationJson>(['schedule', '--all', '--title', 'Rule', '--cron', '*/10 * * * *', '--tz', 'UTC'], { PUSHCTL_NOW: '2030-06-01T08:55:00Z' });
    await inst.cli(['dispatch'], { PUSHCTL_NOW: '2030-06-01T09:00:05Z' });
    expect(inst.query('SELECT 1 FROM notifications WHERE parent_id = ?', rule.id)).toHaveLength(1);
    const result = await inst.json<{ deleted: boolean; deletedOccurrences: number }>(['notifications', 'delete', String(rule.id), '--yes']);
    expect(result).toMatchObject({ deleted: true, deletedOccurrences: 1 });
    expect(inst.query('SELECT 1 FROM notifications')).toHaveLength(0);
    expect(inst.query('SELECT 1 FROM deliveries')).toHaveLength(0);
  });
});

describe('notifications resume', () => {
  it('finishes a send whose process was SIGKILLed, at once (its owner is dead), duplicates <= concurrency', async () => {
    const concurrency = 8;
    await inst.subscribe(1500);
    const sender = inst.start(['send', '--all', '--title', 'Interrupted', '--concurrency', String(concurrency), '--json']);
    await until(() => svc.requestCount >= 200);
    sender.child.kill('SIGKILL');
    await sender.done;
    const [row] = inst.query<{ id: number; status: string }>('SELECT id, status FROM notifications');
    expect(row!.status).toBe('sending');
    const atKill = svc.received.length;

    const resumed = await inst.cli(['notifications', 'resume', String(row!.id), '--json']);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(JSON.parse(resumed.stdout)).toMatchObject({ status: 'sent', counts: { total: 1500, sent: 1500, pending: 0 } });
    expect(receivedBySubscription(svc).size).toBe(1500);
    const duplicates = svc.received.length - 1500;
    expect(duplicates).toBeLessThanOrEqual(concurrency);
    console.log(`[measure] send SIGKILLed after ${atKill} of 1500; resume finished with ${duplicates} duplicates (concurrency ${concurrency})`);
  });

  it('reopens a send stopped by a key problem once it is fixed; refuses what has nothing to resume', async () => {
    await inst.subscribe(20);
    svc.behave({ status: 403, first: 5, body: 'VAPID key mismatch' });
    const first = await inst.cli(['send', '--all', '--title', 'Key trouble', '--concurrency', '1', '--json']);
    expect(first.code).toBe(1);
    const stopped = JSON.parse(first.stdout) as NotificationJson;
    expect(stopped.status).toBe('failed');
    expect(stopped.counts).toMatchObject({ failed: 5, pending: 15 });
    expect(svc.received).toHaveLength(0);

    const resumed = await inst.cli(['notifications', 'resume', String(stopped.id), '--json']);
    expect(resumed.code).toBe(1); // five deliveries stay failed
    expect(JSON.parse(resumed.stdout)).toMatchObject({ status: 'partial', counts: { total: 20, sent: 15, failed: 5, pending: 0 } });
    expect(svc.received).toHaveLength(15);

    const again = await inst.cli(['notifications', 'resume', String(stopped.id)]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/is partial; nothing is left to resume/);
    const later = await inst.json<NotificationJson>(['schedule', '--all', '--title', 'Later', '--in', '1h']);
    const early = await inst.cli(['notifications', 'resume', String(later.id)]);
    expect(early.code).toBe(1);
    expect(early.stderr).toMatch(/is scheduled for .*the dispatcher sends it when it is due/);
  });
});
