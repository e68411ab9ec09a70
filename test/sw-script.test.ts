/**
 * pushctl's sw.js run in a V8 context with a stand-in ServiceWorkerGlobalScope, for what a headless
 * browser cannot be made to do: press a notification's button, close it, or refuse an option.
 * (Showing notifications is tested in real Firefox: browser-firefox.test.ts.)
 */
import fs from 'node:fs';
import path from 'node:path';
import vm from 'node:vm';
import { describe, expect, it } from 'vitest';
import { ROOT } from './support/cli.js';

const SOURCE = fs.readFileSync(path.join(ROOT, 'src/http/static/sw.js'), 'utf8');

interface Shown {
  title: string;
  options: Record<string, unknown> & { data: { url: string | null; actions: Record<string, string>; data: unknown; extra: Record<string, unknown>; track: string | null } };
}

function worker(options: { refuse?: number } = {}) {
  const handlers = new Map<string, (event: unknown) => void>();
  const shown: Shown[] = [];
  const opened: string[] = [];
  const reports: { url: string; body: unknown; keepalive: unknown }[] = [];
  const badges: (number | 'cleared')[] = [];
  let refusals = options.refuse ?? 0;
  const self = {
    location: { href: 'https://site.example/sw.js?server=https://push.example.com/', origin: 'https://site.example' },
    addEventListener: (type: string, handler: (event: unknown) => void) => handlers.set(type, handler),
    skipWaiting: () => undefined,
    navigator: { setAppBadge: async (n: number) => void badges.push(n), clearAppBadge: async () => void badges.push('cleared') },
    registration: {
      showNotification: async (title: string, opts: Shown['options']) => {
        if (refusals > 0) {
          refusals--;
          throw new TypeError('this browser refuses an option');
        }
        shown.push({ title, options: opts });
      },
    },
    clients: { matchAll: async () => [], openWindow: async (url: string) => void opened.push(url), claim: async () => undefined },
  };
  const context = vm.createContext({
    self,
    URL,
    console: { warn: () => undefined },
    Notification: { maxActions: 2 },
    fetch: async (url: string, init: { body: string; keepalive: unknown }) => {
      reports.push({ url, body: JSON.parse(init.body), keepalive: init.keepalive });
      return { status: 204 };
    },
    atob,
  });
  vm.runInContext(SOURCE, context);
  async function fire(type: string, init: Record<string, unknown>): Promise<void> {
    const waits: Promise<unknown>[] = [];
    handlers.get(type)!({ ...init, waitUntil: (p: Promise<unknown>) => waits.push(p) });
    await Promise.all(waits);
  }
  const push = (payload: unknown) => fire('push', { data: { text: () => (typeof payload === 'string' ? payload : JSON.stringify(payload)) } });
  const notification = (n: Shown) => ({ data: n.options.data, close: () => undefined });
  return { shown, opened, reports, badges, push, fire, notification };
}

describe('sw.js', () => {
  it('a click on a button opens its URL; a button without one, or the body, opens the notification url; each click is reported once with its button', async () => {
    const w = worker();
    await w.push({ track: 'T'.repeat(24), title: 'Sale', url: '/offers', actions: [{ action: 'buy', title: 'Buy', url: 'https://shop.example/buy' }, { action: 'later', title: 'Later' }] });
    const [n] = w.shown;
    expect(n!.options.actions).toEqual([{ action: 'buy', title: 'Buy' }, { action: 'later', title: 'Later' }]);
    await w.fire('notificationclick', { notification: w.notification(n!), action: 'buy' });
    await w.fire('notificationclick', { notification: w.notification(n!), action: 'later' });
    await w.fire('notificationclick', { notification: w.notification(n!), action: '' });
    expect(w.opened).toEqual(['https://shop.example/buy', 'https://site.example/offers', 'https://site.example/offers']);
    await w.fire('notificationclose', { notification: w.notification(n!) });
    expect(w.reports.map((r) => r.body)).toEqual([
      { token: 'T'.repeat(24), event: 'shown' },
      { token: 'T'.repeat(24), event: 'clicked', action: 'buy' },
      { token: 'T'.repeat(24), event: 'clicked', action: 'later' },
      { token: 'T'.repeat(24), event: 'clicked' },
      { token: 'T'.repeat(24), event: 'dismissed' },
    ]);
    expect(new Set(w.reports.map((r) => r.url))).toEqual(new Set(['https://push.example.com/events']));
    expect(w.reports.every((r) => r.keepalive === true)).toBe(true);
  });

  it('renders every option, passes unknown fields through in data.extra, sets the badge', async () => {
    const w = worker();
    await w.push({ title: 'T', body: 'B', image: '/i.png', icon: '/c.png', badge: '/b.png', tag: 'x', renotify: true, requireInteraction: true, silent: true, lang: 'fr', dir: 'rtl', timestamp: 5, badgeCount: 3, data: { a: 1 }, campaign: 'spring' });
    expect(w.shown[0]).toEqual({
      title: 'T',
      options: {
        body: 'B', image: '/i.png', icon: '/c.png', badge: '/b.png', tag: 'x', renotify: true, requireInteraction: true, silent: true, lang: 'fr', dir: 'rtl', timestamp: 5,
        data: { url: null, actions: {}, data: { a: 1 }, extra: { campaign: 'spring' }, track: null },
      },
    });
    expect(w.badges).toEqual([3]);
    expect(w.reports).toEqual([]); // no token, no reports
  });

  it('shows a declarative message like a classic one: navigate, require_interaction, action navigate, app_badge', async () => {
    const w = worker();
    await w.push({ web_push: 8030, track: 'D'.repeat(24), notification: { title: 'Declared', body: 'b', navigate: 'https://e.example/n', require_interaction: true, actions: [{ action: 'go', title: 'Go', navigate: 'https://e.example/go' }] }, app_badge: 0 });
    expect(w.shown[0]).toMatchObject({ title: 'Declared', options: { body: 'b', requireInteraction: true, actions: [{ action: 'go', title: 'Go' }], data: { url: 'https://e.example/n', actions: { go: 'https://e.example/go' }, track: 'D'.repeat(24) } } });
    expect(w.badges).toEqual(['cleared']);
    await w.fire('notificationclick', { notification: w.notification(w.shown[0]!), action: 'go' });
    expect(w.opened).toEqual(['https://e.example/go']);
  });

  it('always shows something: a plain notification when the full one is refused, the title alone after that; raw text becomes the body', async () => {
    const once = worker({ refuse: 1 });
    await once.push({ title: 'Fancy', body: 'b', renotify: true, tag: 't' });
    expect(once.shown).toEqual([{ title: 'Fancy', options: { body: 'b', data: expect.objectContaining({ url: null }) } }]);
    const twice = worker({ refuse: 2 });
    await twice.push({ title: 'Fancy' });
    expect(twice.shown).toEqual([{ title: 'Fancy', options: undefined }]);
    const raw = worker();
    await raw.push('just text');
    expect(raw.shown[0]).toMatchObject({ title: 'Notification', options: { body: 'just text' } });
    const empty = worker();
    await empty.push('');
    expect(empty.shown).toHaveLength(1);
  });
});
