/**
 * End to end in a real browser, offline: Firefox ESR loads the subscribe page served by
 * `pushctl serve`, the visitor ticks a category and clicks Subscribe, the subscription lands in the
 * store, `pushctl send --category` delivers through the push stand-in Firefox is pointed at, and
 * the service worker receives the exact payload (it tells the page, which the test reads).
 * Then: Unsubscribe on the page removes the subscription; a push to a subscription the browser
 * dropped is answered 410 and pruned.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDb, runCli } from './support/cli.js';
import { firefoxAvailable, launchFirefox, type FirefoxSession } from './support/firefox-browser.js';
import { startFirefoxPushService, type FirefoxPushService } from './support/firefox-push.js';
import { ADMIN_TOKEN, call, serveConfig, startServe, type ServeHandle } from './support/serve.js';
import { skipWithout } from './support/commands.js';

const state = '(document.getElementById("pushctl-status")?.dataset.state ?? null)';

function subscriptionRows(db: string) {
  const conn = openDb(db);
  try {
    return conn
      .prepare(
        `SELECT s.id, s.endpoint, s.user_agent,
                (SELECT group_concat(name, ',') FROM (SELECT c.name FROM subscription_categories sc JOIN categories c ON c.id = sc.category_id
                  WHERE sc.subscription_id = s.id ORDER BY c.name)) AS categories
         FROM subscriptions s ORDER BY s.id`,
      )
      .all() as { id: number; endpoint: string; user_agent: string | null; categories: string | null }[];
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
    firefox = await launchFirefox({ pushServerUrl: push.wsUrl });
    // Firefox starts its push client late; a subscribe() before its hello is lost silently.
    await push.waitForHello(60_000);
  }, 120_000);

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
    conn.close();
    const received = await firefox.waitFor<string>('document.getElementById("pushctl-last").dataset.payload ?? null', 'the service worker to receive the push');
    expect(received).toBe(stored);
    expect(JSON.parse(received)).toEqual({ title: 'Hello from pushctl', body: 'Grüße, offline ✓', url: `${serve.url}/?from=push`, icon: '/icon.png', badge: '/badge.png', tag: 'news-1' });
    const ack = await push.waitFor('the browser to acknowledge', () => push.acks.find((a) => a.channelID === channel.channelID));
    expect(ack.code).toBe(100);

    // A category nobody on this page chose gets nobody.
    const offers = await runCli(['send', '--category', 'offers', '--title', 'Sale', '--yes', '--json'], { cwd: serve.dir });
    expect(offers.code, offers.stderr).toBe(0);
    expect((JSON.parse(offers.stdout) as { counts: { total: number } }).counts.total).toBe(0);

    await firefox.click('#pushctl-unsubscribe');
    await firefox.waitFor(`${state} === "unsubscribed"`, 'the page to unsubscribe');
    expect(subscriptionRows(serve.db)).toHaveLength(0);
    await push.waitFor('the browser to unregister the channel', () => (channel.unregistered ? true : undefined));
    expect(await firefox.evaluate('navigator.serviceWorker.ready.then((r) => r.pushManager.getSubscription()).then((s) => s === null)')).toBe(true);
  }, 180_000);

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
  }, 180_000);

  it('saves changed topics, and re-posts the subscription after pushsubscriptionchange: the new endpoint replaces the old and keeps its categories', async () => {
    await subscribeWith(['news']);
    // The visitor changes their mind about topics while subscribed.
    await firefox.click('#pushctl-category-offers');
    await firefox.click('#pushctl-save');
    await firefox.waitFor(`${state} === "subscribed" && document.getElementById("pushctl-status").textContent.includes("offers")`, 'the page to save the topics');
    const [before] = subscriptionRows(serve.db);
    expect(before!.categories).toBe('news,offers');
    // The push service forgets this browser: Firefox drops its subscriptions and the service worker resubscribes.
    push.resetUaid();
    const after = await push.waitFor(
      'the service worker to post its new subscription',
      () => {
        const rows = subscriptionRows(serve.db);
        return rows.length === 1 && rows[0]!.endpoint !== before!.endpoint ? rows[0] : undefined;
      },
      30_000,
    ).catch(async (error: Error) => {
      throw new Error(`${error.message}; rows: ${JSON.stringify(subscriptionRows(serve.db))}`);
    });
    expect(after.categories).toBe('news,offers');
    expect(after.endpoint.startsWith(`${push.origin}/push/`)).toBe(true);
    expect(serve.stdout()).toMatch(/POST \/subscription 201 /);

    const sent = await runCli(['send', '--category', 'news', '--title', 'Still here', '--yes', '--json'], { cwd: serve.dir });
    expect(sent.code, sent.stderr).toBe(0);
    expect((JSON.parse(sent.stdout) as { counts: { sent: number } }).counts.sent).toBe(1);
    const received = await firefox.waitFor<string>('(document.getElementById("pushctl-last").dataset.payload ?? "").includes("Still here") && document.getElementById("pushctl-last").dataset.payload', 'the push to the new subscription');
    expect(JSON.parse(received)).toEqual({ title: 'Still here' });
    await firefox.click('#pushctl-unsubscribe');
    await firefox.waitFor(`${state} === "unsubscribed"`, 'the page to unsubscribe');
    expect(subscriptionRows(serve.db)).toHaveLength(0);
  }, 120_000);

  it('kept the access log to method, path, status and time', () => {
    const log = serve.stdout();
    expect(log).toMatch(/POST \/subscription 201 /);
    expect(log).toMatch(/DELETE \/subscription 204 /);
    expect(log).not.toContain(ADMIN_TOKEN);
    expect(log).not.toContain('p256dh');
    expect(log).not.toContain(push.origin);
  });
});
