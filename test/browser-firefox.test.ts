/**
 * End to end in a real browser, offline: Firefox ESR loads the subscribe page served by
 * `pushctl serve`, the visitor ticks a category and clicks Subscribe, the subscription lands in the
 * store, `pushctl send --category` delivers through the push stand-in Firefox is pointed at, and
 * the service worker receives the exact payload (it tells the page, which the test reads).
 * Then: Unsubscribe on the page removes the subscription; a push to a subscription the browser
 * dropped is answered 410 and pruned.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TokenSeal } from '../src/core/tracking-tokens.js';
import { openDb, runCli } from './support/cli.js';
import { firefoxAvailable, launchFirefox, type FirefoxSession } from './support/firefox-browser.js';
import { startFirefoxPushService, type FirefoxPushService } from './support/firefox-push.js';
import { ADMIN_TOKEN, call, serveConfig, startServe, type ServeHandle } from './support/serve.js';
import { skipWithout } from './support/commands.js';
import { waitUntil } from './support/wait.js';

const state = '(document.getElementById("pushctl-status")?.dataset.state ?? null)';

function subscriptionRows(db: string) {
  const conn = openDb(db);
  try {
    return conn
      .prepare(
        `SELECT s.id, s.endpoint, s.user_agent, s.time_zone, s.language,
                (SELECT string_agg(c.name, ',' ORDER BY c.name) FROM subscription_categories sc JOIN categories c ON c.id = sc.category_id
                  WHERE sc.subscription_id = s.id) AS categories
         FROM subscriptions s ORDER BY s.id`,
      )
      .all() as { id: number; endpoint: string; user_agent: string | null; time_zone: string | null; language: string | null; categories: string | null }[];
  } finally {
    conn.close();
  }
}

describe.skipIf(skipWithout(firefoxAvailable()))('subscribe page in Firefox ESR (offline push stand-in)', () => {
  let push: FirefoxPushService;
  let serve: ServeHandle;
  let firefox: FirefoxSession;

  beforeAll(async () => {
    push = await startFirefoxPushService();
    serve = await startServe({ config: serveConfig({ push: { endpointOrigins: [push.origin] } }) });
    for (const [name, description] of [['news', 'Articles as they are published'], ['offers', 'Discounts']]) {
      const created = await call(serve.url, 'POST', '/v1/pushnotification/categories', { admin: true, json: { name, description } });
      expect(created.status).toBe(201);
    }
    // A visitor far from the server, in another language: what the page reports must be the browser's own.
    firefox = await launchFirefox({ pushServerUrl: push.wsUrl, env: { TZ: 'Asia/Tokyo' }, prefs: { 'intl.accept_languages': 'de-DE, de' } });
    // Firefox starts its push client late; a subscribe() before its hello is lost silently.
    await push.waitForHello(60_000);
  }, 300_000);

  afterAll(async () => {
    await firefox?.close();
    const result = await serve?.stop();
    await push?.close();
    if (result) expect(result.code).toBe(0);
  }, 60_000);

  async function subscribeWith(categories: string[]): Promise<void> {
    await firefox.navigate(`${serve.url}/`);
    await firefox.waitFor(`${state} === "unsubscribed" || ${state} === "subscribed"`, 'the page to load');
    expect(await firefox.evaluate(state)).toBe('unsubscribed');
    const offered = await firefox.evaluate<string[]>('[...document.querySelectorAll("input[name=category]")].map((b) => b.value)');
    expect(offered).toEqual(['news', 'offers']);
    // The visitor ticks exactly these (the page remembers earlier choices, so untick the rest).
    for (const name of offered) {
      const checked = await firefox.evaluate<boolean>(`document.getElementById("pushctl-category-${name}").checked`);
      if (checked !== categories.includes(name)) await firefox.click(`#pushctl-category-${name}`);
    }
    await firefox.click('#pushctl-subscribe');
    const final = await firefox.waitFor<string>(`["subscribed", "error", "blocked", "unsupported"].includes(${state}) && ${state}`, 'the page to subscribe', 45_000);
    if (final !== 'subscribed') throw new Error(`page says ${final}: ${await firefox.evaluate('document.getElementById("pushctl-status").textContent')}`);
  }

  it('subscribes with the chosen category, receives exactly what pushctl send built, unsubscribes', async () => {
    await subscribeWith(['news']);
    const rows = subscriptionRows(serve.db);
    expect(rows).toHaveLength(1);
    expect(rows[0]!.endpoint.startsWith(`${push.origin}/push/`)).toBe(true);
    expect(rows[0]!.categories).toBe('news');
    expect(rows[0]!.user_agent).toMatch(/Firefox/);
    expect(await firefox.evaluate('[Intl.DateTimeFormat().resolvedOptions().timeZone, navigator.language]')).toEqual(['Asia/Tokyo', 'de-DE']);
    expect([rows[0]!.time_zone, rows[0]!.language]).toEqual(['Asia/Tokyo', 'de-DE']);
    const channel = [...push.channels.values()].find((c) => c.endpoint === rows[0]!.endpoint)!;
    // The page subscribed under the server's public key.
    const info = await call(serve.url, 'GET', '/subscription');
    expect(channel.key).toBe(info.json.public_key);

    const sent = await runCli(
      ['send', '--category', 'news', '--title', 'Hello from pushctl', '--body', 'Grüße, offline ✓', '--url', `${serve.url}/?from=push`, '--icon', '/icon.png', '--badge', '/badge.png', '--tag', 'news-1', '--yes', '--json'],
      { cwd: serve.dir },
    );
    expect(sent.code, sent.stderr).toBe(0);
    const summary = JSON.parse(sent.stdout) as { id: number; counts: { sent: number } };
    expect(summary.counts.sent).toBe(1);

    const conn = openDb(serve.db);
    const stored = (conn.prepare('SELECT payload FROM notifications WHERE id = ?').get(summary.id) as { payload: string }).payload;
    // The delivery's own token rides along (push.tracking is on by default): its ids, sealed under the store's key.
    const key = (conn.prepare("SELECT value FROM secrets WHERE name = 'tracking-token-key'").get() as { value: string }).value;
    const subscriptionId = (conn.prepare('SELECT subscription_id FROM deliveries WHERE notification_id = ?').get(summary.id) as { subscription_id: number }).subscription_id;
    const token = new TokenSeal(Buffer.from(key, 'base64')).seal(summary.id, Number(subscriptionId));
    conn.close();
    const received = await firefox.waitFor<string>('document.getElementById("pushctl-last").dataset.payload ?? null', 'the service worker to receive the push');
    expect(received).toBe(JSON.stringify({ track: token, ...(JSON.parse(stored) as object) }));
    expect(JSON.parse(received)).toEqual({ track: token, title: 'Hello from pushctl', body: 'Grüße, offline ✓', url: `${serve.url}/?from=push`, icon: '/icon.png', badge: '/badge.png', tag: 'news-1' });
    const ack = await push.waitFor('the browser to acknowledge', () => push.acks.find((a) => a.channelID === channel.channelID));
    expect(ack.code).toBe(100);

    // A category nobody on this page chose gets nobody: refused (exit 1) unless --allow-empty.
    const refused = await runCli(['send', '--category', 'offers', '--title', 'Sale', '--yes', '--json'], { cwd: serve.dir });
    expect(refused.code, refused.stderr).toBe(1);
    const offers = await runCli(['send', '--category', 'offers', '--title', 'Sale', '--yes', '--json', '--allow-empty'], { cwd: serve.dir });
    expect(offers.code, offers.stderr).toBe(0);
    expect((JSON.parse(offers.stdout) as { counts: { total: number } }).counts.total).toBe(0);

    await firefox.click('#pushctl-unsubscribe');
    await firefox.waitFor(`${state} === "unsubscribed"`, 'the page to unsubscribe');
    expect(subscriptionRows(serve.db)).toHaveLength(0);
    await push.waitFor('the browser to unregister the channel', () => (channel.unregistered ? true : undefined));
    expect(await firefox.evaluate('navigator.serviceWorker.ready.then((r) => r.pushManager.getSubscription()).then((s) => s === null)')).toBe(true);
  }, 300_000);

  it('prunes a subscription the browser dropped when a push to it is answered 410', async () => {
    await subscribeWith(['offers']);
    const [row] = subscriptionRows(serve.db);
    expect(row!.categories).toBe('offers');
    // The browser forgets the subscription without telling pushctl (site data cleared, say).
    expect(await firefox.evaluate('navigator.serviceWorker.ready.then((r) => r.pushManager.getSubscription()).then((s) => s.unsubscribe())')).toBe(true);
    const channel = await push.waitFor('the channel to be unregistered', () => [...push.channels.values()].find((c) => c.endpoint === row!.endpoint && c.unregistered));
    expect(subscriptionRows(serve.db)).toHaveLength(1);

    const sent = await runCli(['send', '--category', 'offers', '--title', 'Anyone there?', '--yes', '--json'], { cwd: serve.dir });
    const summary = JSON.parse(sent.stdout) as { counts: { gone: number; sent: number } };
    expect(summary.counts).toMatchObject({ gone: 1, sent: 0 });
    expect(push.answers.filter((a) => a.channelID === channel.channelID).map((a) => a.status)).toEqual([410]);
    expect(subscriptionRows(serve.db)).toHaveLength(0);
  }, 300_000);

  it('saves changed topics, and re-posts the subscription after pushsubscriptionchange: the new endpoint replaces the old and keeps its categories', async () => {
    await subscribeWith(['news']);
    // The visitor changes their mind about topics while subscribed.
    await firefox.click('#pushctl-category-offers');
    await firefox.click('#pushctl-save');
    await firefox.waitFor(`${state} === "subscribed" && document.getElementById("pushctl-status").textContent.includes("offers")`, 'the page to save the topics');
    const [before] = subscriptionRows(serve.db);
    expect(before!.categories).toBe('news,offers');
    // Forget the zone and language on the server, so only sw.js can bring them back.
    const cleared = await runCli(['subscriptions', 'update', String(before!.id), '--time-zone', 'none', '--language', 'none'], { cwd: serve.dir });
    expect(cleared.code, cleared.stderr).toBe(0);
    // The push service forgets this browser: Firefox drops its subscriptions and the service worker resubscribes.
    push.resetUaid();
    // The new row is written by serve after the browser's last push-service message, so no push
    // event announces it: poll the store, with a ceiling that a loaded machine does not reach.
    const after = await waitUntil(
      'the service worker to post its new subscription',
      () => {
        const rows = subscriptionRows(serve.db);
        return rows.length === 1 && rows[0]!.endpoint !== before!.endpoint ? rows[0] : undefined;
      },
    ).catch(async (error: Error) => {
      throw new Error(`${error.message}; rows: ${JSON.stringify(subscriptionRows(serve.db))}`);
    });
    expect(after.categories).toBe('news,offers');
    // Posted by sw.js this time (no page involved).
    expect([after.time_zone, after.language]).toEqual(['Asia/Tokyo', 'de-DE']);
    expect(after.endpoint.startsWith(`${push.origin}/push/`)).toBe(true);
    expect(serve.stdout()).toMatch(/POST \/subscription 201 /);

    const sent = await runCli(['send', '--category', 'news', '--title', 'Still here', '--yes', '--json'], { cwd: serve.dir });
    expect(sent.code, sent.stderr).toBe(0);
    expect((JSON.parse(sent.stdout) as { counts: { sent: number } }).counts.sent).toBe(1);
    const received = await firefox.waitFor<string>('(document.getElementById("pushctl-last").dataset.payload ?? "").includes("Still here") && document.getElementById("pushctl-last").dataset.payload', 'the push to the new subscription');
    expect(JSON.parse(received)).toEqual({ track: expect.stringMatching(/^[A-Za-z0-9_-]{22}$/), title: 'Still here' });
    await firefox.click('#pushctl-unsubscribe');
    await firefox.waitFor(`${state} === "unsubscribed"`, 'the page to unsubscribe');
    expect(subscriptionRows(serve.db)).toHaveLength(0);
  }, 300_000);

  /** The notifications the service worker's registration shows, as plain JSON. */
  const shownNotifications = `navigator.serviceWorker.ready.then((r) => r.getNotifications()).then((list) => list.map((n) => ({
    title: n.title, body: n.body, tag: n.tag, lang: n.lang, dir: n.dir, image: n.image ?? null, icon: n.icon,
    requireInteraction: n.requireInteraction, silent: n.silent, timestamp: n.timestamp,
    actions: n.actions === undefined ? null : [...n.actions].map((a) => ({ action: a.action, title: a.title })),
    data: n.data,
  })))`;

  it('shows a notification with two actions and an image, and a declarative payload, through sw.js', async () => {
    await subscribeWith(['news']);
    const rich = await runCli(
      ['send', '--category', 'news', '--title', 'Rich', '--body', 'Two buttons', '--url', `${serve.url}/?rich`, '--image', `${serve.url}/banner.png`,
        '--action', 'read:Read it:/read', '--action', 'later:Later', '--tag', 'rich-1', '--require-interaction', '--lang', 'en', '--dir', 'ltr',
        '--timestamp', '1700000000000', '--data', '{"story":7}', '--yes', '--json'],
      { cwd: serve.dir },
    );
    expect(rich.code, rich.stderr).toBe(0);
    const [shown] = await firefox.waitFor<Record<string, unknown>[]>(`${shownNotifications}.then((l) => l.filter((n) => n.tag === "rich-1")).then((l) => l.length ? l : null)`, 'the rich notification to be shown');
    expect(shown).toMatchObject({
      title: 'Rich',
      body: 'Two buttons',
      lang: 'en',
      dir: 'ltr',
      requireInteraction: true,
      data: { url: `${serve.url}/?rich`, actions: { read: '/read' }, data: { story: 7 }, extra: {} },
    });
    expect(shown!.actions).toEqual([{ action: 'read', title: 'Read it' }, { action: 'later', title: 'Later' }]);
    // Firefox ESR has no Notification.image or .timestamp (it ignores those options); where a
    // browser has them, they must be what was sent. The worker received both either way.
    const supports = await firefox.evaluate<{ image: boolean; timestamp: boolean }>('({ image: "image" in Notification.prototype, timestamp: "timestamp" in Notification.prototype })');
    if (supports.image) expect(shown!.image).toBe(`${serve.url}/banner.png`);
    if (supports.timestamp) expect(shown!.timestamp).toBe(1_700_000_000_000);
    const received = JSON.parse(await firefox.waitFor<string>('(document.getElementById("pushctl-last").dataset.payload ?? "").includes("Two buttons") && document.getElementById("pushctl-last").dataset.payload', 'the worker to pass the push on')) as Record<string, unknown>;
    expect(received).toMatchObject({ image: `${serve.url}/banner.png`, timestamp: 1_700_000_000_000 });

    const declared = await runCli(
      ['send', '--category', 'news', '--format', 'declarative', '--title', 'Declared', '--body', 'Shown by sw.js', '--url', 'https://example.com/declared', '--tag', 'dwp-1', '--yes', '--json'],
      { cwd: serve.dir },
    );
    expect(declared.code, declared.stderr).toBe(0);
    const [dwp] = await firefox.waitFor<Record<string, unknown>[]>(`${shownNotifications}.then((l) => l.filter((n) => n.tag === "dwp-1")).then((l) => l.length ? l : null)`, 'the declarative notification to be shown');
    expect(dwp).toMatchObject({ title: 'Declared', body: 'Shown by sw.js', data: { url: 'https://example.com/declared', actions: {}, data: null, extra: {} } });

    await firefox.click('#pushctl-unsubscribe');
    await firefox.waitFor(`${state} === "unsubscribed"`, 'the page to unsubscribe');
  }, 300_000);

  it('reports shown to /events; a tracked click link counts one click and redirects to the stored target; the funnel says so', async () => {
    await subscribeWith(['news']);
    // Click links need the address browsers reach this server at; send reads it from the config.
    fs.writeFileSync(path.join(serve.dir, 'push.config.json'), JSON.stringify(serveConfig({ push: { endpointOrigins: [push.origin] }, serve: { publicUrl: serve.url } })));
    const sent = await runCli(['send', '--category', 'news', '--title', 'Tracked', '--body', 'Count me', '--url', 'https://example.com/article?id=5', '--track-clicks', '--tag', 'tracked-1', '--yes', '--json'], { cwd: serve.dir });
    expect(sent.code, sent.stderr).toBe(0);
    const { id } = JSON.parse(sent.stdout) as { id: number };
    const received = JSON.parse(
      await firefox.waitFor<string>('(document.getElementById("pushctl-last").dataset.payload ?? "").includes("Count me") && document.getElementById("pushctl-last").dataset.payload', 'the tracked push'),
    ) as { track: string; url: string };
    expect(received.url).toBe(`${serve.url}/c/${received.track}`);

    // sw.js reports "shown" once showNotification has resolved.
    const events = () => {
      const conn = openDb(serve.db);
      try {
        return conn.prepare('SELECT kind, action FROM delivery_events WHERE notification_id = ? ORDER BY kind').all(id) as { kind: string; action: string | null }[];
      } finally {
        conn.close();
      }
    };
    const deadline = Date.now() + 30_000;
    while (!events().some((e) => e.kind === 'shown') && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
    expect(events()).toEqual([{ kind: 'shown', action: null }]);
    expect(serve.stdout()).toMatch(/POST \/events 204 /);

    // The visitor (here: HTTP) follows the link twice: one click, both redirected to the stored target.
    for (let i = 0; i < 2; i++) {
      const response = await fetch(received.url, { redirect: 'manual' });
      expect(response.status).toBe(302);
      expect(response.headers.get('location')).toBe('https://example.com/article?id=5');
    }
    expect(events()).toEqual([{ kind: 'clicked', action: null }, { kind: 'shown', action: null }]);

    const shown = JSON.parse((await runCli(['notifications', 'show', String(id), '--json'], { cwd: serve.dir })).stdout) as { funnel: Record<string, unknown> };
    expect(shown.funnel).toMatchObject({ targeted: 1, delivered: 1, shown: 1, clicked: 1, dismissed: 0, clicksByAction: [{ action: null, clicks: 1 }], rates: { shown: 1, clicked: 1, dismissed: 0 } });
    const api = await call(serve.url, 'GET', `/v1/pushnotification/${id}`, { admin: true });
    expect(api.json.funnel).toMatchObject({ targeted: 1, delivered: 1, shown: 1, clicked: 1, dismissed: 0 });

    await firefox.click('#pushctl-unsubscribe');
    await firefox.waitFor(`${state} === "unsubscribed"`, 'the page to unsubscribe');
  }, 300_000);

  it('kept the access log to method, path, status and time', () => {
    const log = serve.stdout();
    expect(log).toMatch(/POST \/subscription 201 /);
    expect(log).toMatch(/DELETE \/subscription 204 /);
    expect(log).not.toContain(ADMIN_TOKEN);
    expect(log).not.toContain('p256dh');
    expect(log).not.toContain(push.origin);
  });
});
