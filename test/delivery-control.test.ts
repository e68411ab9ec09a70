/**
 * Delivery control end to end, through the built CLI (and the admin API) against the push-service
 * stand-in, on simulated instants (PUSHCTL_NOW): a category's quiet hours turned off ("none") and
 * back to the config's ("default"), the admin API's category cap and quiet hours, bad values of
 * every kind refused (exit 2 / HTTP 400 with the field) with nothing written.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ServiceSubscription } from './support/push-service.js';
import { startPushService, type PushService } from './support/push-service.js';
import { receivedBySubscription, simulatedAt as at, standInPerFile, type NotificationJson } from './support/scheduling.js';
import { call, serveConfig, startServe, type ServeHandle } from './support/serve.js';

const t = standInPerFile('pushctl-control-');

/** Four subscribers, in Tokyo, Berlin, New York and an unknown zone, in that order. */
async function travellers(): Promise<ServiceSubscription[]> {
  const zones = ['Asia/Tokyo', 'Europe/Berlin', 'America/New_York', null];
  const subs = zones.map(() => t.svc.createSubscription(t.inst.publicKey));
  const file = path.join(t.inst.dir, 'travellers.ndjson');
  fs.writeFileSync(file, subs.map((s, i) => JSON.stringify({ endpoint: s.endpoint, keys: s.keys, timeZone: zones[i] })).join('\n') + '\n');
  const imported = await t.inst.cli(['subscriptions', 'import', file]);
  expect(imported.code, imported.stderr).toBe(0);
  return subs;
}

const count = (sql: string) => (t.inst.query<{ n: number }>(`SELECT count(*) AS n FROM (${sql})`)[0]!).n;

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

export { receivedBySubscription };
