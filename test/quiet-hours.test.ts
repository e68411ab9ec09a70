/**
 * Quiet hours in each subscriber's local time, through the built CLI against the push-service
 * stand-in on a simulated night (PUSHCTL_NOW): subscribers in Tokyo, Berlin, New York and one
 * without a zone (the server's, UTC here); deliveries inside 22:00-08:00 wait for its end and
 * dispatch sends them then; --urgent is never held; bad ranges are refused and write nothing.
 */
import { describe, expect, it } from 'vitest';
import { receivedBySubscription, importTravellers, simulatedAt as at, standInPerFile, type NotificationJson } from './support/scheduling.js';

const t = standInPerFile('pushctl-quiet-');

/** Four subscribers, in Tokyo, Berlin, New York and an unknown zone, in that order. */
const travellers = () => importTravellers(t);

interface Shown extends NotificationJson {
  deferred: { count: number; until: string | null };
}

const sentAt = (id: number) =>
  Object.fromEntries(
    t.inst.query<{ subscription_id: number; updated_at: number }>("SELECT subscription_id, updated_at FROM deliveries WHERE notification_id = ? AND state = 'sent'", id).map((r) => [r.subscription_id, r.updated_at]),
  );

describe('push.quietHours', () => {
  it('holds each delivery until quiet hours end in its subscriber\'s zone; dispatch sends them then', async () => {
    t.config({ quietHours: { start: '22:00', end: '08:00' } });
    const [tokyo, berlin, newYork, unknown] = await travellers();
    // 21:30 UTC: Tokyo 06:30 (quiet until 08:00 = 23:00 UTC), Berlin 22:30 (quiet until 07:00 UTC
    // tomorrow), New York 16:30 and the unknown zone (UTC) 21:30 are awake.
    const start = Date.parse('2030-01-15T21:30:00Z');
    const sent = await t.inst.cli(['send', '--all', '--title', 'Evening news', '--yes', '--json'], at(start));
    expect(sent.code).toBe(1); // deliveries still pending
    const summary = JSON.parse(sent.stdout) as Shown & { stoppedReason: string };
    expect(summary.counts).toMatchObject({ total: 4, sent: 2, pending: 2 });
    expect(summary.stoppedReason).toBe('2 deliveries are deferred: quiet hours; the first is due at 2030-01-15T23:00:00.000Z');
    let got = receivedBySubscription(t.svc);
    expect([got.get(tokyo!.id), got.get(berlin!.id), got.get(newYork!.id), got.get(unknown!.id)]).toEqual([undefined, undefined, 1, 1]);

    const shown = await t.inst.json<Shown>(['notifications', 'show', String(summary.id)], at(start));
    expect(shown.deferred).toEqual({ count: 2, until: '2030-01-15T23:00:00.000Z' });
    const text = await t.inst.cli(['notifications', 'show', String(summary.id)], at(start));
    expect(text.stdout).toMatch(/deferred: +2 waiting for quiet hours to end \(first at 2030-01-15T23:00:00\.000Z\)/);

    // Before Tokyo's morning nothing is due; just after it, Tokyo gets it; Berlin at 07:00 UTC.
    const early = JSON.parse((await t.inst.cli(['dispatch', '--json'], at(Date.parse('2030-01-15T22:45:00Z')))).stdout) as { delivered: unknown[] };
    expect(early.delivered).toEqual([]);
    expect((await t.inst.cli(['dispatch'], at(Date.parse('2030-01-15T23:00:30Z')))).code).toBe(1); // Berlin still pending
    got = receivedBySubscription(t.svc);
    expect([got.get(tokyo!.id), got.get(berlin!.id)]).toEqual([1, undefined]);
    const morning = await t.inst.cli(['dispatch'], at(Date.parse('2030-01-16T07:00:30Z')));
    expect(morning.code, morning.stderr).toBe(0);
    got = receivedBySubscription(t.svc);
    expect([got.get(tokyo!.id), got.get(berlin!.id), got.get(newYork!.id), got.get(unknown!.id)]).toEqual([1, 1, 1, 1]);

    const done = await t.inst.json<Shown>(['notifications', 'show', String(summary.id)], at(Date.parse('2030-01-16T07:01:00Z')));
    expect(done).toMatchObject({ status: 'sent', counts: { total: 4, sent: 4, pending: 0 }, deferred: { count: 0, until: null } });
    // Each at its own local morning (ledger times are the simulated clock's).
    const times = sentAt(summary.id);
    const local = (id: number, zone: string) => new Date(times[id]!).toLocaleString('en-GB', { timeZone: zone, hour: '2-digit', minute: '2-digit', hour12: false });
    expect(local(1, 'Asia/Tokyo')).toBe('08:00');
    expect(local(2, 'Europe/Berlin')).toBe('08:00');
  });

  it('--urgent is never held, and goes with Urgency high', async () => {
    t.config({ quietHours: { start: '22:00', end: '08:00' } });
    await travellers();
    const urgent = await t.inst.json<Shown>(['send', '--all', '--title', 'Flood warning', '--urgent', '--yes'], at(Date.parse('2030-01-15T21:30:00Z')));
    expect(urgent.counts).toMatchObject({ total: 4, sent: 4, pending: 0 });
    expect(t.svc.received.map((p) => p.headers.urgency)).toEqual(['high', 'high', 'high', 'high']);
  });
});

describe('categories update NAME --quiet-hours', () => {
  it('a category\'s own window wins over the config\'s for notifications to it', async () => {
    t.config({ quietHours: { start: '22:00', end: '08:00' } });
    await travellers();
    expect((await t.inst.cli(['categories', 'add', 'lunch'])).code).toBe(0);
    expect((await t.inst.cli(['categories', 'assign', 'lunch', '--subscription', '1', '2', '3', '4'])).code).toBe(0);
    const updated = await t.inst.json<{ quietHours: string }>(['categories', 'update', 'lunch', '--quiet-hours', '9:00 - 17:00']);
    expect(updated.quietHours).toBe('09:00-17:00');
    // 12:00 UTC: Berlin 13:00 and the unknown zone 12:00 are inside 09:00-17:00; Tokyo 21:00 and New York 07:00 are not
    // (the config's 22:00-08:00 would have held New York instead).
    const sent = await t.inst.cli(['send', '--category', 'lunch', '--title', 'Menu', '--yes', '--json'], at(Date.parse('2030-01-15T12:00:00Z')));
    const summary = JSON.parse(sent.stdout) as Shown;
    expect(summary.counts).toMatchObject({ sent: 2, pending: 2 });
    expect(Object.keys(sentAt(summary.id)).map(Number).sort()).toEqual([1, 3]);
  });

  it('refuses bad ranges with exit 2, naming the flag or key, and writes nothing', async () => {
    expect((await t.inst.cli(['categories', 'add', 'news', '--description', 'Headlines'])).code).toBe(0);
    for (const [range, message] of [
      ['25:00-08:00', /--quiet-hours: "25:00-08:00" is not a range of times/],
      ['22:00-22:00', /--quiet-hours: "22:00-22:00": start and end are the same time/],
      ['evenings', /--quiet-hours: "evenings" is not a range of times; use HH:MM-HH:MM/],
    ] as const) {
      const result = await t.inst.cli(['categories', 'update', 'news', '--description', 'changed', '--quiet-hours', range]);
      expect(result.code, result.stderr).toBe(2);
      expect(result.stderr).toMatch(message);
    }
    expect(await t.inst.json<{ quietHours: string | null; description: string }>(['categories', 'show', 'news'])).toMatchObject({ quietHours: null, description: 'Headlines' });

    t.config({ quietHours: { start: '22', end: '08:00' } });
    const bad = await t.inst.cli(['send', '--all', '--title', 'x', '--yes']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/push\.quietHours: "22-08:00" is not a range of times/);
    expect(t.inst.query('SELECT id FROM notifications')).toEqual([]);
  });
});
