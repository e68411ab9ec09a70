/**
 * `pushctl subscriptions ...` through the built CLI, with the results checked in the SQLite file.
 */
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { mountTinyFs, type TinyFs } from './support/tiny-fs.js';
import { createEmptyStore, itOnSqlite, missingStoreMessage, storeExists } from './support/backend.js';
import { BIN, cliEnv, openDb, runCli, runJson, startCli, tempDir, type RunOptions } from './support/cli.js';
import { allowOrigins, fakeSubscription, manySubscriptions, offCurvePoint, TEST_ORIGIN, writeNdjson } from './support/subscriptions.js';

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

interface Workspace {
  dir: string;
  db: string;
  env: Record<string, string>;
  run(args: string[], options?: RunOptions): ReturnType<typeof runCli>;
  json<T>(args: string[], options?: RunOptions): Promise<T>;
  file(name: string, content: string): string;
  rows(): { id: number; endpoint: string; p256dh: string; auth: string; key_id: number; label: string | null; user_agent: string | null; created_at: number; updated_at: number; last_success_at: number | null; failure_count: number }[];
  memberships(): { endpoint: string; name: string }[];
}

async function workspace(extraEnv: Record<string, string> = {}): Promise<Workspace> {
  const dir = tempDir();
  dirs.push(dir);
  const db = path.join(dir, 'pushctl.db');
  const env = { ...allowOrigins(), PUSHCTL_DB: db, ...extraEnv };
  const ws: Workspace = {
    dir,
    db,
    env,
    run: (args, options = {}) => runCli(args, { cwd: dir, env, ...options }),
    json: (args, options = {}) => runJson(args, { cwd: dir, env, ...options }),
    file: (name, content) => {
      const file = path.join(dir, name);
      fs.writeFileSync(file, content);
      return file;
    },
    rows: () => query(db, 'SELECT * FROM subscriptions ORDER BY id'),
    memberships: () =>
      query(db, 'SELECT s.endpoint, c.name FROM subscription_categories sc JOIN subscriptions s ON s.id = sc.subscription_id JOIN categories c ON c.id = sc.category_id ORDER BY s.endpoint, c.name'),
  };
  const keys = await ws.run(['keys', 'generate', '--subject', 'mailto:ops@example.org']);
  expect(keys.code, keys.stderr).toBe(0);
  return ws;
}

function query<T>(file: string, sql: string): T[] {
  const db = openDb(file);
  try {
    return db.prepare(sql).all() as T[];
  } finally {
    db.close();
  }
}

const ndjson = (records: unknown[]) => records.map((r) => JSON.stringify(r)).join('\n') + '\n';

interface Summary {
  format: string;
  records: number;
  imported: number;
  updated: number;
  rejected: number;
  written: boolean;
  rejections: { line: number; index?: number; field?: string; message: string }[];
}

describe('subscriptions import: formats', () => {
  it('reads NDJSON, stores normalised keys under the active VAPID key', async () => {
    const ws = await workspace();
    const subs = [fakeSubscription(), fakeSubscription(), fakeSubscription()];
    // Standard base64 with padding is accepted and stored as unpadded base64url.
    const padded = { ...subs[2]!, keys: { p256dh: toStdBase64(subs[2]!.keys.p256dh), auth: toStdBase64(subs[2]!.keys.auth) } };
    expect(padded.keys.auth.endsWith('==')).toBe(true);
    const file = ws.file('subs.ndjson', ndjson([subs[0], subs[1], padded]));
    const result = await ws.run(['subscriptions', 'import', file]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('imported 3');
    const rows = ws.rows();
    expect(rows.map((r) => [r.endpoint, r.p256dh, r.auth])).toEqual(subs.map((s) => [s.endpoint, s.keys.p256dh, s.keys.auth]));
    const keyId = query<{ id: number }>(ws.db, 'SELECT id FROM vapid_keys WHERE active = 1')[0]!.id;
    expect(rows.every((r) => r.key_id === keyId && Number.isInteger(r.created_at) && r.failure_count === 0)).toBe(true);
  });

  it('reads a pretty-printed JSON array and a {subscriptions: [...]} object, and standard input', async () => {
    const ws = await workspace();
    const a = [fakeSubscription(), fakeSubscription()];
    const b = [fakeSubscription(), fakeSubscription()];
    const c = [fakeSubscription()];
    const array = await ws.json<Summary>(['subscriptions', 'import', ws.file('a.json', JSON.stringify(a, null, 2))]);
    expect(array).toMatchObject({ format: 'json-array', imported: 2, rejected: 0 });
    const wrapped = JSON.stringify({ exportedAt: '2024-01-01', meta: { nested: [1, { x: '}' }] }, subscriptions: b, total: 2 }, null, 2);
    const object = await ws.json<Summary>(['subscriptions', 'import', ws.file('b.json', wrapped)]);
    expect(object).toMatchObject({ format: 'json-object', imported: 2, rejected: 0 });
    const stdin = await ws.json<Summary>(['subscriptions', 'import', '-'], { input: JSON.stringify({ subscriptions: c }) });
    expect(stdin).toMatchObject({ format: 'json-object', imported: 1 });
    expect(ws.rows().map((r) => r.endpoint)).toEqual([...a, ...b, ...c].map((s) => s.endpoint));
  });

  it('reports a malformed element of a JSON array by index and line, and imports the rest', async () => {
    const ws = await workspace();
    const [s1, s2] = [fakeSubscription(), fakeSubscription()];
    const text = `[\n${JSON.stringify(s1)},\n{"endpoint": oops},\n${JSON.stringify(s2)}\n]\n`;
    const result = await ws.run(['subscriptions', 'import', ws.file('bad.json', text), '--json']);
    expect(result.code).toBe(1);
    const summary = JSON.parse(result.stdout) as Summary;
    expect(summary).toMatchObject({ records: 3, imported: 2, rejected: 1 });
    expect(summary.rejections[0]).toMatchObject({ index: 1, line: 3 });
    expect(summary.rejections[0]!.message).toMatch(/^index 1 \(line 3\): not JSON/);
    expect(ws.rows()).toHaveLength(2);
  });

  it('stops at a broken JSON document, naming the line, and keeps the records before it', async () => {
    const ws = await workspace();
    const s1 = fakeSubscription();
    const result = await ws.run(['subscriptions', 'import', ws.file('broken.json', `[\n${JSON.stringify(s1)}\n${JSON.stringify(fakeSubscription())}\n]`), '--json']);
    expect(result.code).toBe(1);
    const summary = JSON.parse(result.stdout) as Summary;
    expect(summary.rejections[0]!.message).toMatch(/line 3: .*expected "," or "\]"/);
    expect(summary).toMatchObject({ records: 2, imported: 1, rejected: 1 });
    expect(ws.rows().map((r) => r.endpoint)).toEqual([s1.endpoint]);
  });
});

describe('subscriptions import: counts add up', () => {
  it('a line that is not JSON is a record and a rejection', async () => {
    const ws = await workspace();
    const one = await ws.run(['subscriptions', 'import', '-'], { input: 'x\n' });
    expect(one.code).toBe(1);
    expect(one.stdout).toContain('rejected 1 (1 record, ndjson)');
    const summary = JSON.parse((await ws.run(['subscriptions', 'import', '-', '--json'], { input: `${JSON.stringify(fakeSubscription())}\nnot json\n{"also": broken\n` })).stdout) as Summary;
    expect(summary).toMatchObject({ records: 3, imported: 1, rejected: 2 });
  });
});

describe('subscriptions import: validation', () => {
  const bad = () => {
    const good = fakeSubscription();
    return [
      { record: good },
      { record: { ...fakeSubscription(), keys: { ...good.keys, p256dh: offCurvePoint() } }, reason: /line 2: keys\.p256dh: is not a point on the P-256 curve/ },
      { record: { ...fakeSubscription(), keys: { ...good.keys, auth: crypto.randomBytes(12).toString('base64url') } }, reason: /line 3: keys\.auth: must be 16 bytes, got 12/ },
      { record: { ...fakeSubscription(), endpoint: 'https://push.evil.example/abc' }, reason: /line 4: endpoint: https:\/\/push\.evil\.example is not a known push service/ },
      { record: { ...fakeSubscription(), endpoint: 'http://push.example.net:8080/abc' }, reason: /line 5: endpoint: plain http is allowed only for an origin listed/ },
      { record: { ...fakeSubscription(), endpoint: 'https://192.168.1.10/push' }, reason: /line 6: endpoint: 192\.168\.1\.10 is a private address/ },
      { record: { endpoint: `${TEST_ORIGIN}/push/nokeys` }, reason: /line 7: keys: is missing/ },
      { text: '{"endpoint": "not closed"', reason: /line 8: not JSON/ },
      { record: fakeSubscription() },
    ];
  };
  const text = (cases: ReturnType<typeof bad>) => cases.map((c) => c.text ?? JSON.stringify(c.record)).join('\n') + '\n';

  it('without --strict: imports the good records, reports each bad one with line and reason, exits 1', async () => {
    const ws = await workspace();
    const cases = bad();
    const result = await ws.run(['subscriptions', 'import', ws.file('mixed.ndjson', text(cases))]);
    expect(result.code).toBe(1);
    for (const c of cases) if (c.reason) expect(result.stderr).toMatch(c.reason);
    expect(result.stdout).toContain('imported 2, updated 0, rejected 7 (9 records, ndjson)');
    expect(ws.rows().map((r) => r.endpoint)).toEqual([cases[0]!.record!.endpoint, cases[8]!.record!.endpoint]);
  });

  it('with --strict: writes nothing when any record is bad (exit 2), everything when all are good', async () => {
    const ws = await workspace();
    await ws.run(['categories', 'add', 'news']);
    const result = await ws.run(['subscriptions', 'import', ws.file('mixed.ndjson', text(bad())), '--strict', '--category', 'news', '--json']);
    expect(result.code).toBe(2);
    expect(JSON.parse(result.stdout)).toMatchObject({ written: false, rejected: 7, imported: 2 });
    expect(ws.rows()).toHaveLength(0);
    expect(ws.memberships()).toHaveLength(0);

    const good = ws.file('good.ndjson', ndjson([fakeSubscription(), fakeSubscription()]));
    const ok = await ws.json<Summary>(['subscriptions', 'import', good, '--strict', '--category', 'news']);
    expect(ok).toMatchObject({ written: true, imported: 2, rejected: 0 });
    expect(ws.memberships()).toHaveLength(2);
  });

  it('--dry-run validates and predicts but writes nothing', async () => {
    const ws = await workspace();
    const existing = fakeSubscription();
    await ws.run(['subscriptions', 'import', '-'], { input: ndjson([existing]) });
    const result = await ws.run(['subscriptions', 'import', ws.file('d.ndjson', text(bad()) + JSON.stringify(existing) + '\n'), '--dry-run', '--json']);
    expect(result.code).toBe(1);
    expect(JSON.parse(result.stdout)).toMatchObject({ dryRun: true, written: false, imported: 2, updated: 1, rejected: 7 });
    expect(ws.rows()).toHaveLength(1);
  });

  it('applies the endpoint policy: credentials, ports, IP literals, schemes, configured wildcards', async () => {
    const ws = await workspace(allowOrigins(TEST_ORIGIN, 'https://*.push.example.org', 'http://10.1.2.3:8080'));
    const cases: [string, RegExp | null][] = [
      ['https://fcm.googleapis.com/fcm/send/abc', null],
      ['https://updates.push.services.mozilla.com/wpush/v2/abc', null],
      ['https://wns2-par02p.notify.windows.com/w/?token=abc', null],
      ['https://web.push.apple.com/QGFu', null],
      ['https://eu.push.example.org/x', null],
      ['http://10.1.2.3:8080/listed-private-ip', null],
      ['https://push.example.org/x', /not a known push service/],
      ['http://eu.push.example.org/x', /plain http is allowed only/],
      ['https://fcm.googleapis.com:8443/fcm/send/abc', /port 8443 is not allowed for fcm\.googleapis\.com/],
      ['http://fcm.googleapis.com/fcm/send/abc', /must be reached over https/],
      ['https://user:pw@fcm.googleapis.com/fcm/send/abc', /credentials in the URL/],
      ['https://[::1]/x', /::1 is a loopback address/],
      ['http://127.0.0.1:8080/x', /127\.0\.0\.1 is a loopback address/],
      ['https://169.254.169.254/latest/meta-data', /link-local address/],
      ['http://10.1.2.3:8081/other-port', /10\.1\.2\.3 is a private address/],
      ['https://fcm.googleapis.com.evil.example/x', /not a known push service/],
      ['ftp://fcm.googleapis.com/x', /scheme ftp: is not allowed/],
      ['/relative/path', /is not an absolute URL/],
      ['https://fcm.googleapis.com/a#frag', /fragment/],
      ['https://.notify.windows.com/x', /empty label/],
      ['https://a..notify.windows.com/x', /empty label/],
      ['https://fcm.googleapis.com./x', /empty label/],
    ];
    const records = cases.map(([endpoint]) => ({ ...fakeSubscription(), endpoint }));
    const result = await ws.run(['subscriptions', 'import', ws.file('policy.ndjson', ndjson(records)), '--json']);
    const summary = JSON.parse(result.stdout) as Summary;
    const byLine = new Map(summary.rejections.map((r) => [r.line, r.message]));
    cases.forEach(([endpoint, reason], i) => {
      if (reason) expect(byLine.get(i + 1), endpoint).toMatch(reason);
      else expect(byLine.get(i + 1), endpoint).toBeUndefined();
    });
    expect(ws.rows()).toHaveLength(cases.filter(([, r]) => r === null).length);
  });

  it('refuses an http wildcard in the configured origins', async () => {
    const ws = await workspace();
    const result = await ws.run(['subscriptions', 'import', ws.file('x.ndjson', ndjson([fakeSubscription()]))], { env: { ...ws.env, PUSHCTL_ENDPOINT_ORIGINS: 'http://*.example.net' } });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/plain http is allowed only for one named host/);
  });

  it('refuses an unknown --category unless --create-categories, and bad category names', async () => {
    const ws = await workspace();
    const file = ws.file('s.ndjson', ndjson([fakeSubscription()]));
    const unknown = await ws.run(['subscriptions', 'import', file, '--category', 'sport']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/--category: category "sport" does not exist/);
    const badName = await ws.run(['subscriptions', 'import', file, '--category', 'Sport News']);
    expect(badName.code).toBe(2);
    expect(badName.stderr).toMatch(/"Sport News" is not a valid category name/);
    expect(ws.rows()).toHaveLength(0);
    const created = await ws.json<{ createdCategories: string[] }>(['subscriptions', 'import', file, '--category', 'sport', '--create-categories']);
    expect(created.createdCategories).toEqual(['sport']);
    expect(ws.memberships().map((m) => m.name)).toEqual(['sport']);
  });

  it('refuses to import before VAPID keys exist', async () => {
    const dir = tempDir();
    dirs.push(dir);
    const env = { ...allowOrigins(), PUSHCTL_DB: path.join(dir, 'x.db') };
    const noStore = await runCli(['subscriptions', 'import', '-'], { cwd: dir, env, input: ndjson([fakeSubscription()]) });
    expect(noStore.code).toBe(1);
    expect(noStore.stderr).toContain(missingStoreMessage(path.join(dir, 'x.db')));
    expect(storeExists(path.join(dir, 'x.db'))).toBe(false);
    // A store without keys (as the store code creates it, e.g. before "keys import").
    await createEmptyStore(path.join(dir, 'x.db'));
    const result = await runCli(['subscriptions', 'import', '-'], { cwd: dir, env, input: ndjson([fakeSubscription()]) });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/no VAPID keys yet/);
  });
});

describe('subscriptions import: upsert and round trip', () => {
  it('the same endpoint twice is one subscription: new keys and categories replace old', async () => {
    const ws = await workspace();
    await ws.run(['categories', 'add', 'news']);
    await ws.run(['categories', 'add', 'sport']);
    const first = fakeSubscription();
    await ws.run(['subscriptions', 'import', '-', '--category', 'news'], { input: ndjson([{ ...first, label: 'kiosk' }]) });
    const [before] = ws.rows();
    const second = { ...fakeSubscription(), endpoint: first.endpoint, categories: ['sport'] };
    const summary = await ws.json<Summary>(['subscriptions', 'import', '-'], { input: ndjson([second]) });
    expect(summary).toMatchObject({ imported: 0, updated: 1 });
    const rows = ws.rows();
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ id: before!.id, p256dh: second.keys.p256dh, auth: second.keys.auth, label: 'kiosk', created_at: before!.created_at });
    expect(ws.memberships()).toEqual([{ endpoint: first.endpoint, name: 'sport' }]);
  });

  it('percent-encoded unreserved characters name the same endpoint: one subscription, found either way', async () => {
    const ws = await workspace();
    const plain = { ...fakeSubscription(), endpoint: 'https://fcm.googleapis.com/fcm/send/race/1?k=a~b' };
    const encoded = { ...fakeSubscription(), endpoint: 'https://fcm.googleapis.com/fcm/send/r%61ce/%31?k=a%7eb' };
    const lower = { ...fakeSubscription(), endpoint: 'https://fcm.googleapis.com/fcm/send/x%2fy%c3%a9' };
    const summary = await ws.json<Summary>(['subscriptions', 'import', '-'], { input: ndjson([plain, encoded, lower]) });
    expect(summary).toMatchObject({ imported: 2, updated: 1, rejected: 0 });
    expect(ws.rows().map((r) => [r.endpoint, r.p256dh])).toEqual([
      [plain.endpoint, encoded.keys.p256dh],
      ['https://fcm.googleapis.com/fcm/send/x%2Fy%C3%A9', lower.keys.p256dh],
    ]);
    const shown = await ws.json<{ id: number }>(['subscriptions', 'show', 'https://fcm.googleapis.com/fcm/send/race/%31?k=a%7Eb']);
    expect(shown.id).toBe(ws.rows()[0]!.id);
  });

  it('export writes NDJSON that import reads back unchanged, into the same or a fresh store', async () => {
    const ws = await workspace();
    await ws.run(['categories', 'add', 'news']);
    await ws.run(['categories', 'add', 'sport']);
    const records = [
      { ...fakeSubscription(), categories: ['news', 'sport'], label: 'lobby screen', userAgent: 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Firefox/128.0', lastSuccessAt: '2024-05-01T10:00:00.000Z', failureCount: 2, createdAt: '2024-01-02T03:04:05.678Z' },
      { ...fakeSubscription(), expirationTime: 1893456000000, categories: [] },
      { ...fakeSubscription(), unknownFieldFromOtherSystem: { x: 1 } },
    ];
    expect((await ws.run(['subscriptions', 'import', '-'], { input: ndjson(records) })).code).toBe(0);
    const exported = path.join(ws.dir, 'out.ndjson');
    const exportRun = await ws.run(['subscriptions', 'export', exported]);
    expect(exportRun.code, exportRun.stderr).toBe(0);
    expect(fs.statSync(exported).mode & 0o777).toBe(0o600);
    const text = fs.readFileSync(exported, 'utf8');
    const lines = text.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines[0]).toMatchObject({ endpoint: records[0]!.endpoint, keys: records[0]!.keys, categories: ['news', 'sport'], label: 'lobby screen', failureCount: 2, lastSuccessAt: '2024-05-01T10:00:00.000Z', createdAt: '2024-01-02T03:04:05.678Z' });
    expect(lines[1]).toMatchObject({ expirationTime: 1893456000000 });
    expect(lines[2]).not.toHaveProperty('unknownFieldFromOtherSystem');

    // Same store: every record is an update, and nothing changes.
    expect(await ws.json<Summary>(['subscriptions', 'import', exported])).toMatchObject({ imported: 0, updated: 3, rejected: 0 });
    expect((await ws.run(['subscriptions', 'export'])).stdout).toBe(text);

    // A fresh store with the same VAPID key (exported, then imported).
    const keyFile = path.join(ws.dir, 'keys.json');
    await ws.run(['keys', 'export', '--private', '-o', keyFile]);
    const fresh = await workspace();
    await fresh.run(['keys', 'import', keyFile, '--force']);
    expect(await fresh.json<Summary>(['subscriptions', 'import', exported, '--create-categories'])).toMatchObject({ imported: 3, rejected: 0 });
    expect((await fresh.run(['subscriptions', 'export'])).stdout).toBe(text);
    expect((await fresh.run(['subscriptions', 'export', '--category', 'sport'])).stdout).toBe(text.split('\n')[0] + '\n');
  });

  it('refuses records made under a VAPID key this store does not have', async () => {
    const ws = await workspace();
    const other = crypto.createECDH('prime256v1');
    other.generateKeys();
    const result = await ws.run(['subscriptions', 'import', '-', '--json'], { input: ndjson([{ ...fakeSubscription(), vapidPublicKey: other.getPublicKey().toString('base64url') }]) });
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/line 1: vapidPublicKey: is not a VAPID key in this store/);
  });

  it('commits what arrived when a piped input pauses, so the import never holds the database while waiting', async () => {
    const ws = await workspace();
    const subs = [...manySubscriptions(20)];
    // startCli ends stdin at once, so spawn the CLI here to keep its input open.
    const importer = spawn(process.execPath, [BIN, 'subscriptions', 'import', '-', '--json'], { cwd: ws.dir, env: cliEnv(ws.env, ws.dir), stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    importer.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    const exited = new Promise<number | null>((resolve) => importer.on('close', resolve));
    importer.stdin.write(ndjson(subs.slice(0, 10)));
    let seen = 0;
    for (let i = 0; i < 200 && seen < 10; i++) {
      await new Promise((r) => setTimeout(r, 50));
      if (storeExists(ws.db)) seen = query<{ n: number }>(ws.db, 'SELECT count(*) AS n FROM subscriptions')[0]!.n;
    }
    // The first ten are committed and visible while the importer still waits for more input.
    expect(seen).toBe(10);
    expect(importer.exitCode).toBeNull();
    importer.stdin.end(ndjson(subs.slice(10)));
    expect(await exited).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({ imported: 20, rejected: 0 });
    expect(ws.rows()).toHaveLength(20);
  });

  const tiny = mountTinyFs(512);
  afterAll(() => {
    if ('dir' in tiny) tiny.unmount();
  });
  // A SQLite file on a full file system (PostgreSQL's own disk is the server's business).
  itOnSqlite.skipIf('unavailable' in tiny)('on a full disk stops with a message saying so and what was committed, exit 1 (a real 512 KiB tmpfs)', async () => {
    const db = path.join((tiny as TinyFs).dir, 'pushctl.db');
    const ws = await workspace({ PUSHCTL_DB: db });
    const importer = spawn(process.execPath, [BIN, 'subscriptions', 'import', '-'], { cwd: ws.dir, env: cliEnv(ws.env, ws.dir), stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    importer.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    importer.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => importer.on('close', resolve));
    // It may stop reading at the first batch that does not fit, before all of the input is written.
    importer.stdin.on('error', () => undefined);
    importer.stdin.write(ndjson([...manySubscriptions(100)]));
    // The first hundred are committed while the importer waits for more input.
    await expect.poll(() => query<{ n: number }>(db, 'SELECT count(*) AS n FROM subscriptions')[0]!.n, { timeout: 30_000, interval: 50 }).toBe(100);
    importer.stdin.end(ndjson([...manySubscriptions(3000)]));
    expect(await exited).toBe(1);
    expect(stdout).toBe('');
    expect(stderr).toMatch(/^error: the disk is full: the import stopped after \d+ records; 100 records were committed before that and stay/);
    expect(stderr).not.toMatch(/internal error|SQLITE|\n\s+at /);
    expect(query<{ n: number }>(db, 'SELECT count(*) AS n FROM subscriptions')[0]!.n).toBe(100);
  });

  it('an interrupted import leaves whole records only (row and categories together)', async () => {
    const ws = await workspace();
    await ws.run(['categories', 'add', 'news']);
    await ws.run(['categories', 'add', 'sport']);
    const file = path.join(ws.dir, 'big.ndjson');
    writeNdjson(file, 300_000);
    const { child, done } = startCli(['subscriptions', 'import', file, '--category', 'news', '--category', 'sport'], { cwd: ws.dir, env: ws.env });
    // Kill it once some batches are committed.
    for (let i = 0; i < 600; i++) {
      await new Promise((r) => setTimeout(r, 50));
      if (storeExists(ws.db) && query<{ n: number }>(ws.db, 'SELECT count(*) AS n FROM subscriptions')[0]!.n > 0) break;
    }
    child.kill('SIGKILL');
    const result = await done;
    expect(result.signal).toBe('SIGKILL');
    const [counts] = query<{ subs: number; members: number; orphans: number }>(ws.db, `
      SELECT (SELECT count(*) FROM subscriptions) AS subs,
             (SELECT count(*) FROM subscription_categories) AS members,
             (SELECT count(*) FROM subscriptions s WHERE (SELECT count(*) FROM subscription_categories sc WHERE sc.subscription_id = s.id) <> 2) AS orphans`);
    expect(counts!.subs).toBeGreaterThan(0);
    expect(counts!.subs).toBeLessThan(300_000);
    expect(counts!.members).toBe(counts!.subs * 2);
    expect(counts!.orphans).toBe(0);
  });
});

describe('subscriptions list, count, show, remove, prune', () => {
  it('lists (table, --json, --limit, --category), counts, shows and removes', async () => {
    const ws = await workspace();
    await ws.run(['categories', 'add', 'news']);
    const subs = [...manySubscriptions(5)];
    await ws.run(['subscriptions', 'import', '-'], { input: ndjson(subs) });
    await ws.run(['subscriptions', 'import', '-', '--category', 'news'], { input: ndjson(subs.slice(0, 2)) });

    expect((await ws.run(['subscriptions', 'count'])).stdout).toBe('5\n');
    expect((await ws.run(['subscriptions', 'count', '--category', 'news'])).stdout).toBe('2\n');
    const all = await ws.json<{ id: number; endpoint: string; categories: string[]; createdAt: string }[]>(['subscriptions', 'list']);
    expect(all.map((s) => s.endpoint)).toEqual(subs.map((s) => s.endpoint));
    expect(all[0]!.categories).toEqual(['news']);
    expect(all[0]!.createdAt).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(await ws.json<unknown[]>(['subscriptions', 'list', '--limit', '2', '--category', 'news'])).toHaveLength(2);
    expect(await ws.json<unknown[]>(['subscriptions', 'list', '--limit', '3'])).toHaveLength(3);
    const table = await ws.run(['subscriptions', 'list']);
    expect(table.stdout).toContain(subs[4]!.endpoint);
    const unknown = await ws.run(['subscriptions', 'count', '--category', 'nope']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/category "nope" does not exist/);

    const byEndpoint = await ws.json<{ id: number; keys: { auth: string } }>(['subscriptions', 'show', subs[1]!.endpoint]);
    expect(byEndpoint).toMatchObject({ id: all[1]!.id, keys: { auth: subs[1]!.keys.auth } });
    expect((await ws.run(['subscriptions', 'show', String(all[2]!.id)])).stdout).toContain(subs[2]!.endpoint);
    expect((await ws.run(['subscriptions', 'show', '999'])).code).toBe(1);

    const removed = await ws.run(['subscriptions', 'remove', String(all[0]!.id), subs[1]!.endpoint, '12345']);
    expect(removed.code).toBe(1);
    expect(removed.stderr).toMatch(/no such subscription: 12345/);
    expect(ws.rows().map((r) => r.endpoint)).toEqual(subs.slice(2).map((s) => s.endpoint));
    expect(ws.memberships()).toHaveLength(0);
  });

  it('escapes control characters from imported fields in human output; --json keeps them exact', async () => {
    const ws = await workspace();
    const label = 'kiosk\u001b]0;owned\u0007\u001b[2J';
    const userAgent = 'Mozilla/5.0 \u009b31mred\u202eevil';
    await ws.run(['categories', 'add', 'news', '--description', 'daily\u001b[8mhidden']);
    const sub = { ...fakeSubscription(), label, userAgent };
    expect((await ws.run(['subscriptions', 'import', '-', '--category', 'news'], { input: ndjson([sub]) })).code).toBe(0);
    // eslint-disable-next-line no-control-regex -- looking for exactly these
    const raw = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202e]/;
    for (const args of [['subscriptions', 'show', sub.endpoint], ['subscriptions', 'list'], ['categories', 'list'], ['categories', 'show', 'news']]) {
      const result = await ws.run(args);
      expect(result.code, args.join(' ')).toBe(0);
      expect(result.stdout, args.join(' ')).not.toMatch(raw);
    }
    const shown = await ws.run(['subscriptions', 'show', sub.endpoint]);
    expect(shown.stdout).toContain('label:         kiosk\\x1b]0;owned\\x07\\x1b[2J');
    expect(shown.stdout).toContain('user agent:    Mozilla/5.0 \\x9b31mred\\u202eevil');
    expect((await ws.run(['categories', 'list'])).stdout).toContain('daily\\x1b[8mhidden');
    const json = await ws.json<{ label: string; userAgent: string }>(['subscriptions', 'show', sub.endpoint]);
    expect(json).toMatchObject({ label, userAgent });
  });

  it('prunes by age without success and by failure count, with --dry-run', async () => {
    const ws = await workspace();
    const day = 86_400_000;
    const ago = (days: number) => new Date(Date.now() - days * day).toISOString();
    const [fresh, oldNeverOk, oldButRecentOk, failing, oldAndFailing] = [...manySubscriptions(5)];
    await ws.run(['subscriptions', 'import', '-'], {
      input: ndjson([
        { ...fresh, createdAt: ago(1) },
        { ...oldNeverOk, createdAt: ago(90) },
        { ...oldButRecentOk, createdAt: ago(90), lastSuccessAt: ago(2) },
        { ...failing, createdAt: ago(1), failureCount: 5 },
        { ...oldAndFailing, createdAt: ago(100), lastSuccessAt: ago(70), failureCount: 4 },
      ]),
    });
    const dry = await ws.json<{ matched: number; removed: number }>(['subscriptions', 'prune', '--older-than', '60d', '--dry-run']);
    expect(dry).toEqual({ matched: 2, removed: 0, dryRun: true });
    expect(ws.rows()).toHaveLength(5);
    expect(await ws.json(['subscriptions', 'prune', '--older-than', '60d', '--failed-more-than', '3'])).toMatchObject({ removed: 1 });
    expect(ws.rows().map((r) => r.endpoint)).not.toContain(oldAndFailing!.endpoint);
    expect(await ws.json(['subscriptions', 'prune', '--failed-more-than', '4'])).toMatchObject({ removed: 1 });
    expect(await ws.json(['subscriptions', 'prune', '--older-than', '60d'])).toMatchObject({ removed: 1 });
    expect(ws.rows().map((r) => r.endpoint)).toEqual([fresh!.endpoint, oldButRecentOk!.endpoint]);

    const nothing = await ws.run(['subscriptions', 'prune']);
    expect(nothing.code).toBe(2);
    expect(nothing.stderr).toMatch(/--inactive DURATION, --failed-more-than N and\/or --expired/);
    expect((await ws.run(['subscriptions', 'prune', '--older-than', 'soon'])).code).toBe(2);
    expect((await ws.run(['subscriptions', 'prune', '--failed-more-than', '-1'])).code).toBe(2);
  });
});

describe('curve check', () => {
  it('agrees with OpenSSL on real points and on off-curve points', async () => {
    // The built module (the CLI runs dist/ too); a variable path keeps tsc from resolving it.
    const modulePath = '../dist/core/subscription-rules.js';
    const { isOnP256 } = (await import(modulePath)) as { isOnP256(point: Buffer): boolean };
    for (let i = 0; i < 200; i++) {
      const point = Buffer.from(fakeSubscription().keys.p256dh, 'base64url');
      const at = 1 + (i % 64);
      if (i % 2) point[at] = point[at]! ^ (1 << (i % 8));
      let openssl = true;
      try {
        crypto.ECDH.convertKey(point, 'prime256v1', undefined, undefined, 'compressed');
      } catch {
        openssl = false;
      }
      expect(isOnP256(point)).toBe(openssl);
    }
  });
});

function toStdBase64(b64url: string): string {
  return Buffer.from(b64url, 'base64url').toString('base64');
}
