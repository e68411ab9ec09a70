/**
 * `pushctl categories ...` through the built CLI, with the results checked in the SQLite file.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openDb, runCli, runJson, tempDir, type RunOptions } from './support/cli.js';
import { allowOrigins, manySubscriptions } from './support/subscriptions.js';

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

interface Category {
  id: number;
  name: string;
  description: string | null;
  subscribers: number;
  createdAt: string;
}

async function workspace() {
  const dir = tempDir();
  dirs.push(dir);
  const db = path.join(dir, 'pushctl.db');
  const env = { ...allowOrigins(), PUSHCTL_DB: db };
  const run = (args: string[], options: RunOptions = {}) => runCli(args, { cwd: dir, env, ...options });
  const json = <T>(args: string[], options: RunOptions = {}) => runJson<T>(args, { cwd: dir, env, ...options });
  const query = <T>(sql: string): T[] => {
    const handle = openDb(db);
    try {
      return handle.prepare(sql).all() as T[];
    } finally {
      handle.close();
    }
  };
  expect((await run(['keys', 'generate', '--subject', 'mailto:ops@example.org'])).code).toBe(0);
  return { dir, db, env, run, json, query };
}

const memberships = (ws: Awaited<ReturnType<typeof workspace>>) =>
  ws.query<{ sub: number; name: string }>('SELECT sc.subscription_id AS sub, c.name FROM subscription_categories sc JOIN categories c ON c.id = sc.category_id ORDER BY c.name, sc.subscription_id');

describe('categories', () => {
  it('two processes adding the same category at once: one adds it, the other is told it exists', async () => {
    const ws = await workspace();
    for (let round = 0; round < 10; round++) {
      const results = await Promise.all([0, 1].map(() => ws.run(['categories', 'add', `race-${round}`])));
      expect(results.map((r) => r.code).sort(), results.map((r) => r.stderr).join()).toEqual([0, 1]);
      const refused = results.find((r) => r.code === 1)!;
      expect(refused.stderr).toMatch(/already exists/);
      expect(refused.stderr).not.toMatch(/internal error/);
    }
    expect(ws.query<{ n: number }>("SELECT count(*) AS n FROM categories WHERE name LIKE 'race-%'")[0]!.n).toBe(10);
  });

  it('adds, lists with subscriber counts, shows and updates', async () => {
    const ws = await workspace();
    const news = await ws.json<Category>(['categories', 'add', 'news', '--description', 'Daily headlines']);
    expect(news).toMatchObject({ name: 'news', description: 'Daily headlines', subscribers: 0 });
    expect(news.createdAt).toMatch(/^\d{4}-\d\d-\d\dT.*Z$/);
    await ws.run(['categories', 'add', 'offers_eu-2']);
    expect(ws.query('SELECT name, description FROM categories ORDER BY name')).toEqual([
      { name: 'news', description: 'Daily headlines' },
      { name: 'offers_eu-2', description: null },
    ]);

    await ws.run(['subscriptions', 'import', '-', '--category', 'news'], { input: [...manySubscriptions(3)].map((s) => JSON.stringify(s)).join('\n') });
    const list = await ws.json<Category[]>(['categories', 'list']);
    expect(list.map((c) => [c.name, c.subscribers])).toEqual([['news', 3], ['offers_eu-2', 0]]);
    expect((await ws.run(['categories', 'list'])).stdout).toMatch(/news\s*│\s*3\s*│\s*Daily headlines/);

    const renamed = await ws.json<Category>(['categories', 'update', 'news', '--name', 'headlines', '--description', 'Top stories']);
    expect(renamed).toMatchObject({ id: news.id, name: 'headlines', description: 'Top stories', subscribers: 3 });
    expect(await ws.json<Category>(['categories', 'show', 'headlines'])).toMatchObject({ id: news.id, subscribers: 3 });
    expect((await ws.json<Category>(['categories', 'update', 'headlines', '--description', '']))).toMatchObject({ description: null });
    expect(memberships(ws).every((m) => m.name === 'headlines')).toBe(true);

    const missing = await ws.run(['categories', 'show', 'news']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/category "news" does not exist/);
    const clash = await ws.run(['categories', 'update', 'headlines', '--name', 'offers_eu-2']);
    expect(clash.code).toBe(1);
    expect(clash.stderr).toMatch(/category "offers_eu-2" already exists/);
    const nothing = await ws.run(['categories', 'update', 'headlines']);
    expect(nothing.code).toBe(2);
  });

  it('refuses names that are not lowercase slugs of at most 64 characters, and duplicates', async () => {
    const ws = await workspace();
    for (const name of ['News', 'breaking news', 'café', 'a/b', 'x'.repeat(65), '']) {
      const result = await ws.run(['categories', 'add', name]);
      expect(result.code, name).toBe(2);
      expect(result.stderr, name).toMatch(/is not a valid category name: use lowercase letters a-z, digits, "-" and "_"/);
    }
    expect((await ws.run(['categories', 'add', 'x'.repeat(64)])).code).toBe(0);
    const renameBad = await ws.run(['categories', 'update', 'x'.repeat(64), '--name', 'Bad Name']);
    expect(renameBad.code).toBe(2);
    const dup = await ws.run(['categories', 'add', 'x'.repeat(64)]);
    expect(dup.code).toBe(1);
    expect(dup.stderr).toMatch(/already exists/);
    expect(ws.query('SELECT name FROM categories')).toEqual([{ name: 'x'.repeat(64) }]);
  });

  it('assigns and unassigns subscriptions by id or endpoint; an unknown subscription changes nothing', async () => {
    const ws = await workspace();
    await ws.run(['categories', 'add', 'news']);
    const subs = [...manySubscriptions(3)];
    await ws.run(['subscriptions', 'import', '-'], { input: subs.map((s) => JSON.stringify(s)).join('\n') });
    const ids = ws.query<{ id: number }>('SELECT id FROM subscriptions ORDER BY id').map((r) => r.id);

    const assigned = await ws.json<{ changed: number; unchanged: number }>(['categories', 'assign', 'news', '--subscription', String(ids[0]), subs[1]!.endpoint]);
    expect(assigned).toMatchObject({ category: 'news', changed: 2, unchanged: 0 });
    expect(memberships(ws)).toEqual([{ sub: ids[0], name: 'news' }, { sub: ids[1], name: 'news' }]);
    expect(await ws.json(['categories', 'assign', 'news', '--subscription', String(ids[0]), String(ids[2])])).toMatchObject({ changed: 1, unchanged: 1 });

    const unknown = await ws.run(['categories', 'assign', 'news', '--subscription', '9999']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/no such subscription: 9999/);
    const unknownCategory = await ws.run(['categories', 'assign', 'sport', '--subscription', String(ids[0])]);
    expect(unknownCategory.code).toBe(1);
    expect(unknownCategory.stderr).toMatch(/category "sport" does not exist/);

    expect(await ws.json(['categories', 'unassign', 'news', '--subscription', String(ids[1]), '9999']).catch((e: Error) => e.message)).toMatch(/exited 1/);
    expect(memberships(ws)).toHaveLength(3);
    expect(await ws.json(['categories', 'unassign', 'news', '--subscription', String(ids[1])])).toMatchObject({ changed: 1, unchanged: 0 });
    expect(memberships(ws).map((m) => m.sub)).toEqual([ids[0], ids[2]]);
    expect((await ws.run(['subscriptions', 'count', '--category', 'news'])).stdout).toBe('2\n');
  });

  it('delete refuses without --yes when not interactive; with --yes memberships go and subscriptions stay', async () => {
    const ws = await workspace();
    await ws.run(['categories', 'add', 'news']);
    await ws.run(['categories', 'add', 'sport']);
    await ws.run(['subscriptions', 'import', '-', '--category', 'news', '--category', 'sport'], { input: [...manySubscriptions(4)].map((s) => JSON.stringify(s)).join('\n') });

    const refused = await ws.run(['categories', 'delete', 'news']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/refusing to delete category "news" \(4 subscriptions\): re-run with --yes/);
    expect(ws.query('SELECT name FROM categories ORDER BY name')).toEqual([{ name: 'news' }, { name: 'sport' }]);

    const deleted = await ws.json(['categories', 'delete', 'news', '--yes']);
    expect(deleted).toEqual({ deleted: 'news', subscribers: 4 });
    expect(ws.query('SELECT name FROM categories')).toEqual([{ name: 'sport' }]);
    expect(ws.query<{ n: number }>('SELECT count(*) AS n FROM subscriptions')[0]!.n).toBe(4);
    expect(memberships(ws).map((m) => m.name)).toEqual(['sport', 'sport', 'sport', 'sport']);
    expect((await ws.run(['categories', 'delete', 'news', '--yes'])).code).toBe(1);
  });
});
