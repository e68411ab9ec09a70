/**
 * The admin API over real sockets, against a strict push-service stand-in that verifies VAPID and
 * decrypts what arrives: the token rules, a test push to everyone, notifications now / later /
 * recurring with Idempotency-Key, listing and paging, cancel-and-delete, categories, and
 * `serve --dispatch` sending a scheduled notification when it is due.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDb } from './support/cli.js';
import { startPushService, type PushService } from './support/push-service.js';
import { ADMIN_TOKEN, call, serveConfig, startServe, type ServeHandle } from './support/serve.js';

async function until<T>(what: string, check: () => Promise<T | undefined> | T | undefined, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function count(db: string, table: string): number {
  const conn = openDb(db);
  try {
    return (conn.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
  } finally {
    conn.close();
  }
}

describe('admin API', () => {
  let push: PushService;
  let serve: ServeHandle;
  let publicKey: string;
  const ids: Record<string, number> = {};

  async function subscribe(name: string, categories: string[]): Promise<string> {
    const sub = push.createSubscription(publicKey);
    const saved = await call(serve.url, 'POST', '/subscription', { json: { subscription: { endpoint: sub.endpoint, keys: sub.keys }, categories } });
    expect(saved.status).toBe(201);
    ids[name] = saved.json.id;
    return sub.id;
  }

  beforeAll(async () => {
    push = await startPushService();
    serve = await startServe({ config: serveConfig({ push: { endpointOrigins: [push.origin] } }) });
    publicKey = (await call(serve.url, 'GET', '/subscription')).json.public_key;
  });
  afterAll(async () => {
    const result = await serve.stop();
    await push.close();
    expect(result.code).toBe(0);
    expect(result.stdout + result.stderr).not.toContain(ADMIN_TOKEN);
  });

  it('needs the bearer token: 401 without it or with a wrong one, compared whole', async () => {
    for (const admin of [undefined, 'x', ADMIN_TOKEN.slice(0, -1), ADMIN_TOKEN + 'x', ADMIN_TOKEN.toUpperCase()]) {
      const response = await call(serve.url, 'GET', '/v1/pushnotification', admin === undefined ? {} : { admin });
      expect(response.status).toBe(401);
      expect(response.json.error.code).toBe('unauthorized');
      expect(response.headers.get('www-authenticate')).toBe('Bearer realm="pushctl admin"');
      expect(response.text).not.toContain(ADMIN_TOKEN);
    }
    expect((await call(serve.url, 'GET', '/v1/pushnotification', { headers: { authorization: `Basic ${ADMIN_TOKEN}` } })).status).toBe(401);
    expect((await call(serve.url, 'GET', '/v1/pushnotification', { headers: { authorization: `bearer  ${ADMIN_TOKEN}` } })).status).toBe(200);
  });

  it('manages categories: create 201, conflict 409, rename and describe by id or name, delete 204', async () => {
    const created = await call(serve.url, 'POST', '/v1/pushnotification/categories', { admin: true, json: { name: 'news', description: 'Articles' } });
    expect(created.status).toBe(201);
    expect(created.json).toMatchObject({ id: expect.any(Number), name: 'news', description: 'Articles', subscribers: 0, created_at: expect.any(String) });
    expect((await call(serve.url, 'POST', '/v1/pushnotification/categories', { admin: true, json: { name: 'news' } })).status).toBe(409);
    const temp = await call(serve.url, 'POST', '/v1/pushnotification/categories', { admin: true, json: { name: 'tmp' } });
    expect(temp.status).toBe(201);

    const renamed = await call(serve.url, 'PUT', `/v1/pushnotification/categories/${temp.json.id}`, { admin: true, json: { name: 'offers' } });
    expect(renamed.status).toBe(200);
    expect(renamed.json).toMatchObject({ id: temp.json.id, name: 'offers', description: null });
    const described = await call(serve.url, 'PUT', '/v1/pushnotification/categories/offers', { admin: true, json: { description: 'Discounts' } });
    expect(described.json).toMatchObject({ id: temp.json.id, name: 'offers', description: 'Discounts' });

    const doomed = await call(serve.url, 'POST', '/v1/pushnotification/categories', { admin: true, json: { name: 'doomed' } });
    expect((await call(serve.url, 'DELETE', '/v1/pushnotification/categories/doomed', { admin: true })).status).toBe(204);
    expect((await call(serve.url, 'DELETE', `/v1/pushnotification/categories/${doomed.json.id}`, { admin: true })).status).toBe(404);
    expect((await call(serve.url, 'PUT', '/v1/pushnotification/categories/nope', { admin: true, json: { description: 'x' } })).status).toBe(404);

    const list = await call(serve.url, 'GET', '/v1/pushnotification/categories', { admin: true });
    expect(list.json.categories.map((c: { name: string }) => c.name)).toEqual(['news', 'offers']);
    // The public list follows at once.
    expect((await call(serve.url, 'GET', '/subscription')).json.categories).toEqual([
      { name: 'news', description: 'Articles' },
      { name: 'offers', description: 'Discounts' },
    ]);
  });

  it('POST /push sends a test notification to everyone and returns the counts', async () => {
    await subscribe('alice', ['news']);
    await subscribe('bob', ['offers']);
    push.received.length = 0;
    const response = await call(serve.url, 'POST', '/push', { admin: true });
    expect(response.status).toBe(201);
    expect(response.json).toEqual({ id: expect.any(Number), status: 'sent', counts: { total: 2, sent: 2, gone: 0, failed: 0, pending: 0, capped: 0 } });
    expect(push.received.map((r) => JSON.parse(r.payload!))).toEqual([
      { track: expect.stringMatching(/^[A-Za-z0-9_-]{22}$/), title: 'pushctl test notification', body: 'If you can read this, push notifications work.' },
      { track: expect.stringMatching(/^[A-Za-z0-9_-]{22}$/), title: 'pushctl test notification', body: 'If you can read this, push notifications work.' },
    ]);
    push.received.length = 0;
    const custom = await call(serve.url, 'POST', '/push', { admin: true, json: { title: 'Hi', body: 'There', url: '/news' } });
    expect(custom.json.counts.sent).toBe(2);
    expect(JSON.parse(push.received[0]!.payload!)).toEqual({ track: expect.stringMatching(/^[A-Za-z0-9_-]{22}$/), title: 'Hi', body: 'There', url: '/news' });
  });

  it('POST /push_v1/ pushes to the subscription in the body, stored or not, and answers with the push service status', async () => {
    const sub = push.createSubscription(publicKey);
    const subscribers = count(serve.db, 'subscriptions');
    expect((await call(serve.url, 'POST', '/push_v1/', { json: { sub_token: JSON.stringify(sub) } })).status).toBe(401);
    push.received.length = 0;
    const asString = await call(serve.url, 'POST', '/push_v1/', { admin: true, json: { sub_token: JSON.stringify({ endpoint: sub.endpoint, keys: sub.keys }) } });
    expect(asString.status).toBe(200);
    expect(asString.json).toEqual({ success: true, status: 201 });
    const asObject = await call(serve.url, 'POST', '/push_v1/', { admin: true, json: { sub_token: { endpoint: sub.endpoint, expirationTime: null, keys: sub.keys }, message: 'Hello' } });
    expect(asObject.json).toEqual({ success: true, status: 201 });
    expect(push.received.map((r) => JSON.parse(r.payload!))).toEqual([{ title: 'Push Test v1' }, { title: 'Hello' }]);
    expect(count(serve.db, 'subscriptions')).toBe(subscribers);
    const history = await call(serve.url, 'GET', '/v1/pushnotification?limit=1', { admin: true });
    expect(history.json.notifications[0]).toMatchObject({ status: 'sent', target: { endpoint: sub.endpoint } });

    const bad: [unknown, string][] = [
      [{ sub_token: '{"endpoint": ' }, 'sub_token'],
      [{ sub_token: { endpoint: 'https://10.0.0.1/push/x', keys: sub.keys } }, 'endpoint'],
      [{ sub_token: JSON.stringify({ endpoint: 'https://push.evil.example/x', keys: sub.keys }) }, 'endpoint'],
      [{ message: 'no token' }, 'sub_token'],
      [{ sub_token: JSON.stringify(sub), message: 42 }, 'message'],
      [{ sub_token: JSON.stringify(sub), extra: true }, 'extra'],
    ];
    const before = push.requestCount;
    for (const [json, field] of bad) {
      const response = await call(serve.url, 'POST', '/push_v1/', { admin: true, json });
      expect(response.status, JSON.stringify(json)).toBe(400);
      expect(response.json.error.field).toBe(field);
    }
    expect(push.requestCount).toBe(before);

    push.behave({ status: 410, first: 1 });
    const refused = await call(serve.url, 'POST', '/push_v1/', { admin: true, json: { sub_token: JSON.stringify(sub) } });
    expect(refused.status).toBe(502);
    expect(refused.json.error).toMatchObject({ code: 'push_failed', status: 410, message: expect.stringContaining('the push service answered 410') });
  });

  it('POST /v1/pushnotification with no time sends now to the target; GET shows the counts', async () => {
    push.received.length = 0;
    const created = await call(serve.url, 'POST', '/v1/pushnotification', {
      admin: true,
      json: { title: 'Breaking', body: 'News', url: 'https://example.org/a', tag: 't1', data: { article: 7 }, categories: ['news'], ttl: 600, urgency: 'high', topic: 'breaking' },
    });
    expect(created.status).toBe(201);
    expect(created.json).toEqual({ id: expect.any(Number), status: 'sending' });
    const done = await until('the send to finish', async () => {
      const view = await call(serve.url, 'GET', `/v1/pushnotification/${created.json.id}`, { admin: true });
      return view.json.status === 'sending' ? undefined : view.json;
    });
    expect(done).toMatchObject({
      id: created.json.id,
      status: 'sent',
      title: 'Breaking',
      target: { categories: ['news'] },
      ttl: 600,
      urgency: 'high',
      topic: 'breaking',
      counts: { total: 1, sent: 1, gone: 0, failed: 0, pending: 0, capped: 0 },
      failures: [],
    });
    expect(done.send_at).toEqual(expect.any(String));
    expect(done.created_at).toEqual(expect.any(String));
    expect(push.received).toHaveLength(1);
    expect(JSON.parse(push.received[0]!.payload!)).toEqual({ track: expect.stringMatching(/^[A-Za-z0-9_-]{22}$/), title: 'Breaking', body: 'News', url: 'https://example.org/a', tag: 't1', data: { article: 7 } });
    expect(push.received[0]!.headers).toMatchObject({ ttl: '600', urgency: 'high', topic: 'breaking' });
  });

  it('an Idempotency-Key repeat returns the first notification and sends nothing more', async () => {
    push.received.length = 0;
    const request = { admin: true, json: { payload: { hello: 'raw' }, subscriptions: [ids.bob] }, headers: { 'idempotency-key': 'req-42' } } as const;
    const first = await call(serve.url, 'POST', '/v1/pushnotification', request);
    const second = await call(serve.url, 'POST', '/v1/pushnotification', request);
    expect(first.status).toBe(201);
    expect(second.status).toBe(201);
    expect(second.json.id).toBe(first.json.id);
    await until('the send to finish', async () => ((await call(serve.url, 'GET', `/v1/pushnotification/${first.json.id}`, { admin: true })).json.status === 'sent' ? true : undefined));
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(push.received.map((r) => r.payload)).toEqual(['{"hello":"raw"}']);
  });

  it('schedules for later (send_at) and recurring (cron + tz); lists newest first with paging; deletes', async () => {
    const later = new Date(Date.now() + 3_600_000).toISOString();
    const scheduled = await call(serve.url, 'POST', '/v1/pushnotification', { admin: true, json: { title: 'Later', all: true, send_at: later } });
    expect(scheduled.status).toBe(201);
    expect(scheduled.json).toEqual({ id: expect.any(Number), status: 'scheduled' });
    const rule = await call(serve.url, 'POST', '/v1/pushnotification', { admin: true, json: { title: 'Daily', categories: ['offers'], cron: '0 9 * * *', tz: 'Europe/Berlin' } });
    expect(rule.status).toBe(201);
    const ruleView = (await call(serve.url, 'GET', `/v1/pushnotification/${rule.json.id}`, { admin: true })).json;
    expect(ruleView).toMatchObject({ status: 'scheduled', cron: '0 9 * * *', tz: 'Europe/Berlin' });
    expect(new Date(ruleView.send_at).getTime()).toBeGreaterThan(Date.now());
    expect((await call(serve.url, 'GET', `/v1/pushnotification/${scheduled.json.id}`, { admin: true })).json.send_at).toBe(later);

    const all = await call(serve.url, 'GET', '/v1/pushnotification?limit=100', { admin: true });
    const listed = all.json.notifications.map((n: { id: number }) => n.id);
    expect(listed.slice(0, 2)).toEqual([rule.json.id, scheduled.json.id]);
    expect([...listed].sort((a: number, b: number) => b - a)).toEqual(listed);
    expect(all.json).toMatchObject({ limit: 100, offset: 0, next_offset: null });
    const page1 = await call(serve.url, 'GET', '/v1/pushnotification?limit=2', { admin: true });
    expect(page1.json.notifications.map((n: { id: number }) => n.id)).toEqual(listed.slice(0, 2));
    expect(page1.json.next_offset).toBe(2);
    const page2 = await call(serve.url, 'GET', '/v1/pushnotification?limit=2&offset=2', { admin: true });
    expect(page2.json.notifications.map((n: { id: number }) => n.id)).toEqual(listed.slice(2, 4));
    const onlyScheduled = await call(serve.url, 'GET', '/v1/pushnotification?status=scheduled', { admin: true });
    expect(onlyScheduled.json.notifications.map((n: { id: number }) => n.id)).toEqual([rule.json.id, scheduled.json.id]);
    expect(page1.json.notifications[0].counts).toEqual({ total: 0, sent: 0, gone: 0, failed: 0, pending: 0, capped: 0 });

    expect((await call(serve.url, 'DELETE', `/v1/pushnotification/${scheduled.json.id}`, { admin: true })).status).toBe(204);
    expect((await call(serve.url, 'GET', `/v1/pushnotification/${scheduled.json.id}`, { admin: true })).status).toBe(404);
    expect((await call(serve.url, 'DELETE', `/v1/pushnotification/${scheduled.json.id}`, { admin: true })).status).toBe(404);
    expect((await call(serve.url, 'DELETE', `/v1/pushnotification/${rule.json.id}`, { admin: true })).status).toBe(204);
    // A sent notification is deleted with its ledger.
    const sent = all.json.notifications.find((n: { status: string }) => n.status === 'sent');
    expect((await call(serve.url, 'DELETE', `/v1/pushnotification/${sent.id}`, { admin: true })).status).toBe(204);
    const conn = openDb(serve.db);
    const left = (conn.prepare('SELECT count(*) AS n FROM deliveries WHERE notification_id = ?').get(sent.id) as { n: number }).n;
    conn.close();
    expect(left).toBe(0);
  });

  it('DELETE of a notification being sent cancels the send in progress and removes it', async () => {
    push.behave({ status: 503, retryAfter: '1' });
    try {
      const created = await call(serve.url, 'POST', '/v1/pushnotification', { admin: true, json: { title: 'Retry me', all: true } });
      expect(created.json.status).toBe('sending');
      await until('the first attempts', () => (push.answers.some((a) => a.status === 503) ? true : undefined));
      expect((await call(serve.url, 'GET', `/v1/pushnotification/${created.json.id}`, { admin: true })).json.status).toBe('sending');
      expect((await call(serve.url, 'DELETE', `/v1/pushnotification/${created.json.id}`, { admin: true })).status).toBe(204);
      expect((await call(serve.url, 'GET', `/v1/pushnotification/${created.json.id}`, { admin: true })).status).toBe(404);
      const attempts = push.answers.length;
      await new Promise((resolve) => setTimeout(resolve, 2_500));
      // The sender saw the notification go and stopped retrying.
      expect(push.answers.length).toBe(attempts);
      expect(serve.stderr()).not.toMatch(/FOREIGN KEY|notification \d+:/);
    } finally {
      push.clearBehaviour();
    }
  });

  it('a subscription the push service forgot is pruned by the next send', async () => {
    const forgotten = await subscribe('carol', ['news']);
    push.removeSubscription(forgotten);
    const before = count(serve.db, 'subscriptions');
    const response = await call(serve.url, 'POST', '/push', { admin: true, json: { title: 'Roll call' } });
    expect(response.json.counts).toMatchObject({ gone: 1, sent: before - 1 });
    expect(count(serve.db, 'subscriptions')).toBe(before - 1);
  });
});

describe('serve --dispatch', () => {
  it('sends a scheduled notification when it is due, and stops with the server', async () => {
    const push = await startPushService();
    const serve = await startServe({ config: serveConfig({ push: { endpointOrigins: [push.origin] } }), args: ['--dispatch'] });
    try {
      expect(serve.stdout()).toMatch(/dispatcher on/);
      const publicKey = (await call(serve.url, 'GET', '/subscription')).json.public_key;
      const sub = push.createSubscription(publicKey);
      expect((await call(serve.url, 'POST', '/subscription', { json: { endpoint: sub.endpoint, keys: sub.keys } })).status).toBe(201);
      const at = new Date(Date.now() + 1_500).toISOString();
      const created = await call(serve.url, 'POST', '/v1/pushnotification', { admin: true, json: { title: 'On time', all: true, send_at: at } });
      expect(created.json.status).toBe('scheduled');
      const view = await until('the dispatcher to send it', async () => {
        const current = (await call(serve.url, 'GET', `/v1/pushnotification/${created.json.id}`, { admin: true })).json;
        return current.status === 'sent' ? current : undefined;
      });
      expect(view.counts.sent).toBe(1);
      expect(push.received.map((r) => JSON.parse(r.payload!))).toEqual([{ track: expect.stringMatching(/^[A-Za-z0-9_-]{22}$/), title: 'On time' }]);
      expect(push.received[0]!.at).toBeGreaterThanOrEqual(new Date(at).getTime());
    } finally {
      const result = await serve.stop();
      await push.close();
      expect(result.code).toBe(0);
    }
  });
});
