/**
 * Frequency caps through the built CLI against the push-service stand-in, on a simulated calendar
 * (PUSHCTL_NOW): `push.frequencyCap` and per-category caps skip subscribers who had enough in the
 * rolling window (ledger state `capped`, counted, not failed, not pending); `--urgent` bypasses
 * them and goes with Urgency high; bad caps are refused and write nothing.
 */
import { describe, expect, it } from 'vitest';
import { call, serveConfig, startServe } from './support/serve.js';
import { receivedBySubscription, simulatedAt, standInPerFile, type NotificationJson } from './support/scheduling.js';

const HOUR = 3_600_000;
const T0 = Date.parse('2030-02-01T08:00:00Z');
const at = simulatedAt;

const t = standInPerFile('pushctl-caps-');

interface Sent extends NotificationJson {
  urgent: boolean;
  counts: NotificationJson['counts'] & { capped: number };
}


async function send(args: string[], now: number): Promise<Sent> {
  const result = await t.inst.cli(['send', ...args, '--yes', '--json'], at(now));
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as Sent;
}

const states = (id: number) =>
  Object.fromEntries(t.inst.query<{ state: string; n: number }>('SELECT state, count(*) AS n FROM deliveries WHERE notification_id = ? GROUP BY state', id).map((r) => [r.state, r.n]));

describe('push.frequencyCap', () => {
  it('skips subscribers who reached it in the rolling window, records capped, and --urgent goes through with Urgency high', async () => {
    t.config({ frequencyCap: '2/day' });
    const [a, b, c] = await t.inst.subscribe(3);
    await send(['--subscription', '1', '--title', 'A1'], T0);
    await send(['--subscription', '1', '--title', 'A2'], T0 + HOUR);

    // A has had 2 today: capped; B and C get it.
    const third = await send(['--all', '--title', 'Everyone'], T0 + 2 * HOUR);
    expect(third.counts).toEqual({ total: 3, sent: 2, gone: 0, failed: 0, pending: 0, capped: 1 });
    expect(third.status).toBe('sent');
    expect(states(third.id)).toEqual({ sent: 2, capped: 1 });
    const got = receivedBySubscription(t.svc);
    expect([got.get(a!.id), got.get(b!.id), got.get(c!.id)]).toEqual([2, 1, 1]);
    const shown = await t.inst.cli(['notifications', 'show', String(third.id)], at(T0 + 2 * HOUR));
    expect(shown.stdout).toMatch(/counts: +3 recipients: 2 sent, 0 gone, 0 failed, 0 pending, 1 capped/);
    // Still right once the send is finished and its counts come from the notification row.
    const listed = await t.inst.json<Sent[]>(['notifications', 'list'], at(T0 + 2 * HOUR));
    expect(listed.find((n) => n.id === third.id)!.counts).toEqual(third.counts);

    // --urgent: nobody is capped, and it goes out with Urgency high.
    const before = t.svc.received.length;
    const urgent = await send(['--all', '--title', 'Storm warning', '--urgent'], T0 + 3 * HOUR);
    expect(urgent.counts).toMatchObject({ total: 3, sent: 3, capped: 0 });
    expect(urgent.urgent).toBe(true);
    expect(t.svc.received.slice(before).map((p) => p.headers.urgency)).toEqual(['high', 'high', 'high']);

    // Scheduled urgent notifications keep the flag until dispatch sends them.
    const scheduled = await t.inst.json<Sent>(['schedule', '--all', '--title', 'Later, urgent', '--urgent', '--at', '2030-02-01T12:30:00Z'], at(T0 + 3 * HOUR));
    const dispatched = await t.inst.cli(['dispatch', '--json'], at(T0 + 5 * HOUR));
    expect(dispatched.code, dispatched.stderr).toBe(0);
    expect((await t.inst.json<Sent>(['notifications', 'show', String(scheduled.id)], at(T0 + 5 * HOUR))).counts).toMatchObject({ sent: 3, capped: 0 });

    // The window rolls: at T0+28h only the 12:30 one (T0+5h) is within 24 h, so everyone gets one
    // more; half an hour later they have 2 again and are capped; by T0+30h the 12:30 one has left.
    expect((await send(['--all', '--title', 'Next day'], T0 + 28 * HOUR)).counts).toMatchObject({ sent: 3, capped: 0 });
    expect((await send(['--all', '--title', 'Too many'], T0 + 28.5 * HOUR)).counts).toMatchObject({ sent: 0, capped: 3 });
    expect((await send(['--all', '--title', 'Later'], T0 + 30 * HOUR)).counts).toMatchObject({ sent: 3, capped: 0 });
  });
});

describe('categories update NAME --cap', () => {
  it('counts only that category\'s notifications; "none" lifts it', async () => {
    await t.inst.subscribe(2);
    for (const name of ['news', 'offers']) expect((await t.inst.cli(['categories', 'add', name])).code).toBe(0);
    expect((await t.inst.cli(['categories', 'assign', 'news', '--subscription', '1', '2'])).code).toBe(0);
    expect((await t.inst.cli(['categories', 'assign', 'offers', '--subscription', '1'])).code).toBe(0);
    const capped = await t.inst.json<{ cap: string | null }>(['categories', 'update', 'news', '--cap', '1/day']);
    expect(capped.cap).toBe('1/day');
    expect((await t.inst.cli(['categories', 'show', 'news'])).stdout).toMatch(/^cap: +1\/day$/m);

    expect((await send(['--category', 'news', '--title', 'News 1'], T0)).counts).toMatchObject({ sent: 2, capped: 0 });
    expect((await send(['--category', 'offers', '--title', 'Offer'], T0 + HOUR)).counts).toMatchObject({ sent: 1, capped: 0 });
    const news2 = await send(['--category', 'news', '--title', 'News 2'], T0 + 2 * HOUR);
    expect(news2.counts).toMatchObject({ total: 2, sent: 0, capped: 2 });
    // Not a category notification: the news cap does not apply (and there is no global cap).
    expect((await send(['--all', '--title', 'To all'], T0 + 3 * HOUR)).counts).toMatchObject({ sent: 2, capped: 0 });

    const lifted = await t.inst.json<{ cap: string | null }>(['categories', 'update', 'news', '--cap', 'none']);
    expect(lifted.cap).toBeNull();
    expect((await send(['--category', 'news', '--title', 'News 3'], T0 + 4 * HOUR)).counts).toMatchObject({ sent: 2, capped: 0 });
  });
});

describe('bad caps', () => {
  it('are refused with exit 2 and a clear message, writing nothing', async () => {
    await t.inst.subscribe(1);
    expect((await t.inst.cli(['categories', 'add', 'news', '--description', 'Headlines'])).code).toBe(0);
    for (const [cap, message] of [
      ['3/fortnight', /--cap: "3\/fortnight": "fortnight" is not a period/],
      ['0/day', /--cap: "0\/day": the number must be from 1 to 10000/],
      ['3', /--cap: "3" is not a frequency cap; use N\/period/],
      ['3/10s', /--cap: "3\/10s": the period must be from 1 minute to 366 days/],
    ] as const) {
      const result = await t.inst.cli(['categories', 'update', 'news', '--description', 'changed', '--cap', cap]);
      expect(result.code, result.stderr).toBe(2);
      expect(result.stderr).toMatch(message);
    }
    const news = await t.inst.json<{ cap: string | null; description: string }>(['categories', 'show', 'news']);
    expect(news).toMatchObject({ cap: null, description: 'Headlines' });

    t.config({ frequencyCap: 'lots' });
    const badConfig = await t.inst.cli(['send', '--all', '--title', 'x', '--yes']);
    expect(badConfig.code).toBe(2);
    expect(badConfig.stderr).toMatch(/push\.frequencyCap: "lots" is not a frequency cap/);
    t.config({});

    const contradiction = await t.inst.cli(['send', '--all', '--title', 'x', '--urgent', '--urgency', 'low', '--yes']);
    expect(contradiction.code).toBe(2);
    expect(contradiction.stderr).toMatch(/--urgent: an urgent notification goes with --urgency high, not "low"/);
    expect(t.inst.query('SELECT id FROM notifications')).toEqual([]);
    expect(t.svc.requestCount).toBe(0);
  });
});

describe('admin API: urgent', () => {
  it('takes "urgent": true, and answers 400 for a non-boolean or a contradicting urgency, creating nothing', async () => {
    const serve = await startServe({ dir: t.inst.dir, config: serveConfig({ push: { endpointOrigins: [t.svc.origin], frequencyCap: '1/day' } }) });
    try {
      for (const [body, field, message] of [
        [{ all: true, title: 'x', urgent: 'yes' }, 'urgent', /urgent: must be true or false/],
        [{ all: true, title: 'x', urgent: true, urgency: 'low' }, 'urgent', /urgency high, not "low"/],
      ] as const) {
        const answer = await call(serve.url, 'POST', '/v1/pushnotification', { admin: true, json: body });
        expect(answer.status).toBe(400);
        expect(answer.json.error.field).toBe(field);
        expect(answer.json.error.message).toMatch(message);
      }
      expect(t.inst.query('SELECT id FROM notifications')).toEqual([]);
      const created = await call(serve.url, 'POST', '/v1/pushnotification', { admin: true, json: { all: true, title: 'Later', urgent: true, send_at: '2031-01-01T00:00:00Z' } });
      expect(created.status).toBe(201);
      expect(t.inst.query<{ urgent: number; urgency: string }>('SELECT urgent, urgency FROM notifications')).toEqual([{ urgent: 1, urgency: 'high' }]);
    } finally {
      await serve.stop();
    }
  });
});
