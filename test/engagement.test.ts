/**
 * The engagement funnel without a browser: tokens in what the push-service stand-in decrypts,
 * POST /events and the /c/ links against bad input (unknown tokens, repeats, huge and malformed
 * bodies, other methods: no 5xx, nothing counted, nothing else written), events going with
 * deleted subscriptions and notifications, push.tracking: false, `pushctl stats` and GET
 * /v1/stats; and the store's funnel numbers against a generated data set of 10,000 deliveries.
 */
import { createDecipheriv } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { closeContext, openContext, type Context } from '../src/core/context.js';
import { TABLES } from '../src/store/store.js';
import { engagementStats, funnelOf } from '../src/core/engagement.js';
import * as tracking from '../src/store/tracking.js';
import { insertNotification } from '../src/store/notifications.js';
import type { SqliteStore } from '../src/store/sqlite/store.js';
import { openDb, openDbWritable, runCli, tempDir } from './support/cli.js';
import { startPushService, type PushService } from './support/push-service.js';
import { installation } from './support/scheduling.js';
import { call, serveConfig, startServe, type ServeHandle } from './support/serve.js';

/** A sealed token: one AES block, base64url. */
const TOKEN = /^[A-Za-z0-9_-]{22}$/;

/**
 * What a sealed token names, worked out here from the key in the store (not with pushctl's code):
 * AES-128 of [notification id: 6 bytes][subscription id: 6 bytes][4 zero bytes].
 */
function openToken(key: string, token: string): { notificationId: number; subscriptionId: number; zeros: number } {
  const block = createDecipheriv('aes-128-ecb', Buffer.from(key, 'base64'), null).setAutoPadding(false).update(Buffer.from(token, 'base64url'));
  return { notificationId: block.readUIntBE(0, 6), subscriptionId: block.readUIntBE(6, 6), zeros: block.readUInt32BE(12) };
}

/**
 * Starts a POST that declares a body far over the limit: the server must answer 413 from
 * Content-Length alone, before reading any of it. The rest is never sent.
 */
function postHuge(url: string, bytes: number): Promise<{ status: number }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': String(bytes) } }, (res) => {
      res.resume();
      resolve({ status: res.statusCode ?? 0 });
      req.destroy();
    });
    req.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'ECONNRESET') reject(error);
    });
    req.flushHeaders();
    req.write('{"token":"');
  });
}

function rows(db: string, sql: string, ...params: unknown[]): Record<string, unknown>[] {
  const conn = openDb(db);
  try {
    return conn.prepare(sql).all(...params) as Record<string, unknown>[];
  } finally {
    conn.close();
  }
}

/** Every table's row count: "nothing else written" means these stay the same. */
function snapshot(db: string): Record<string, number> {
  const tables = TABLES.map((t) => t.name);
  return Object.fromEntries(tables.map((t) => [t, Number(rows(db, `SELECT count(*) AS n FROM ${t}`)[0]!.n)]));
}

describe('engagement over HTTP', () => {
  let svc: PushService;
  let serve: ServeHandle;
  let publicKey: string;

  beforeAll(async () => {
    svc = await startPushService();
    serve = await startServe({ config: serveConfig({ push: { endpointOrigins: [svc.origin] } }) });
    publicKey = (await call(serve.url, 'GET', '/subscription')).json.public_key as string;
    // The CLI in the same directory learns the public address for click links.
    fs.writeFileSync(path.join(serve.dir, 'push.config.json'), JSON.stringify(serveConfig({ push: { endpointOrigins: [svc.origin] }, serve: { publicUrl: serve.url } })));
  });
  afterAll(async () => {
    const result = await serve.stop();
    await svc.close();
    expect(result.stderr).not.toMatch(/internal|stack|\n\s+at /i);
  });

  async function subscribe(): Promise<number> {
    const sub = svc.createSubscription(publicKey);
    const saved = await call(serve.url, 'POST', '/subscription', { json: { subscription: { endpoint: sub.endpoint, keys: sub.keys } } });
    expect(saved.status).toBe(201);
    return saved.json.id as number;
  }

  /** Sends to one subscription; returns the notification id and the payload the browser would decrypt. */
  async function sendTracked(subscriptionId: number, extra: string[] = []): Promise<{ id: number; payload: Record<string, unknown> & { track: string } }> {
    const before = svc.received.length;
    const result = await runCli(['send', '--subscription', String(subscriptionId), '--title', 'T', '--url', 'https://example.com/target', '--action', 'yes:Yes:https://example.com/yes', '--action', 'no:No', '--track-clicks', ...extra, '--json'], { cwd: serve.dir });
    expect(result.code, result.stderr).toBe(0);
    expect(svc.received).toHaveLength(before + 1);
    return { id: (JSON.parse(result.stdout) as { id: number }).id, payload: JSON.parse(svc.received.at(-1)!.payload!) };
  }

  const events = (id: number) => rows(serve.db, 'SELECT kind, action FROM delivery_events WHERE notification_id = ? ORDER BY kind', id);
  const report = (json: unknown) => call(serve.url, 'POST', '/events', { json });

  it('puts a sealed token and /c/ links in the payload; the store keeps the real targets, and no row per token', async () => {
    const sub = await subscribe();
    const { id, payload } = await sendTracked(sub);
    expect(payload.track).toMatch(TOKEN);
    expect(payload).toEqual({
      track: payload.track,
      title: 'T',
      url: `${serve.url}/c/${payload.track}`,
      actions: [{ action: 'yes', title: 'Yes', url: `${serve.url}/c/${payload.track}/yes` }, { action: 'no', title: 'No' }],
    });
    // The stored payload is the one the operator wrote; the token is this delivery's ids under the
    // store's key (made once, 16 bytes), and nothing was written per token.
    expect(JSON.parse(String(rows(serve.db, 'SELECT payload FROM notifications WHERE id = ?', id)[0]!.payload))).toMatchObject({ url: 'https://example.com/target' });
    const keys = rows(serve.db, "SELECT value FROM secrets WHERE name = 'tracking-token-key'");
    expect(keys).toHaveLength(1);
    const key = String(keys[0]!.value);
    expect(Buffer.from(key, 'base64')).toHaveLength(16);
    expect(openToken(key, payload.track)).toEqual({ notificationId: id, subscriptionId: sub, zeros: 0 });
    expect(rows(serve.db, 'SELECT count(*) AS n FROM delivery_tokens')[0]!.n).toBe(0);
    // The key is the store's, not the process's: a second send (a new process) seals with it too.
    const again = await sendTracked(sub);
    expect(openToken(key, again.payload.track)).toEqual({ notificationId: again.id, subscriptionId: sub, zeros: 0 });
  });

  it('a token stored by an earlier pushctl (24 random characters, a row) still counts', async () => {
    const sub = await subscribe();
    const { id } = await sendTracked(sub);
    const legacy = 'Lg' + 'x'.repeat(20) + '-_';
    const conn = openDbWritable(serve.db);
    try {
      conn.prepare('INSERT INTO delivery_tokens (token, notification_id, subscription_id) VALUES (?, ?, ?)').run(legacy, id, sub);
    } finally {
      conn.close();
    }
    expect((await report({ token: legacy, event: 'shown' })).status).toBe(204);
    const link = await fetch(`${serve.url}/c/${legacy}/yes`, { redirect: 'manual' });
    expect(link.status).toBe(302);
    expect(link.headers.get('location')).toBe('https://example.com/yes');
    expect(events(id)).toEqual([{ kind: 'clicked', action: 'yes' }, { kind: 'shown', action: null }]);
  });

  it('counts each kind of event once per delivery; buttons by id; the click link redirects to the stored URL only', async () => {
    const { id, payload } = await sendTracked(await subscribe());
    for (let i = 0; i < 3; i++) expect((await report({ token: payload.track, event: 'shown' })).status).toBe(204);
    expect((await report({ token: payload.track, event: 'clicked', action: 'yes' })).status).toBe(204);
    expect((await report({ token: payload.track, event: 'clicked' })).status).toBe(204); // a second click: no change
    expect((await report({ token: payload.track, event: 'dismissed' })).status).toBe(204);
    expect(events(id)).toEqual([{ kind: 'clicked', action: 'yes' }, { kind: 'dismissed', action: null }, { kind: 'shown', action: null }]);

    // The link: a 302 to the stored URL whatever the request adds; per button too.
    const link = await fetch(`${serve.url}/c/${payload.track}/yes?to=https://evil.example/`, { redirect: 'manual' });
    expect(link.status).toBe(302);
    expect(link.headers.get('location')).toBe('https://example.com/yes');
    const body = await fetch(`${serve.url}/c/${payload.track}`, { redirect: 'manual' });
    expect(body.headers.get('location')).toBe('https://example.com/target');
    expect(events(id)).toHaveLength(3);
  });

  it('bad input on /events and /c/: no 5xx, nothing counted, nothing else written', async () => {
    const { id, payload } = await sendTracked(await subscribe());
    const unknownToken = payload.track.replace(/^./, (c) => (c === 'A' ? 'B' : 'A'));
    const before = snapshot(serve.db);
    const answers: number[] = [];
    const expectStatus = async (promise: Promise<{ status: number }>, status: number) => {
      const { status: got } = await promise;
      answers.push(got);
      expect(got).toBe(status);
    };
    // Well-formed reports that change nothing are answered exactly like ones that do.
    for (const json of [
      { token: unknownToken, event: 'shown' },
      { token: 'short', event: 'shown' },
      { token: payload.track, event: 'opened' },
      { token: payload.track, event: 'clicked', action: 'maybe' },
      { token: payload.track, event: 'shown', action: 'yes' },
      { token: payload.track, event: 'clicked', action: 'x'.repeat(65) },
      { token: 42, event: 'shown' },
      { token: [payload.track], event: 'shown' },
      { token: payload.track, event: null },
    ]) {
      await expectStatus(report(json), 204);
    }
    // Malformed bodies, unknown fields, wrong media types, too big.
    await expectStatus(call(serve.url, 'POST', '/events', { body: '{"token":', headers: { 'content-type': 'application/json' } }), 400);
    await expectStatus(call(serve.url, 'POST', '/events', { body: '[]', headers: { 'content-type': 'application/json' } }), 400);
    await expectStatus(call(serve.url, 'POST', '/events', { body: Buffer.from([0xff, 0xfe, 0x7b]), headers: { 'content-type': 'application/json' } }), 400);
    await expectStatus(report({ token: payload.track, event: 'shown', ip: '1.2.3.4' }), 400);
    await expectStatus(call(serve.url, 'POST', '/events', { body: JSON.stringify({ token: payload.track, event: 'shown' }), headers: { 'content-type': 'text/plain' } }), 415);
    await expectStatus(report({ token: payload.track, event: 'shown', action: 'x'.repeat(10_000) }), 413);
    await expectStatus(postHuge(`${serve.url}/events`, 5_000_000), 413);
    // Other methods.
    for (const method of ['GET', 'PUT', 'DELETE', 'PATCH']) await expectStatus(call(serve.url, method, '/events'), 405);
    for (const method of ['POST', 'PUT', 'DELETE']) await expectStatus(call(serve.url, method, `/c/${payload.track}`), 405);
    // Links that do not exist.
    for (const bad of [`/c/${unknownToken}`, '/c/short', `/c/${payload.track}/no`, `/c/${payload.track}/maybe`, `/c/${payload.track}/%E0%A4%A`, `/c/${'x'.repeat(3000)}`, `/c/${payload.track}/yes/more`]) {
      const response = await fetch(serve.url + bad, { redirect: 'manual' });
      answers.push(response.status);
      expect([400, 404], bad).toContain(response.status);
    }
    expect(answers.every((status) => status < 500)).toBe(true);
    expect(snapshot(serve.db)).toEqual(before);
    expect(events(id)).toEqual([]);
    // The access log has method, path and status: no addresses, no user agents.
    expect(serve.stdout()).not.toMatch(/127\.0\.0\.1 .*POST \/events|undici|node-fetch/);
  });

  it('events go with a deleted subscription or notification; push.tracking: false sends no token', async () => {
    const sub = await subscribe();
    const first = await sendTracked(sub);
    const second = await sendTracked(sub);
    await report({ token: first.payload.track, event: 'shown' });
    await report({ token: second.payload.track, event: 'shown' });
    expect(events(first.id)).toHaveLength(1);
    expect((await call(serve.url, 'DELETE', `/v1/pushnotification/${first.id}`, { admin: true })).status).toBe(204);
    expect(rows(serve.db, 'SELECT count(*) AS n FROM delivery_events WHERE notification_id = ?', first.id)[0]!.n).toBe(0);
    // Its token names a notification that is gone: reported again, it counts nothing.
    await report({ token: first.payload.track, event: 'dismissed' });
    expect(rows(serve.db, 'SELECT count(*) AS n FROM delivery_events WHERE notification_id = ?', first.id)[0]!.n).toBe(0);

    const removed = await runCli(['subscriptions', 'remove', String(sub)], { cwd: serve.dir });
    expect(removed.code, removed.stderr).toBe(0);
    expect(rows(serve.db, 'SELECT count(*) AS n FROM delivery_events WHERE subscription_id = ?', sub)[0]!.n).toBe(0);
    // A stale link or report of the removed subscriber leads nowhere and counts nothing.
    expect((await fetch(`${serve.url}/c/${second.payload.track}`, { redirect: 'manual' })).status).toBe(404);
    await report({ token: second.payload.track, event: 'dismissed' });
    expect(rows(serve.db, 'SELECT count(*) AS n FROM delivery_events WHERE subscription_id = ?', sub)[0]!.n).toBe(0);

    const other = await subscribe();
    fs.writeFileSync(path.join(serve.dir, 'push.config.json'), JSON.stringify(serveConfig({ push: { endpointOrigins: [svc.origin], tracking: false }, serve: { publicUrl: serve.url } })));
    try {
      const plain = await runCli(['send', '--subscription', String(other), '--title', 'Plain', '--url', 'https://example.com/p', '--json'], { cwd: serve.dir });
      expect(plain.code, plain.stderr).toBe(0);
      expect(JSON.parse(svc.received.at(-1)!.payload!)).toEqual({ title: 'Plain', url: 'https://example.com/p' });
      const refused = await runCli(['send', '--subscription', String(other), '--title', 'Plain', '--url', 'https://example.com/p', '--track-clicks'], { cwd: serve.dir });
      expect(refused.code).toBe(2);
      expect(refused.stderr).toMatch(/push.tracking is false/);
    } finally {
      fs.writeFileSync(path.join(serve.dir, 'push.config.json'), JSON.stringify(serveConfig({ push: { endpointOrigins: [svc.origin] }, serve: { publicUrl: serve.url } })));
    }
  });

  it('--track-clicks needs serve.publicUrl and an absolute url; declarative links need https', async () => {
    const dir = tempDir('pushctl-track-');
    try {
      const env = { PUSHCTL_ENDPOINT_ORIGINS: svc.origin };
      // A store to refuse against: without one, every send stops at the missing store first.
      expect((await runCli(['keys', 'generate', '--subject', 'mailto:ops@example.com'], { cwd: dir, env })).code).toBe(0);
      const cases: [string[], RegExp][] = [
        [['--title', 't', '--url', 'https://e.example/', '--track-clicks'], /needs serve.publicUrl/],
        [['--payload', '{}', '--track-clicks'], /raw payload/],
      ];
      for (const [args, message] of cases) {
        const result = await runCli(['send', '--all', ...args], { cwd: dir, env });
        expect(result.code).toBe(2);
        expect(result.stderr).toMatch(message);
      }
      fs.writeFileSync(path.join(dir, 'push.config.json'), JSON.stringify({ serve: { publicUrl: 'http://push.example.com/' } }));
      const relative = await runCli(['send', '--all', '--title', 't', '--url', '/news', '--track-clicks'], { cwd: dir, env });
      expect(relative.stderr).toMatch(/must be an absolute http\(s\) URL/);
      const declarative = await runCli(['send', '--all', '--title', 't', '--url', 'https://e.example/', '--format', 'declarative', '--track-clicks'], { cwd: dir, env });
      expect(declarative.stderr).toMatch(/needs https links, but serve.publicUrl is http:\/\/push.example.com/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('pushctl stats and GET /v1/stats give the same per-day numbers; bad --since exits 2', async () => {
    const { id, payload } = await sendTracked(await subscribe());
    await report({ token: payload.track, event: 'shown' });
    await report({ token: payload.track, event: 'clicked', action: 'yes' });
    const cli = JSON.parse((await runCli(['stats', '--since', '2d', '--json'], { cwd: serve.dir })).stdout) as { days: { date: string; delivered: number; shown: number; clicked: number }[]; totals: { delivered: number } };
    const api = await call(serve.url, 'GET', '/v1/stats?since=2d', { admin: true });
    expect(api.status).toBe(200);
    expect(api.json).toEqual(cli);
    expect(cli.days).toHaveLength(3);
    expect(cli.days.at(-1)!.date).toBe(new Date().toISOString().slice(0, 10));
    const funnelNow = JSON.parse((await runCli(['notifications', 'show', String(id), '--json'], { cwd: serve.dir })).stdout) as { funnel: { clicksByAction: unknown } };
    expect(funnelNow.funnel.clicksByAction).toEqual([{ action: 'yes', clicks: 1 }]);
    // Human output: a table with a bar chart; a category filter narrows it.
    const human = await runCli(['stats', '--since', '2d'], { cwd: serve.dir });
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toMatch(/delivered/);
    expect(human.stdout).toMatch(/█|▒/);
    const none = JSON.parse((await runCli(['stats', '--category', 'nobody-sent-here', '--json'], { cwd: serve.dir })).stdout) as { totals: { delivered: number } };
    expect(none.totals.delivered).toBe(0);
    const bad = await runCli(['stats', '--since', 'forever'], { cwd: serve.dir });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--since: "forever"/);
    expect((await call(serve.url, 'GET', '/v1/stats?since=forever', { admin: true })).status).toBe(400);
    expect((await call(serve.url, 'GET', '/v1/stats')).status).toBe(401);
  });
});

describe('funnel numbers from the store, on a generated data set of 10,000 deliveries', () => {
  let ctx: Context;
  let dir: string;
  afterEach(async () => {
    await closeContext(ctx);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('match counts made independently from the generated events', async () => {
    dir = tempDir('pushctl-funnel-');
    const day = 86_400_000;
    const now = Date.UTC(2030, 0, 10, 12);
    ctx = await openContext(await loadConfig({ db: path.join(dir, 'pushctl.db') }, {}, dir), { now: () => now });
    // Seeded through the SQLite connection underneath: 10,000 rows in one transaction.
    const db = (ctx.store as SqliteStore).connection;
    // A seeded generator: the same data set every run.
    let seed = 13;
    const random = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
    const ids = [1, 2].map(() =>
      insertNotification(db, { payload: '{"title":"x","actions":[{"action":"a","title":"A"},{"action":"b","title":"B"}]}', target: '{"all":true}', ttl: 60, urgency: null, topic: null, status: 'sent', send_at: now, cron: null, tz: null, until_at: null, remaining_count: null, stale_after_ms: null, idempotency_key: null, created_at: now }),
    );
    const expected = new Map(ids.map((id) => [id, { targeted: 0, delivered: 0, shown: 0, clicked: 0, dismissed: 0, byAction: new Map<string | null, number>() }]));
    const perDay = new Map<number, { delivered: number; shown: number; clicked: number; dismissed: number }>();
    const dayOf = (t: number) => {
      const key = Math.floor(t / day);
      if (!perDay.has(key)) perDay.set(key, { delivered: 0, shown: 0, clicked: 0, dismissed: 0 });
      return perDay.get(key)!;
    };
    const insertDelivery = db.prepare('INSERT INTO deliveries (notification_id, subscription_id, state, updated_at) VALUES (?, ?, ?, ?)');
    const issuer = tracking.prepareTokenIssuer(db);
    let repeats = 0;
    db.transaction(() => {
      for (let i = 0; i < 10_000; i++) {
        const id = ids[i % 2]!;
        const subscriptionId = 1 + Math.floor(i / 2);
        const e = expected.get(id)!;
        e.targeted++;
        const state = random() < 0.9 ? 'sent' : random() < 0.5 ? 'gone' : 'failed';
        const sentAt = now - Math.floor(random() * 5) * day;
        insertDelivery.run(id, subscriptionId, state, sentAt);
        if (state !== 'sent') continue;
        e.delivered++;
        dayOf(sentAt).delivered++;
        issuer.issue(id, [subscriptionId], () => `t${String(i).padStart(23, '0')}`);
        const record = (kind: tracking.EventKind, action: string | null) => {
          const at = sentAt + Math.floor(random() * 3_600_000);
          const first = tracking.insertEvent(db, { notificationId: id, subscriptionId, kind, action, at });
          // Reports arrive more than once: only the first may count.
          const again = tracking.insertEvent(db, { notificationId: id, subscriptionId, kind, action: 'b', at: at + 1 });
          expect(again).toBe(false);
          repeats++;
          if (!first) return;
          e[kind]++;
          dayOf(at)[kind]++;
          if (kind === 'clicked') e.byAction.set(action, (e.byAction.get(action) ?? 0) + 1);
        };
        if (random() < 0.7) {
          record('shown', null);
          const r = random();
          if (r < 0.2) record('clicked', random() < 0.5 ? 'a' : random() < 0.5 ? 'b' : null);
          else if (r < 0.6) record('dismissed', null);
        }
      }
    })();
    expect(repeats).toBeGreaterThan(5_000);
    for (const id of ids) {
      const e = expected.get(id)!;
      const funnel = await funnelOf(ctx, id);
      expect(funnel).toMatchObject({ targeted: e.targeted, delivered: e.delivered, shown: e.shown, clicked: e.clicked, dismissed: e.dismissed });
      expect(new Map(funnel.clicksByAction.map((c) => [c.action, c.clicks]))).toEqual(e.byAction);
      expect(funnel.rates.shown).toBeCloseTo(e.shown / e.delivered, 4);
      expect(funnel.rates.clicked).toBeCloseTo(e.clicked / e.delivered, 4);
    }
    expect(expected.get(ids[0]!)!.targeted + expected.get(ids[1]!)!.targeted).toBe(10_000);
    const stats = await engagementStats(ctx, { since: '7d' });
    expect(stats.days).toHaveLength(8);
    for (const d of stats.days) {
      const want = perDay.get(Date.parse(`${d.date}T00:00:00Z`) / day) ?? { delivered: 0, shown: 0, clicked: 0, dismissed: 0 };
      expect({ delivered: d.delivered, shown: d.shown, clicked: d.clicked, dismissed: d.dismissed }, d.date).toEqual(want);
    }
    const sum = (key: 'delivered' | 'shown' | 'clicked' | 'dismissed') => [...expected.values()].reduce((n, e) => n + e[key], 0);
    expect(stats.totals).toMatchObject({ delivered: sum('delivered'), shown: sum('shown'), clicked: sum('clicked'), dismissed: sum('dismissed') });
  });
});

describe('a store that never sealed a token', () => {
  it('answers reports of 22-character tokens as usual and makes no key for them', async () => {
    const serve = await startServe({ config: serveConfig() });
    try {
      for (const token of ['A'.repeat(22), 'Zm9vYmFyYmF6cXV4cXV1eA', 'A'.repeat(24)]) {
        expect((await call(serve.url, 'POST', '/events', { json: { token, event: 'shown' } })).status).toBe(204);
        expect((await fetch(`${serve.url}/c/${token}`, { redirect: 'manual' })).status).toBe(404);
      }
      expect(rows(serve.db, 'SELECT count(*) AS n FROM secrets')[0]!.n).toBe(0);
      expect(rows(serve.db, 'SELECT count(*) AS n FROM delivery_events')[0]!.n).toBe(0);
    } finally {
      await serve.stop();
    }
  });
});

describe('recurring notifications', () => {
  it('each occurrence keeps the rule\'s click tracking: its own tokens and /c/ links', async () => {
    const svc = await startPushService();
    const inst = await installation(svc, 'pushctl-track-cron-');
    try {
      fs.writeFileSync(path.join(inst.dir, 'push.config.json'), JSON.stringify({ serve: { publicUrl: 'https://push.example.com' } }));
      await inst.subscribe(2);
      const rule = await inst.json<{ id: number }>(['schedule', '--all', '--title', 'Daily', '--url', 'https://example.com/d', '--track-clicks', '--cron', '* * * * *', '--tz', 'UTC'], { PUSHCTL_NOW: '2030-01-01T00:00:30Z' });
      const run = await inst.cli(['dispatch', '--json'], { PUSHCTL_NOW: '2030-01-01T00:01:05Z' });
      expect(run.code, run.stderr).toBe(0);
      expect(svc.received).toHaveLength(2);
      const payloads = svc.received.map((r) => JSON.parse(r.payload!) as { track: string; url: string });
      for (const p of payloads) expect(p.url).toBe(`https://push.example.com/c/${p.track}`);
      expect(new Set(payloads.map((p) => p.track)).size).toBe(2);
      const [occurrence] = inst.query<{ id: number; tracking: string }>('SELECT id, tracking FROM notifications WHERE parent_id = ?', rule.id);
      expect(JSON.parse(occurrence!.tracking)).toEqual({ clicks: true, base: 'https://push.example.com', targets: { '': 'https://example.com/d' } });
      // Each token names the occurrence (not the rule) and its own subscriber.
      const [{ value: key }] = inst.query<{ value: string }>("SELECT value FROM secrets WHERE name = 'tracking-token-key'") as [{ value: string }];
      const named = svc.received.map((r) => openToken(key, (JSON.parse(r.payload!) as { track: string }).track));
      const subscribers = inst.query<{ id: number }>('SELECT id FROM subscriptions ORDER BY id').map((r) => r.id);
      expect(named.map((n) => n.subscriptionId).sort((a, b) => a - b)).toEqual(subscribers);
      for (const n of named) expect(n).toMatchObject({ notificationId: occurrence!.id, zeros: 0 });
    } finally {
      inst.cleanup();
      await svc.close();
    }
  });
});
