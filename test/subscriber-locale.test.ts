/**
 * Each subscriber's time zone and language: received by `pushctl serve` (as the subscribe page and
 * sw.js send them), imported, exported, shown and changed with `subscriptions update`; bad values
 * are refused (exit 2 / HTTP 400) and write nothing.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDb, runCli, runJson, tempDir } from './support/cli.js';
import { call, serveConfig, startServe, type ServeHandle } from './support/serve.js';
import { allowOrigins, fakeSubscription } from './support/subscriptions.js';

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

interface Info {
  id: number;
  endpoint: string;
  timeZone: string | null;
  language: string | null;
  updatedAt: string;
}

function localeRows(db: string): { id: number; endpoint: string; time_zone: string | null; language: string | null }[] {
  const conn = openDb(db);
  try {
    return conn.prepare('SELECT id, endpoint, time_zone, language FROM subscriptions ORDER BY id').all() as never[];
  } finally {
    conn.close();
  }
}

async function workspace(options: { keys?: boolean } = {}) {
  const dir = tempDir();
  dirs.push(dir);
  const db = path.join(dir, 'pushctl.db');
  const env = { ...allowOrigins(), PUSHCTL_DB: db };
  if (options.keys !== false) {
    const keys = await runCli(['keys', 'generate', '--subject', 'mailto:ops@example.org'], { cwd: dir, env });
    expect(keys.code, keys.stderr).toBe(0);
  }
  return {
    dir,
    db,
    run: (args: string[], input?: string) => runCli(args, { cwd: dir, env, ...(input === undefined ? {} : { input }) }),
    json: <T>(args: string[]) => runJson<T>(args, { cwd: dir, env }),
  };
}

describe('subscriptions import/export/list/show: timeZone and language', () => {
  it('stores them in canonical form, shows them, and an export imports back unchanged', async () => {
    const ws = await workspace();
    const berlin = { ...fakeSubscription(), timeZone: 'europe/berlin', language: 'DE-de' };
    const tokyo = { ...fakeSubscription(), timeZone: 'Asia/Tokyo', language: 'ja' };
    const none = fakeSubscription();
    const imported = await ws.run(['subscriptions', 'import', '-'], [berlin, tokyo, none].map((r) => JSON.stringify(r)).join('\n'));
    expect(imported.code, imported.stderr).toBe(0);
    expect(localeRows(ws.db).map((r) => [r.time_zone, r.language])).toEqual([
      ['Europe/Berlin', 'de-DE'],
      ['Asia/Tokyo', 'ja'],
      [null, null],
    ]);

    const list = await ws.json<Info[]>(['subscriptions', 'list']);
    expect(list.map((s) => [s.timeZone, s.language])).toEqual([['Europe/Berlin', 'de-DE'], ['Asia/Tokyo', 'ja'], [null, null]]);
    const table = await ws.run(['subscriptions', 'list']);
    expect(table.stdout).toMatch(/TIME ZONE\s*│\s*LANGUAGE/);
    expect(table.stdout).toMatch(/Europe\/Berlin\s*│\s*de-DE/);
    const shown = await ws.run(['subscriptions', 'show', '2']);
    expect(shown.stdout).toMatch(/^time zone: +Asia\/Tokyo$/m);
    expect(shown.stdout).toMatch(/^language: +ja$/m);
    expect((await ws.run(['subscriptions', 'show', '3'])).stdout).toMatch(/^time zone: +\(unknown\)$/m);

    const exported = (await ws.run(['subscriptions', 'export'])).stdout;
    const records = exported.trim().split('\n').map((line) => JSON.parse(line) as { timeZone: string | null; language: string | null });
    expect(records.map((r) => [r.timeZone, r.language])).toEqual([['Europe/Berlin', 'de-DE'], ['Asia/Tokyo', 'ja'], [null, null]]);

    const other = await workspace({ keys: false });
    // Same keys in the other store: export the key pair across, as the docs say to.
    const keyFile = path.join(ws.dir, 'keys.json');
    expect((await ws.run(['keys', 'export', '--private', '-o', keyFile])).code).toBe(0);
    const keysImported = await other.run(['keys', 'import', keyFile]);
    expect(keysImported.code, keysImported.stderr).toBe(0);
    const back = await other.run(['subscriptions', 'import', '-'], exported);
    expect(back.code, back.stderr).toBe(0);
    expect((await other.run(['subscriptions', 'export'])).stdout).toBe(exported);
  }, 120_000);

  it('rejects unknown zones and malformed languages, naming line and field, and writes those records not at all', async () => {
    const ws = await workspace();
    const good = { ...fakeSubscription(), timeZone: 'America/New_York', language: 'en-US' };
    const badZone = { ...fakeSubscription(), timeZone: 'Mars/Olympus_Mons' };
    const offset = { ...fakeSubscription(), timeZone: '+02:00' };
    const badLanguage = { ...fakeSubscription(), language: 'en_US' };
    const wrongType = { ...fakeSubscription(), language: 42 };
    const input = [good, badZone, offset, badLanguage, wrongType].map((r) => JSON.stringify(r)).join('\n');

    const strict = await ws.run(['subscriptions', 'import', '-', '--strict', '--json'], input);
    expect(strict.code).toBe(2);
    expect(localeRows(ws.db)).toEqual([]);
    const summary = JSON.parse(strict.stdout) as { rejections: { line: number; field: string; message: string }[] };
    expect(summary.rejections.map((r) => [r.line, r.field])).toEqual([
      [2, 'timeZone'],
      [3, 'timeZone'],
      [4, 'language'],
      [5, 'language'],
    ]);
    expect(summary.rejections[0]!.message).toBe('line 2: timeZone: "Mars/Olympus_Mons" is not a known IANA time zone; use a name like Europe/Berlin, America/New_York or UTC');
    expect(summary.rejections[2]!.message).toMatch(/line 4: language: "en_US" is not a BCP 47 language tag/);

    const lenient = await ws.run(['subscriptions', 'import', '-'], input);
    expect(lenient.code).toBe(1);
    expect(localeRows(ws.db).map((r) => [r.endpoint, r.time_zone, r.language])).toEqual([[good.endpoint, 'America/New_York', 'en-US']]);
  }, 60_000);
});

describe('subscriptions update --time-zone --language', () => {
  it('changes, keeps and clears them; bad values exit 2 and change nothing', async () => {
    const ws = await workspace();
    const sub = { ...fakeSubscription(), timeZone: 'Europe/Berlin', language: 'de' };
    expect((await ws.run(['subscriptions', 'import', '-'], JSON.stringify(sub))).code).toBe(0);

    const changed = await ws.json<Info>(['subscriptions', 'update', '1', '--time-zone', 'america/new_york']);
    expect([changed.timeZone, changed.language]).toEqual(['America/New_York', 'de']);
    const byEndpoint = await ws.json<Info>(['subscriptions', 'update', sub.endpoint, '--language', 'en-gb']);
    expect([byEndpoint.timeZone, byEndpoint.language]).toEqual(['America/New_York', 'en-GB']);

    const before = localeRows(ws.db);
    for (const [args, pattern] of [
      [['--time-zone', 'Europe/Berlinn'], /--time-zone: "Europe\/Berlinn" is not a known IANA time zone/],
      [['--time-zone', 'Europe/Paris', '--language', 'not a tag'], /--language: "not a tag" is not a BCP 47 language tag/],
      [[], /nothing to change: give --time-zone and\/or --language/],
    ] as const) {
      const result = await ws.run(['subscriptions', 'update', '1', ...args]);
      expect(result.code, result.stderr).toBe(2);
      expect(result.stderr).toMatch(pattern);
      expect(result.stderr).not.toMatch(/at .*\.js:\d+/);
    }
    expect(localeRows(ws.db)).toEqual(before);
    const missing = await ws.run(['subscriptions', 'update', '99', '--language', 'fr']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/no subscription with id 99/);

    const cleared = await ws.json<Info>(['subscriptions', 'update', '1', '--time-zone', 'none', '--language', '']);
    expect([cleared.timeZone, cleared.language]).toEqual([null, null]);
  }, 60_000);
});

describe('POST /subscription: time_zone and language', () => {
  let serve: ServeHandle;
  const origin = 'http://127.0.0.1:9';

  beforeAll(async () => {
    serve = await startServe({ config: serveConfig({ push: { endpointOrigins: [origin] } }) });
    dirs.push(serve.dir);
    const created = await call(serve.url, 'POST', '/v1/pushnotification/categories', { admin: true, json: { name: 'news' } });
    expect(created.status).toBe(201);
  }, 60_000);

  afterAll(async () => {
    await serve?.stop();
  });

  const row = (endpoint: string) => localeRows(serve.db).find((r) => r.endpoint === endpoint);

  it('stores what the page sends, keeps it when a later post omits it, and hands it on after pushsubscriptionchange', async () => {
    const sub = fakeSubscription({ origin });
    const first = await call(serve.url, 'POST', '/subscription', { json: { subscription: sub, categories: ['news'], time_zone: 'Asia/Tokyo', language: 'ja-JP' } });
    expect(first.status).toBe(201);
    expect(row(sub.endpoint)).toMatchObject({ time_zone: 'Asia/Tokyo', language: 'ja-JP' });

    // The page saving topics from an older script (no zone): what was stored stays.
    expect((await call(serve.url, 'POST', '/subscription', { json: { subscription: sub, categories: ['news'] } })).status).toBe(200);
    expect(row(sub.endpoint)).toMatchObject({ time_zone: 'Asia/Tokyo', language: 'ja-JP' });
    // A bare PushSubscription (no wrapper) also leaves them alone.
    expect((await call(serve.url, 'POST', '/subscription', { json: sub })).status).toBe(200);
    expect(row(sub.endpoint)).toMatchObject({ time_zone: 'Asia/Tokyo', language: 'ja-JP' });

    // sw.js after pushsubscriptionchange: a traveller's new zone wins; the language carries over when absent.
    const fresh = fakeSubscription({ origin });
    const replaced = await call(serve.url, 'POST', '/subscription', { json: { subscription: fresh, old_endpoint: sub.endpoint, time_zone: 'Europe/Berlin' } });
    expect(replaced.status).toBe(201);
    expect(row(sub.endpoint)).toBeUndefined();
    expect(row(fresh.endpoint)).toMatchObject({ time_zone: 'Europe/Berlin', language: 'ja-JP' });
  });

  it('answers 400 naming the field for a bad zone or language, and stores nothing', async () => {
    const before = localeRows(serve.db);
    const sub = fakeSubscription({ origin });
    for (const [body, field, message] of [
      [{ subscription: sub, time_zone: 'Atlantis/Capital' }, 'time_zone', /^time_zone: "Atlantis\/Capital" is not a known IANA time zone/],
      [{ subscription: sub, time_zone: 7 }, 'time_zone', /^time_zone: must be an IANA time zone name/],
      [{ subscription: sub, language: 'english please' }, 'language', /^language: "english please" is not a BCP 47 language tag/],
      [{ subscription: sub, time_zone: 'Europe/Berlin', language: 'x'.repeat(100) }, 'language', /^language: "x{67}\.\.\." is not a BCP 47 language tag/],
    ] as const) {
      const answer = await call(serve.url, 'POST', '/subscription', { json: body });
      expect(answer.status).toBe(400);
      expect(answer.json.error).toMatchObject({ code: 'invalid_input', field });
      expect(answer.json.error.message).toMatch(message);
    }
    // A known subscriber sending a bad zone keeps what it had.
    const known = before[0]!;
    const existing = await call(serve.url, 'POST', '/subscription', {
      json: { subscription: { endpoint: known.endpoint, expirationTime: null, keys: fakeSubscription().keys }, time_zone: 'Nowhere/Land' },
    });
    expect(existing.status).toBe(400);
    expect(localeRows(serve.db)).toEqual(before);
  });

});
