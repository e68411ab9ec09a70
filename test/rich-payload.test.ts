/**
 * Rich notifications and Declarative Web Push: the one payload builder (src/core/message.ts)
 * against the field rules, then both faces end to end: `pushctl send`/`schedule` as a subprocess
 * and the admin API over a real socket, through the push-service stand-in that verifies VAPID and
 * decrypts, asserting the exact JSON that arrives.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { buildPayload, parseTimestamp } from '../src/core/message.js';
import { MAX_ACTIONS } from '../src/limits.js';
import type { MessageInput } from '../src/core/notification-spec.js';
import { PushctlError } from '../src/errors.js';
import { parseActionFlag } from '../src/cli/notification-flags.js';
import { runCli, runJson, tempDir } from './support/cli.js';
import { startPushService, type PushService } from './support/push-service.js';
import { call, serveConfig, startServe, type ServeHandle } from './support/serve.js';

const TOKEN = /^[A-Za-z0-9_-]{22}$/;

/** A received payload without its delivery token (push.tracking is on by default), checking the token's form. */
function untracked(text: string | undefined): Record<string, unknown> {
  const { track, ...rest } = JSON.parse(text!) as Record<string, unknown>;
  expect(track).toMatch(TOKEN);
  return rest;
}

const built = (message: MessageInput, format?: 'classic' | 'declarative') => JSON.parse(buildPayload(message, { format }).text) as Record<string, unknown>;

function refusal(message: MessageInput, format?: 'classic' | 'declarative'): { kind: string; message: string; field: unknown } {
  try {
    buildPayload(message, { format });
  } catch (error) {
    if (error instanceof PushctlError) return { kind: error.kind, message: error.message, field: error.field };
    throw error;
  }
  throw new Error('expected the payload to be refused');
}

describe('payload builder: classic', () => {
  it('carries every rich field under the Notification API option names, and nothing not given', () => {
    expect(
      built({
        title: 'Sale',
        body: 'Half price',
        url: '/offers',
        image: 'https://cdn.example.com/banner.png',
        tag: 'sale',
        lang: 'de-CH',
        dir: 'rtl',
        timestamp: '2030-05-01T09:30:00Z',
        requireInteraction: true,
        renotify: true,
        silent: false,
        actions: [
          { action: 'buy', title: 'Buy now', url: 'https://shop.example.com/buy' },
          { action: 'later', title: 'Later' },
        ],
        badgeCount: 3,
        data: { id: 9 },
      }),
    ).toEqual({
      title: 'Sale',
      body: 'Half price',
      url: '/offers',
      image: 'https://cdn.example.com/banner.png',
      tag: 'sale',
      lang: 'de-CH',
      dir: 'rtl',
      timestamp: Date.UTC(2030, 4, 1, 9, 30),
      requireInteraction: true,
      renotify: true,
      silent: false,
      actions: [
        { action: 'buy', title: 'Buy now', url: 'https://shop.example.com/buy' },
        { action: 'later', title: 'Later' },
      ],
      badgeCount: 3,
      data: { id: 9 },
    });
    expect(built({ title: 'Only a title' })).toEqual({ title: 'Only a title' });
    expect(built({ body: 'x', badgeCount: 0 })).toEqual({ body: 'x', badgeCount: 0 });
  });

  it(`refuses more than ${MAX_ACTIONS} actions, renotify without a tag, bad enums, links and numbers, naming the field`, () => {
    const three = [1, 2, 3].map((n) => ({ action: `a${n}`, title: `A${n}` }));
    expect(refusal({ title: 't', actions: three })).toMatchObject({ kind: 'input', field: 'actions', message: expect.stringContaining('at most 2') });
    expect(refusal({ title: 't', renotify: true })).toMatchObject({ kind: 'usage', field: 'renotify', message: expect.stringContaining('needs a tag') });
    expect(refusal({ title: 't', dir: 'up' as 'ltr' })).toMatchObject({ field: 'dir' });
    expect(refusal({ title: 't', lang: 'english please' })).toMatchObject({ field: 'lang' });
    expect(refusal({ title: 't', image: 'ftp://x/y.png' })).toMatchObject({ field: 'image' });
    expect(refusal({ title: 't', badgeCount: -1 })).toMatchObject({ field: 'badgeCount' });
    expect(refusal({ title: 't', badgeCount: 1.5 })).toMatchObject({ field: 'badgeCount' });
    expect(refusal({ title: 't', timestamp: 'yesterday' })).toMatchObject({ field: 'timestamp' });
    expect(refusal({ title: 't', requireInteraction: 'yes' as unknown as boolean })).toMatchObject({ field: 'requireInteraction' });
    expect(refusal({ title: 't', actions: [{ action: 'a', title: 'A' }, { action: 'a', title: 'B' }] })).toMatchObject({ message: expect.stringContaining('used twice') });
    expect(refusal({ title: 't', actions: [{ action: 'a b', title: 'A' }] })).toMatchObject({ field: 'actions' });
    expect(refusal({ title: 't', actions: [{ action: 'a', title: ' ' }] })).toMatchObject({ field: 'actions' });
    expect(refusal({ title: 't', actions: [{ action: 'a', title: 'A', url: 'javascript:alert(1)' }] })).toMatchObject({ field: 'actions[0].url' });
    expect(refusal({ title: 't', actions: [{ action: 'a', title: 'A', icon: 'x' } as never] })).toMatchObject({ message: expect.stringContaining('unknown field icon') });
    expect(refusal({ payload: '{}', image: 'https://x/y.png' })).toMatchObject({ field: 'payload' });
    expect(refusal({ payload: '{}', format: 'declarative' })).toMatchObject({ field: 'format' });
  });

  it('reads timestamps as ms since 1970 or ISO 8601 with an offset', () => {
    expect(parseTimestamp(0)).toBe(0);
    expect(parseTimestamp('1700000000000')).toBe(1_700_000_000_000);
    expect(parseTimestamp('2030-05-01T11:30:00+02:00')).toBe(Date.UTC(2030, 4, 1, 9, 30));
    expect(() => parseTimestamp('2030-05-01')).toThrow(/ISO 8601/);
    expect(() => parseTimestamp(-5)).toThrow(/milliseconds/);
  });

  it('parses --action ID:TITLE[:URL], titles may hold colons', () => {
    expect(parseActionFlag('open:Read it:https://example.com/a')).toEqual({ action: 'open', title: 'Read it', url: 'https://example.com/a' });
    expect(parseActionFlag('open:Read it')).toEqual({ action: 'open', title: 'Read it' });
    expect(parseActionFlag('t:Time: 10:30:/agenda')).toEqual({ action: 't', title: 'Time: 10:30', url: '/agenda' });
    expect(() => parseActionFlag('nocolon')).toThrow(/ID:TITLE/);
    expect(() => parseActionFlag(':x')).toThrow(/ID:TITLE/);
    expect(() => parseActionFlag('id:')).toThrow(/no title/);
  });
});

describe('payload builder: declarative (Declarative Web Push)', () => {
  it('builds {"web_push": 8030, "notification": {...}} with navigate, snake_case members and app_badge at the top level', () => {
    expect(
      built(
        {
          title: 'Match day',
          body: 'Kick-off at 20:00',
          url: 'https://example.com/live',
          icon: 'https://example.com/i.png',
          image: 'https://example.com/big.png',
          tag: 'match',
          lang: 'en',
          dir: 'ltr',
          silent: true,
          renotify: true,
          requireInteraction: true,
          timestamp: 1_700_000_000_000,
          actions: [
            { action: 'watch', title: 'Watch', url: 'https://example.com/watch' },
            { action: 'table', title: 'Table', url: 'https://example.com/table' },
          ],
          badgeCount: 2,
          data: { match: 4 },
        },
        'declarative',
      ),
    ).toEqual({
      web_push: 8030,
      notification: {
        title: 'Match day',
        navigate: 'https://example.com/live',
        body: 'Kick-off at 20:00',
        lang: 'en',
        dir: 'ltr',
        silent: true,
        tag: 'match',
        icon: 'https://example.com/i.png',
        image: 'https://example.com/big.png',
        renotify: true,
        require_interaction: true,
        timestamp: 1_700_000_000_000,
        actions: [
          { action: 'watch', title: 'Watch', navigate: 'https://example.com/watch' },
          { action: 'table', title: 'Table', navigate: 'https://example.com/table' },
        ],
        data: { match: 4 },
      },
      app_badge: 2,
    });
    // The notification's own format wins over the configured default.
    expect(built({ title: 'T', url: 'https://e.example/' , format: 'declarative' }, 'classic')).toEqual({ web_push: 8030, notification: { title: 'T', navigate: 'https://e.example/' } });
  });

  it('requires a title and an absolute https url, and a URL for every action', () => {
    expect(refusal({ body: 'no title', url: 'https://e.example/' }, 'declarative')).toMatchObject({ field: 'title' });
    expect(refusal({ title: 'T' }, 'declarative')).toMatchObject({ field: 'url', message: expect.stringContaining('navigate') });
    expect(refusal({ title: 'T', url: '/relative' }, 'declarative')).toMatchObject({ field: 'url', message: expect.stringContaining('absolute https') });
    expect(refusal({ title: 'T', url: 'http://e.example/' }, 'declarative')).toMatchObject({ field: 'url' });
    expect(refusal({ title: 'T', url: 'https://e.example/', icon: '/i.png' }, 'declarative')).toMatchObject({ field: 'icon' });
    expect(refusal({ title: 'T', url: 'https://e.example/', actions: [{ action: 'a', title: 'A' }] }, 'declarative')).toMatchObject({ field: 'actions', message: expect.stringContaining('needs a URL') });
    expect(refusal({ title: 'T', url: 'https://e.example/', actions: [{ action: 'a', title: 'A', url: '/a' }] }, 'declarative')).toMatchObject({ field: 'actions[0].url' });
  });

  it('keeps the whole message within 3993 bytes', () => {
    const body = 'x'.repeat(3993 - JSON.stringify({ web_push: 8030, notification: { title: 'T', navigate: 'https://e.example/', body: '' } }).length);
    expect(buildPayload({ title: 'T', url: 'https://e.example/', body, format: 'declarative' }).bytes).toBe(3993);
    expect(refusal({ title: 'T', url: 'https://e.example/', body: body + 'y', format: 'declarative' })).toMatchObject({ field: 'payload', message: expect.stringContaining('3994 bytes') });
  });
});

describe('rich and declarative payloads end to end', () => {
  let svc: PushService;
  let dir: string;
  let env: Record<string, string>;
  let publicKey: string;

  beforeAll(async () => {
    svc = await startPushService();
  });
  afterAll(async () => {
    await svc.close();
  });
  beforeEach(async () => {
    dir = tempDir('pushctl-rich-');
    env = { PUSHCTL_ENDPOINT_ORIGINS: svc.origin };
    svc.received.length = 0;
    publicKey = (await runJson<{ publicKey: string }>(['keys', 'generate', '--subject', 'mailto:ops@example.org'], { cwd: dir, env })).publicKey;
    const sub = svc.createSubscription(publicKey);
    fs.writeFileSync(path.join(dir, 'subs.ndjson'), JSON.stringify({ endpoint: sub.endpoint, keys: sub.keys }) + '\n');
    const imported = await runCli(['subscriptions', 'import', 'subs.ndjson'], { cwd: dir, env });
    expect(imported.code, imported.stderr).toBe(0);
  });
  afterEach(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('send: the rich flags arrive, decrypted, as exactly this JSON', async () => {
    const result = await runCli(
      ['send', '--all', '--title', 'Sale', '--body', 'Half price', '--url', '/offers', '--image', 'https://cdn.example.com/b.png', '--tag', 'sale', '--renotify',
        '--require-interaction', '--silent', '--lang', 'fr', '--dir', 'auto', '--timestamp', '2030-05-01T09:30:00Z', '--badge-count', '4',
        '--action', 'buy:Buy: now:https://shop.example.com/buy', '--action', 'later:Later', '--json'],
      { cwd: dir, env },
    );
    expect(result.code, result.stderr).toBe(0);
    expect(svc.received).toHaveLength(1);
    const { track } = JSON.parse(svc.received[0]!.payload!) as { track: string };
    expect(track).toMatch(TOKEN);
    expect(svc.received[0]!.payload).toBe(
      JSON.stringify({
        track,
        title: 'Sale', body: 'Half price', url: '/offers', image: 'https://cdn.example.com/b.png', tag: 'sale', lang: 'fr', dir: 'auto',
        timestamp: Date.UTC(2030, 4, 1, 9, 30), requireInteraction: true, renotify: true, silent: true,
        actions: [{ action: 'buy', title: 'Buy: now', url: 'https://shop.example.com/buy' }, { action: 'later', title: 'Later' }], badgeCount: 4,
      }),
    );
  });

  it('send --format declarative, and push.payloadFormat as the default, arrive as Declarative Web Push JSON', async () => {
    const first = await runCli(['send', '--all', '--format', 'declarative', '--title', 'Hello', '--body', 'Declared', '--url', 'https://example.com/post', '--badge-count', '1', '--json'], { cwd: dir, env });
    expect(first.code, first.stderr).toBe(0);
    expect(untracked(svc.received[0]!.payload)).toEqual({ web_push: 8030, notification: { title: 'Hello', navigate: 'https://example.com/post', body: 'Declared' }, app_badge: 1 });

    fs.writeFileSync(path.join(dir, 'push.config.json'), JSON.stringify({ push: { payloadFormat: 'declarative' } }));
    const second = await runCli(['send', '--all', '--title', 'Again', '--url', 'https://example.com/2', '--json'], { cwd: dir, env });
    expect(second.code, second.stderr).toBe(0);
    expect(untracked(svc.received[1]!.payload)).toEqual({ web_push: 8030, notification: { title: 'Again', navigate: 'https://example.com/2' } });
    // --format classic overrides the configured default; --payload still goes out raw.
    await runJson(['send', '--all', '--format', 'classic', '--title', 'Classic'], { cwd: dir, env });
    expect(untracked(svc.received[2]!.payload)).toEqual({ title: 'Classic' });
    await runJson(['send', '--all', '--payload', '{"raw":true}'], { cwd: dir, env });
    expect(svc.received[3]!.payload).toBe('{"raw":true}');
  });

  it('send and schedule refuse bad rich flags with exit 2, naming the flag, and store nothing', async () => {
    const cases: [string[], RegExp][] = [
      [['--title', 't', '--renotify'], /--renotify: needs a --tag/],
      [['--title', 't', '--action', 'a:A', '--action', 'b:B', '--action', 'c:C'], /--action: at most 2/],
      [['--title', 't', '--action', 'broken'], /--action: "broken" must be ID:TITLE/],
      [['--title', 't', '--badge-count', 'many'], /--badge-count: "many"/],
      [['--title', 't', '--dir', 'sideways'], /--dir/],
      [['--title', 't', '--timestamp', 'soon'], /timestamp: "soon"/],
      [['--title', 't', '--format', 'declarative'], /url: a declarative notification needs a url/],
      [['--title', 't', '--format', 'declarative', '--url', 'http://example.com/'], /absolute https/],
    ];
    for (const [args, message] of cases) {
      for (const command of [['send', '--all'], ['schedule', '--all', '--in', '1h']]) {
        const result = await runCli([...command, ...args], { cwd: dir, env });
        expect(result.code, `${command.join(' ')} ${args.join(' ')}: ${result.stderr}`).toBe(2);
        expect(result.stderr).toMatch(message);
        expect(result.stderr).not.toMatch(/\n\s+at /);
      }
    }
    expect(svc.received).toHaveLength(0);
    const listed = await runJson<unknown[]>(['notifications', 'list'], { cwd: dir, env });
    expect(listed).toHaveLength(0);
  });

  it('schedule --dry-run shows the rich payload it would store', async () => {
    const preview = await runJson<{ payload: unknown }>(['schedule', '--all', '--in', '1h', '--title', 'Later', '--image', '/img.png', '--action', 'go:Go:/go', '--dry-run'], { cwd: dir, env });
    expect(preview.payload).toEqual({ title: 'Later', image: '/img.png', actions: [{ action: 'go', title: 'Go', url: '/go' }] });
  });
});

describe('admin API: snake_case rich fields', () => {
  let svc: PushService;
  let serve: ServeHandle;

  beforeAll(async () => {
    svc = await startPushService();
    serve = await startServe({ config: serveConfig({ push: { endpointOrigins: [svc.origin] } }) });
    const publicKey = (await call(serve.url, 'GET', '/subscription')).json.public_key as string;
    const sub = svc.createSubscription(publicKey);
    expect((await call(serve.url, 'POST', '/subscription', { json: { subscription: { endpoint: sub.endpoint, keys: sub.keys } } })).status).toBe(201);
  });
  afterAll(async () => {
    await serve.stop();
    await svc.close();
  });

  async function sent(id: number): Promise<Record<string, unknown>> {
    for (;;) {
      const view = await call(serve.url, 'GET', `/v1/pushnotification/${id}`, { admin: true });
      if (view.json.status !== 'sending') return view.json as Record<string, unknown>;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  it('POST /v1/pushnotification takes image, actions, require_interaction, renotify, silent, lang, dir, timestamp, badge_count, format', async () => {
    svc.received.length = 0;
    const classic = await call(serve.url, 'POST', '/v1/pushnotification', {
      admin: true,
      json: {
        all: true, title: 'API', body: 'Rich', image: 'https://e.example/i.png', tag: 'api', renotify: true, require_interaction: true, silent: false,
        lang: 'en-GB', dir: 'ltr', timestamp: 1_700_000_000_000, badge_count: 0, actions: [{ action: 'ok', title: 'OK', url: 'https://e.example/ok' }],
      },
    });
    expect(classic.status, classic.text).toBe(201);
    expect((await sent(classic.json.id)).status).toBe('sent');
    expect(untracked(svc.received[0]!.payload)).toEqual({
      title: 'API', body: 'Rich', image: 'https://e.example/i.png', tag: 'api', lang: 'en-GB', dir: 'ltr', timestamp: 1_700_000_000_000,
      requireInteraction: true, renotify: true, silent: false, actions: [{ action: 'ok', title: 'OK', url: 'https://e.example/ok' }], badgeCount: 0,
    });

    const declarative = await call(serve.url, 'POST', '/v1/pushnotification', {
      admin: true,
      json: { all: true, format: 'declarative', title: 'Declared', url: 'https://e.example/d', timestamp: '2030-05-01T09:30:00Z', badge_count: 7 },
    });
    expect(declarative.status, declarative.text).toBe(201);
    expect((await sent(declarative.json.id)).status).toBe('sent');
    expect(untracked(svc.received[1]!.payload)).toEqual({ web_push: 8030, notification: { title: 'Declared', navigate: 'https://e.example/d', timestamp: Date.UTC(2030, 4, 1, 9, 30) }, app_badge: 7 });
  });

  it('answers 400 naming the snake_case field, and stores nothing', async () => {
    const before = (await call(serve.url, 'GET', '/v1/pushnotification', { admin: true })).json.notifications.length as number;
    const cases: [Record<string, unknown>, string][] = [
      [{ require_interaction: 'yes' }, 'require_interaction'],
      [{ badge_count: '3' }, 'badge_count'],
      [{ badge_count: -3 }, 'badge_count'],
      [{ actions: { ok: 'OK' } }, 'actions'],
      [{ actions: [{ action: 'a', title: 'A' }, { action: 'b', title: 'B' }, { action: 'c', title: 'C' }] }, 'actions'],
      [{ renotify: true }, 'renotify'],
      [{ dir: 'down' }, 'dir'],
      [{ timestamp: true }, 'timestamp'],
      [{ format: 'fancy' }, 'format'],
      [{ format: 'declarative' }, 'url'],
    ];
    for (const [fields, field] of cases) {
      const response = await call(serve.url, 'POST', '/v1/pushnotification', { admin: true, json: { all: true, title: 't', ...fields } });
      expect(response.status, JSON.stringify(fields)).toBe(400);
      expect(response.json.error.field, JSON.stringify(fields)).toBe(field);
    }
    expect((await call(serve.url, 'GET', '/v1/pushnotification', { admin: true })).json.notifications).toHaveLength(before);
  });
});
