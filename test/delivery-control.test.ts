/**
 * Delivery control end to end, through the built CLI (and the admin API) against the push-service
 * stand-in, on simulated instants (PUSHCTL_NOW): local-time sends reaching Tokyo, Berlin, New York
 * and a subscriber without a zone each at its own 09:00 (one-off, and a weekly rule across the DST
 * changes of 2026), stale-key marking, a category's quiet hours turned off ("none") and
 * back to the config's ("default"), the admin API's category cap and quiet hours, bad values of
 * every kind refused (exit 2 / HTTP 400 with the field) with nothing written.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPushService, type PushService } from './support/push-service.js';
import { installation, receivedBySubscription, importTravellers, simulatedAt as at, standInPerFile, type NotificationJson } from './support/scheduling.js';
import { call, serveConfig, startServe, type ServeHandle } from './support/serve.js';

const t = standInPerFile('pushctl-control-');

/** Four subscribers, in Tokyo, Berlin, New York and an unknown zone, in that order. */
const travellers = () => importTravellers(t);

const count = (sql: string) => Number(t.inst.query<{ n: number }>(`SELECT count(*) AS n FROM (${sql}) AS q`)[0]!.n);

interface Shown extends NotificationJson {
  localTime: string | null;
  dueTimes: { dueAt: string | null; deliveries: number; zones: (string | null)[] }[];
}

/** subscription id -> when its delivery of notification `id` was sent (ms; simulated clock). */
const sentTimes = (id: number) =>
  new Map(t.inst.query<{ subscription_id: number; updated_at: number }>("SELECT subscription_id, updated_at FROM deliveries WHERE notification_id = ? AND state = 'sent'", id).map((r) => [r.subscription_id, r.updated_at]));
const localClock = (ms: number, zone: string) => new Date(ms).toLocaleString('sv-SE', { timeZone: zone }).slice(0, 16);

describe('schedule --local-time', () => {
  it('reaches each subscriber at 09:00 in their own zone: four dispatch runs at four instants, the one without a zone in --tz', async () => {
    await travellers();
    const scheduled = await t.inst.json<Shown>(['schedule', '--all', '--title', 'Good morning', '--local-time', '2030-01-14 09:00', '--tz', 'America/Los_Angeles'], at(Date.parse('2030-01-10T12:00:00Z')));
    expect(scheduled).toMatchObject({ status: 'scheduled', localTime: '2030-01-14T09:00', sendAt: '2030-01-13T19:00:00.000Z' }); // UTC+14 first
    const runs = [
      // [instant, who has it afterwards (subscription ids): Tokyo 1, Berlin 2, New York 3, no zone (Los Angeles) 4]
      ['2030-01-13T23:50:00Z', []], // nobody's 09:00 yet: it starts (fixes its recipients) and every zone waits
      ['2030-01-14T00:00:30Z', [1]], // Tokyo 09:00 = 00:00Z
      ['2030-01-14T08:00:30Z', [1, 2]], // Berlin 09:00 CET = 08:00Z
      ['2030-01-14T14:00:30Z', [1, 2, 3]], // New York 09:00 EST = 14:00Z
      ['2030-01-14T17:00:30Z', [1, 2, 3, 4]], // Los Angeles 09:00 PST = 17:00Z
    ] as const;
    for (const [instant, expected] of runs) {
      const run = await t.inst.cli(['dispatch'], at(Date.parse(instant)));
      expect(run.code, `${instant}: ${run.stdout}${run.stderr}`).toBe(0); // waiting for later zones is no failure
      expect([...sentTimes(scheduled.id).keys()].sort(), instant).toEqual(expected);
      if (expected.length === 1) {
        expect(run.stdout).toMatch(/3 deliveries wait for the local time in their zones \(notification \d+\), the next due 2030-01-14T08:00:00\.000Z/);
        const shown = await t.inst.json<Shown>(['notifications', 'show', String(scheduled.id)], at(Date.parse(instant)));
        expect(shown.dueTimes, instant).toEqual([
          { dueAt: '2030-01-14T08:00:00.000Z', deliveries: 1, zones: ['Europe/Berlin'] },
          { dueAt: '2030-01-14T14:00:00.000Z', deliveries: 1, zones: ['America/New_York'] },
          { dueAt: '2030-01-14T17:00:00.000Z', deliveries: 1, zones: [null] },
        ]);
        const text = await t.inst.cli(['notifications', 'show', String(scheduled.id)], at(Date.parse(instant)));
        expect(text.stdout).toMatch(/local: +2030-01-14T09:00 in each subscriber's zone \(America\/Los_Angeles for those without one\)/);
        expect(text.stdout).toMatch(/due: +1 at 2030-01-14T08:00:00\.000Z \(Europe\/Berlin\)\n +1 at 2030-01-14T14:00:00\.000Z \(America\/New_York\)\n +1 at 2030-01-14T17:00:00\.000Z \(without a zone\)/);
      }
    }
    const times = sentTimes(scheduled.id);
    expect([localClock(times.get(1)!, 'Asia/Tokyo'), localClock(times.get(2)!, 'Europe/Berlin'), localClock(times.get(3)!, 'America/New_York'), localClock(times.get(4)!, 'America/Los_Angeles')])
      .toEqual(['2030-01-14 09:00', '2030-01-14 09:00', '2030-01-14 09:00', '2030-01-14 09:00']);
    expect((await t.inst.json<Shown>(['notifications', 'show', String(scheduled.id)])).status).toBe('sent');
    expect(receivedBySubscription(t.svc).size).toBe(4);
  }, 120_000);

  it('--cron "0 9 * * 1" --local-time: 09:00 each Monday in each zone, through the spring DST changes of New York (8 March) and Berlin (29 March)', async () => {
    t.config({ defaultTimeZone: 'UTC' });
    await travellers();
    const rule = await t.inst.json<Shown & { cron: string }>(['schedule', '--all', '--title', 'Weekly', '--cron', '0 9 * * 1', '--local-time'], at(Date.parse('2026-03-04T12:00:00Z')));
    expect(rule.cron).toBe('0 9 * * 1');
    const weeks = [
      // Monday 2 March: New York still on EST (UTC-5), Berlin CET (UTC+1).
      { runs: ['2026-03-02T00:00:30Z', '2026-03-02T08:00:30Z', '2026-03-02T09:00:30Z', '2026-03-02T14:00:30Z'], skip: true },
      // Monday 9 March, the day after New York moved to EDT (UTC-4): its 09:00 is 13:00Z.
      { runs: ['2026-03-09T00:00:30Z', '2026-03-09T08:00:30Z', '2026-03-09T09:00:30Z', '2026-03-09T13:00:30Z'], skip: false },
      // Monday 30 March, the day after Berlin moved to CEST (UTC+2): its 09:00 is 07:00Z.
      { runs: ['2026-03-30T00:00:30Z', '2026-03-30T07:00:30Z', '2026-03-30T09:00:30Z', '2026-03-30T13:00:30Z'], skip: false },
    ];
    for (const week of weeks.filter((w) => !w.skip)) {
      let occurrence: number | undefined;
      for (const [i, instant] of week.runs.entries()) {
        const run = await t.inst.cli(['dispatch', '--json'], at(Date.parse(instant)));
        expect(run.code, `${instant}: ${run.stdout}${run.stderr}`).toBe(0);
        const ids = t.inst.query<{ id: number }>("SELECT id FROM notifications WHERE parent_id = ? AND status IN ('sending', 'sent') ORDER BY id DESC LIMIT 1", rule.id);
        occurrence = ids[0]!.id;
        // Tokyo first, then Berlin, then the zone-less subscriber (UTC), then New York: one more each run.
        expect(sentTimes(occurrence).size, instant).toBe(i + 1);
      }
      const times = sentTimes(occurrence!);
      const day = week.runs[0]!.slice(0, 10);
      expect([localClock(times.get(1)!, 'Asia/Tokyo'), localClock(times.get(2)!, 'Europe/Berlin'), localClock(times.get(3)!, 'America/New_York'), localClock(times.get(4)!, 'UTC')])
        .toEqual([`${day} 09:00`, `${day} 09:00`, `${day} 09:00`, `${day} 09:00`]);
    }
    expect(receivedBySubscription(t.svc).size).toBe(4);
    expect(t.svc.received).toHaveLength(8);
  });

  it('the admin API takes send_at_local (and rate), and GET shows how many are due when', async () => {
    await travellers();
    const serve = await startServe({ config: serveConfig({ push: { endpointOrigins: [t.svc.origin] } }), dir: t.inst.dir, env: { ...t.inst.env, ...at(Date.parse('2030-01-10T12:00:00Z')) } });
    try {
      const created = await call(serve.url, 'POST', '/v1/pushnotification', { admin: true, json: { all: true, title: 'Hi', send_at_local: '2030-01-14 09:00', tz: 'Europe/Berlin', rate: '10/s' } });
      expect(created.status, created.text).toBe(201);
      const shown = await call(serve.url, 'GET', `/v1/pushnotification/${created.json.id}`, { admin: true });
      expect(shown.json).toMatchObject({ status: 'scheduled', local_time: '2030-01-14T09:00', rate: '10/s', send_at: '2030-01-13T19:00:00.000Z', tz: 'Europe/Berlin', due_times: [] });
      for (const [json, field] of [
        [{ all: true, title: 'x', send_at_local: '14.01.2030 09:00' }, 'send_at_local'],
        [{ all: true, title: 'x', send_at_local: '2030-01-14 09:00', send_at: '2030-01-14T09:00:00Z' }, 'send_at_local'],
        [{ all: true, title: 'x', send_at_local: 9 }, 'send_at_local'],
        [{ all: true, title: 'x', rate: '5/fortnight' }, 'rate'],
        [{ all: true, title: 'x', send_at_local: '2030-01-14 09:00', tz: 'Mars/Base' }, 'tz'],
      ] as const) {
        const refused = await call(serve.url, 'POST', '/v1/pushnotification', { admin: true, json });
        expect(refused.status, refused.text).toBe(400);
        expect(refused.json.error.field).toBe(field);
      }
      const push = await call(serve.url, 'POST', '/push', { admin: true, json: { title: 'Local', send_at_local: '2030-01-15 09:00' } });
      expect(push.status, push.text).toBe(201);
      expect(push.json).toMatchObject({ status: 'scheduled', send_at_local: '2030-01-15T09:00' });
      expect(t.inst.query('SELECT count(*) AS n FROM notifications')).toEqual([{ n: 2 }]);
    } finally {
      await serve.stop();
    }
  });
});

interface SubscriptionJson {
  id: number;
  endpoint: string;
  staleKey: boolean;
  staleKeySince: string | null;
}

/** A P-256 public key (base64url, uncompressed): the applicationServerKey of some other server. */
const otherKey = () => crypto.createECDH('prime256v1').generateKeys().toString('base64url');

describe('stale keys', () => {
  it('Mozilla\'s VapidPkHashMismatch marks the subscription stale-key: listed by --stale-key, left out of broadcasts, cleared by re-subscribing', async () => {
    const svc = await startPushService({ keyMismatch: 'mozilla' });
    const inst = await installation(svc, 'pushctl-stale-');
    try {
      const good = [1, 2, 3].map(() => svc.createSubscription(inst.publicKey));
      const foreign = svc.createSubscription(otherKey()); // made under another server's key
      const file = path.join(inst.dir, 'subs.ndjson');
      fs.writeFileSync(file, [...good, foreign].map((s) => JSON.stringify({ endpoint: s.endpoint, keys: s.keys })).join('\n') + '\n');
      expect((await inst.cli(['subscriptions', 'import', file])).code).toBe(0);

      const first = await inst.cli(['send', '--all', '--title', 'One', '--yes', '--json']);
      expect(first.code).toBe(1);
      expect((JSON.parse(first.stdout) as NotificationJson).counts).toMatchObject({ total: 4, sent: 3, failed: 1 });
      expect(svc.answers.find((a) => a.subscriptionId === foreign.id)).toMatchObject({ status: 403, reason: 'VapidPkHashMismatch' });
      const stale = await inst.json<SubscriptionJson[]>(['subscriptions', 'list', '--stale-key']);
      expect(stale.map((s) => [s.id, s.endpoint, s.staleKey])).toEqual([[4, foreign.endpoint, true]]);
      expect(stale[0]!.staleKeySince).toEqual(expect.any(String));
      expect((await inst.json<SubscriptionJson[]>(['subscriptions', 'list'])).map((s) => s.staleKey)).toEqual([false, false, false, true]);
      expect((await inst.cli(['subscriptions', 'list', '--stale-key'])).stdout).toMatch(/1 \(stale key\)/);
      expect((await inst.cli(['subscriptions', 'show', '4'])).stdout).toMatch(/stale key: +since .* left out of broadcasts/);

      // The next broadcast leaves it out (and succeeds).
      const second = await inst.json<NotificationJson>(['send', '--all', '--title', 'Two', '--yes']);
      expect(second.counts).toMatchObject({ total: 3, sent: 3 });
      expect(svc.answers.filter((a) => a.subscriptionId === foreign.id)).toHaveLength(1);

      // The browser subscribes again (new key material for the same endpoint): no longer stale.
      const again = path.join(inst.dir, 'again.ndjson');
      fs.writeFileSync(again, JSON.stringify({ endpoint: foreign.endpoint, keys: svc.createSubscription(inst.publicKey).keys }) + '\n');
      expect((await inst.cli(['subscriptions', 'import', again])).code).toBe(0);
      expect(await inst.json<SubscriptionJson[]>(['subscriptions', 'list', '--stale-key'])).toEqual([]);
    } finally {
      inst.cleanup();
      await svc.close();
    }
  });

  it('a 403 for one endpoint while the same push service took the others marks it; a later successful push clears it; 403s from a service that took nothing mark no one', async () => {
    const subs = await t.inst.subscribe(4);
    t.svc.behave({ status: 403, subscriptions: [subs[1]!.id], first: 1 });
    const sent = await t.inst.cli(['send', '--all', '--title', 'One', '--yes', '--json']);
    expect((JSON.parse(sent.stdout) as NotificationJson).counts).toMatchObject({ sent: 3, failed: 1 });
    expect((await t.inst.json<SubscriptionJson[]>(['subscriptions', 'list', '--stale-key'])).map((s) => s.id)).toEqual([2]);
    // The rule is spent: a push naming it now succeeds, and that clears the mark.
    expect((await t.inst.json<NotificationJson>(['send', '--subscription', '2', '--title', 'Two', '--yes'])).counts).toMatchObject({ sent: 1 });
    expect(await t.inst.json<SubscriptionJson[]>(['subscriptions', 'list', '--stale-key'])).toEqual([]);

    // Every push refused: the operator's key problem, not these subscribers'.
    t.svc.behave({ status: 403 });
    const refused = await t.inst.cli(['send', '--all', '--title', 'Three', '--yes', '--json']);
    expect(refused.code).toBe(1);
    expect(await t.inst.json<SubscriptionJson[]>(['subscriptions', 'list', '--stale-key'])).toEqual([]);
  });
});

describe('subscriptions prune --inactive', () => {
  it('counts a shown or clicked notification as activity, not only a successful push', async () => {
    const day = 86_400_000;
    const t0 = Date.parse('2030-01-01T12:00:00Z');
    const subs = await t.inst.subscribe(3);
    const sent = await t.inst.cli(['send', '--all', '--title', 'Hello', '--yes'], at(t0));
    expect(sent.code, sent.stderr).toBe(0);
    // The browsers of subscription 1 and 2 report (through pushctl's own endpoint) seeing and clicking it 50 days later.
    const tokenOf = (id: string) => (JSON.parse(t.svc.received.find((p) => p.subscriptionId === id)!.payload!) as { track: string }).track;
    const serve = await startServe({ config: serveConfig({ push: { endpointOrigins: [t.svc.origin] } }), dir: t.inst.dir, env: { ...t.inst.env, ...at(t0 + 50 * day) } });
    try {
      for (const [sub, event] of [[subs[0]!, 'shown'], [subs[1]!, 'clicked'], [subs[2]!, 'dismissed']] as const) {
        expect((await call(serve.url, 'POST', '/events', { json: { token: tokenOf(sub.id), event } })).status).toBe(204);
      }
    } finally {
      await serve.stop();
    }
    // 70 days on: no successful push for 60 days, but 1 and 2 engaged 20 days ago; a dismissal is no engagement.
    const dry = await t.inst.json<{ matched: number; removed: number }>(['subscriptions', 'prune', '--inactive', '60d', '--dry-run'], at(t0 + 70 * day));
    expect(dry).toMatchObject({ matched: 1, removed: 0 });
    expect((await t.inst.cli(['subscriptions', 'prune', '--inactive', '60d'], at(t0 + 70 * day))).code).toBe(0);
    expect(t.inst.query<{ id: number }>('SELECT id FROM subscriptions ORDER BY id').map((r) => r.id)).toEqual([1, 2]);
  });
});

describe('categories update NAME --quiet-hours none|default', () => {
  it('"none" turns quiet hours off for the category, whatever the config says; "default" brings the config\'s back', async () => {
    t.config({ quietHours: { start: '22:00', end: '08:00' } });
    await travellers();
    expect((await t.inst.cli(['categories', 'add', 'alerts'])).code).toBe(0);
    expect((await t.inst.cli(['categories', 'assign', 'alerts', '--subscription', '1', '2', '3', '4'])).code).toBe(0);
    const off = await t.inst.json<{ quietHours: string | null }>(['categories', 'update', 'alerts', '--quiet-hours', 'none']);
    expect(off.quietHours).toBe('none');
    expect((await t.inst.cli(['categories', 'show', 'alerts'])).stdout).toMatch(/quiet hours: none \(not even the config's\)/);
    // 21:30 UTC: Tokyo 06:30 and Berlin 22:30 are inside the config's 22:00-08:00, yet all four get it.
    const night = Date.parse('2030-01-15T21:30:00Z');
    const sent = await t.inst.json<NotificationJson>(['send', '--category', 'alerts', '--title', 'Now', '--yes'], at(night));
    expect(sent.counts).toMatchObject({ total: 4, sent: 4, pending: 0 });

    const back = await t.inst.json<{ quietHours: string | null }>(['categories', 'update', 'alerts', '--quiet-hours', 'default']);
    expect(back.quietHours).toBeNull();
    const held = await t.inst.cli(['send', '--category', 'alerts', '--title', 'Later', '--yes', '--json'], at(night));
    expect((JSON.parse(held.stdout) as NotificationJson).counts).toMatchObject({ total: 4, sent: 2, pending: 2 });
  });
});

describe('bad values write nothing', () => {
  it('the CLI: exit 2 naming the flag, for zones, languages, caps, quiet hours, rates and local times', async () => {
    await travellers();
    expect((await t.inst.cli(['categories', 'add', 'news', '--description', 'Headlines'])).code).toBe(0);
    const cases: [string[], RegExp][] = [
      [['subscriptions', 'update', '1', '--time-zone', 'Mars/Olympus'], /--time-zone: "Mars\/Olympus" is not a known IANA time zone/],
      [['subscriptions', 'update', '1', '--language', 'not a tag!'], /--language/],
      [['categories', 'update', 'news', '--description', 'x', '--cap', '3/fortnight'], /--cap: "3\/fortnight"/],
      [['categories', 'update', 'news', '--description', 'x', '--cap', '0/day'], /--cap: "0\/day": the number must be from 1/],
      [['categories', 'update', 'news', '--description', 'x', '--quiet-hours', '22:00-22:00'], /--quiet-hours: "22:00-22:00": start and end are the same time/],
      [['categories', 'update', 'news', '--description', 'x', '--quiet-hours', ''], /--quiet-hours: is empty/],
      [['send', '--all', '--title', 'x', '--yes', '--rate', '10/fortnight'], /--rate: "10\/fortnight" is not a rate; use N\/s, N\/min or N\/h/],
      [['send', '--all', '--title', 'x', '--yes', '--rate', '0/s'], /--rate: "0\/s": the number must be from 1/],
      [['schedule', '--all', '--title', 'x', '--local-time', '2030-02-30 09:00'], /--local-time: "2030-02-30 09:00" is not a valid date and time/],
      [['schedule', '--all', '--title', 'x', '--local-time', '2030-01-20T09:00+01:00'], /--local-time: .*\(no offset: each subscriber's own zone applies\)/],
      [['schedule', '--all', '--title', 'x', '--local-time', '2030-01-20 09:00', '--tz', 'Nowhere/City'], /--tz: "Nowhere\/City" is not a time zone/],
      [['schedule', '--all', '--title', 'x', '--local-time', '2030-01-20 09:00', '--at', '2030-01-20T09:00Z'], /--local-time/],
      [['schedule', '--all', '--title', 'x', '--local-time', '2020-01-20 09:00'], /2020-01-20T09:00 has passed in every subscriber's zone/],
    ];
    for (const [args, message] of cases) {
      const result = await t.inst.cli(args, at(Date.parse('2030-01-15T12:00:00Z')));
      expect(result.code, `${args.join(' ')}\n${result.stderr}`).toBe(2);
      expect(result.stderr).toMatch(message);
      expect(result.stderr).not.toMatch(/\n\s+at /); // no stack trace
    }
    expect(count('SELECT id FROM notifications')).toBe(0);
    expect(t.inst.query('SELECT time_zone, language FROM subscriptions WHERE id = 1')).toEqual([{ time_zone: 'Asia/Tokyo', language: null }]);
    expect(t.inst.query('SELECT description, frequency_cap, quiet_hours FROM categories')).toEqual([{ description: 'Headlines', frequency_cap: null, quiet_hours: null }]);
  });

  it('the config: push.defaultRate and push.defaultTimeZone are checked when loaded', async () => {
    for (const [push, message] of [
      [{ defaultRate: 'fast' }, /push\.defaultRate: "fast" is not a rate/],
      [{ defaultTimeZone: 'Europe/Atlantis' }, /push\.defaultTimeZone: "Europe\/Atlantis" is not a time zone/],
    ] as const) {
      t.config(push);
      const result = await t.inst.cli(['send', '--all', '--title', 'x', '--yes']);
      expect(result.code, result.stderr).toBe(2);
      expect(result.stderr).toMatch(message);
    }
    expect(count('SELECT id FROM notifications')).toBe(0);
  });
});

describe('admin API: categories with cap and quiet hours', () => {
  let push: PushService;
  let serve: ServeHandle;

  beforeAll(async () => {
    push = await startPushService();
    serve = await startServe({ config: serveConfig({ push: { endpointOrigins: [push.origin] } }) });
  });
  afterAll(async () => {
    await serve.stop();
    await push.close();
  });

  it('POST and PUT take cap and quiet_hours (the same rules as the CLI); bad ones are 400 with the field, nothing written', async () => {
    const created = await call(serve.url, 'POST', '/v1/pushnotification/categories', { admin: true, json: { name: 'digest', cap: '1/day', quiet_hours: '21:00-9:00' } });
    expect(created.status, created.text).toBe(201);
    expect(created.json).toMatchObject({ name: 'digest', cap: '1/day', quiet_hours: '21:00-09:00' });
    const off = await call(serve.url, 'PUT', '/v1/pushnotification/categories/digest', { admin: true, json: { quiet_hours: 'none', cap: null } });
    expect(off.json).toMatchObject({ cap: null, quiet_hours: 'none' });
    const back = await call(serve.url, 'PUT', '/v1/pushnotification/categories/digest', { admin: true, json: { quiet_hours: 'default', cap: '2/week' } });
    expect(back.json).toMatchObject({ cap: '2/week', quiet_hours: null });

    for (const [method, route, json, field] of [
      ['POST', '/v1/pushnotification/categories', { name: 'bad', cap: 'lots' }, 'cap'],
      ['POST', '/v1/pushnotification/categories', { name: 'bad', quiet_hours: '25:00-01:00' }, 'quiet_hours'],
      ['POST', '/v1/pushnotification/categories', { name: 'bad', quiet_hours: 9 }, 'quiet_hours'],
      ['PUT', '/v1/pushnotification/categories/digest', { description: 'changed', cap: '5/never' }, 'cap'],
      ['PUT', '/v1/pushnotification/categories/digest', { description: 'changed', quiet_hours: '08:00-08:00' }, 'quiet_hours'],
    ] as const) {
      const response = await call(serve.url, method, route, { admin: true, json });
      expect(response.status, response.text).toBe(400);
      expect(response.json.error.field).toBe(field);
    }
    const list = await call(serve.url, 'GET', '/v1/pushnotification/categories', { admin: true });
    expect(list.json.categories).toEqual([expect.objectContaining({ name: 'digest', description: null, cap: '2/week', quiet_hours: null })]);
  });
});

