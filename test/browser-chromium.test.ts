/**
 * Headless Chromium, for what it can do offline: its push client needs Google's servers, so it
 * cannot subscribe here. The page must still load, offer the categories, and say plainly that push
 * is unavailable (blocked permission, private window, or a push service that never answers),
 * writing nothing. Also: the two client files embedded on another origin reach the server through
 * CORS only when that origin is listed.
 */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDb, ROOT, tempDir } from './support/cli.js';
import { call, serveConfig, startServe, type ServeHandle } from './support/serve.js';
import { skipWithout } from './support/commands.js';

const CHROMIUM = process.env.PUSHCTL_TEST_CHROMIUM ?? '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/**
 * The little of the DOM the page functions below use (this project compiles without DOM types;
 * functions, not strings, because the page's CSP forbids eval).
 */
declare const document: {
  getElementById(id: string): { dataset: Record<string, string | undefined>; textContent: string | null } | null;
  querySelectorAll(selector: string): ArrayLike<{ value: string }>;
};

async function pageState(page: Page): Promise<{ state: string | undefined; text: string }> {
  return page.evaluate(() => {
    const status = document.getElementById('pushctl-status');
    return { state: status?.dataset.state, text: status?.textContent ?? '' };
  });
}

async function settled(page: Page, timeoutMs = 10_000): Promise<{ state: string | undefined; text: string }> {
  await page.waitForFunction(() => !['loading', 'working', undefined].includes(document.getElementById('pushctl-status')?.dataset.state), null, { timeout: timeoutMs });
  return pageState(page);
}

function subscriptionCount(db: string): number {
  const conn = openDb(db);
  try {
    return (conn.prepare('SELECT count(*) AS n FROM subscriptions').get() as { n: number }).n;
  } finally {
    conn.close();
  }
}

describe.skipIf(skipWithout(fs.existsSync(CHROMIUM)))('subscribe page in headless Chromium (no push service reachable)', () => {
  let serve: ServeHandle;
  let browser: Browser;
  let site: http.Server;
  let siteOrigin: string;

  beforeAll(async () => {
    // "Your own site": a different origin serving copies of app.js and sw.js.
    site = http.createServer((req, res) => {
      const file = req.url === '/app.js' ? 'app.js' : req.url === '/sw.js' ? 'sw.js' : undefined;
      if (file) {
        res.writeHead(200, { 'content-type': 'text/javascript' });
        res.end(fs.readFileSync(path.join(ROOT, 'src/http/static', file)));
      } else if (req.url === '/') {
        res.writeHead(200, { 'content-type': 'text/html' });
        res.end(`<!doctype html><title>My site</title><div id="pushctl"></div><script src="/app.js" data-server="${serve.url}" defer></script>`);
      } else {
        res.writeHead(404).end();
      }
    });
    await new Promise<void>((resolve) => site.listen(0, '127.0.0.1', resolve));
    siteOrigin = `http://127.0.0.1:${(site.address() as AddressInfo).port}`;
    serve = await startServe({ config: serveConfig({ serve: { corsOrigins: [siteOrigin] } }) });
    for (const [name, description] of [['news', 'Articles as they are published'], ['offers', null]]) {
      expect((await call(serve.url, 'POST', '/v1/pushnotification/categories', { admin: true, json: { name, description } })).status).toBe(201);
    }
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await new Promise((resolve) => site?.close(resolve));
    const result = await serve?.stop();
    if (result) expect(result.code).toBe(0);
  });

  it('loads, offers the categories, and says notifications are blocked when permission is refused', async () => {
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      const errors: string[] = [];
      page.on('pageerror', (error) => errors.push(error.message));
      await page.goto(`${serve.url}/`);
      expect(await settled(page)).toEqual({ state: 'unsubscribed', text: 'Not subscribed.' });
      expect(await page.evaluate(() => Array.from(document.querySelectorAll('input[name=category]'), (box) => box.value))).toEqual(['news', 'offers']);
      expect(await page.textContent('.pushctl-categories')).toContain('Articles as they are published');
      await page.check('#pushctl-category-news');
      await page.click('#pushctl-subscribe');
      const after = await settled(page);
      expect(after.state).toBe('blocked');
      expect(after.text).toMatch(/Notifications are blocked for this site/);
      expect(errors).toEqual([]);
      expect(subscriptionCount(serve.db)).toBe(0);
    } finally {
      await context.close();
    }
  });

  it('says push is unavailable when the browser refuses to subscribe (private window)', async () => {
    const context = await browser.newContext();
    try {
      await context.grantPermissions(['notifications'], { origin: serve.url });
      const page = await context.newPage();
      await page.goto(`${serve.url}/`);
      expect((await settled(page)).state).toBe('unsubscribed');
      await page.click('#pushctl-subscribe');
      const after = await settled(page, 30_000);
      expect(after.state).toBe('unavailable');
      expect(after.text).toMatch(/^Push notifications are unavailable in this browser \(.+\)\.$/);
      expect(await page.isVisible('#pushctl-subscribe')).toBe(true);
      expect(subscriptionCount(serve.db)).toBe(0);
    } finally {
      await context.close();
    }
  });

  it('gives up on a push service that never answers and says push is unavailable', async () => {
    const profile = tempDir('pushctl-chromium-');
    const context: BrowserContext = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, args: ARGS });
    try {
      await context.grantPermissions(['notifications'], { origin: serve.url });
      const page = await context.newPage();
      await page.goto(`${serve.url}/`);
      expect((await settled(page)).state).toBe('unsubscribed');
      await page.click('#pushctl-subscribe');
      // subscribe() never settles without Google's push service; the page stops waiting after 15 s.
      const after = await settled(page, 40_000);
      expect(after.state).toBe('unavailable');
      expect(after.text).toMatch(/unavailable in this browser/);
      expect(subscriptionCount(serve.db)).toBe(0);
    } finally {
      await context.close();
      fs.rmSync(profile, { recursive: true, force: true });
    }
  }, 90_000);

  it('works from another origin through CORS only when that origin is listed', async () => {
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      await page.goto(`${siteOrigin}/`);
      expect((await settled(page)).state).toBe('unsubscribed');
      expect(await page.locator('input[name=category]').count()).toBe(2);
    } finally {
      await context.close();
    }
    const other = await startServe({ config: serveConfig() });
    const unlisted = await browser.newContext();
    try {
      const page = await unlisted.newPage();
      await page.route(`${siteOrigin}/`, (route) =>
        route.fulfill({ contentType: 'text/html', body: `<!doctype html><div id="pushctl"></div><script src="/app.js" data-server="${other.url}" defer></script>` }),
      );
      await page.goto(`${siteOrigin}/`);
      const state = await settled(page);
      expect(state.state).toBe('error');
      expect(state.text).toMatch(/Could not reach the notification server/);
    } finally {
      await unlisted.close();
      await other.stop();
    }
  });
});
