/**
 * The SQLite store: one file created on first use with mode 0600 whatever the umask, WAL, foreign
 * keys, a busy timeout, numbered migrations recorded in user_version, and a polite refusal of a
 * database written by a newer pushctl.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { BIN, cliEnv, openDb, ROOT, runCli, startCli, tempDir, type RunResult } from './support/cli.js';

interface StoreModule {
  openDatabase(file: string, options?: { mustExist?: boolean; busyTimeoutMs?: number }): Database.Database;
}
interface MigrationsModule {
  MIGRATIONS: { version: number; description: string; sql: string }[];
  SCHEMA_VERSION: number;
}

const store = (await import(path.join(ROOT, 'dist/store/db.js'))) as StoreModule;
const { MIGRATIONS, SCHEMA_VERSION } = (await import(path.join(ROOT, 'dist/store/migrations.js'))) as MigrationsModule;

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

function workdir(): string {
  const dir = fs.realpathSync(tempDir('pushctl-store-'));
  dirs.push(dir);
  return dir;
}

const mode = (file: string) => fs.statSync(file).mode & 0o777;

/** Runs the CLI under a given umask (through sh, so the child inherits it). */
function runWithUmask(umask: string, args: string[], cwd: string): Promise<RunResult> {
  return new Promise((resolve) => {
    const quoted = [process.execPath, BIN, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
    const child = spawn('sh', ['-c', `umask ${umask} && exec ${quoted}`], { cwd, env: cliEnv({ HOME: cwd }), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

describe('opening the store', () => {
  it('creates the file on first use with mode 0600 even under umask 000, WAL files too', async () => {
    const dir = workdir();
    const result = await runWithUmask('000', ['keys', 'generate', '--subject', 'mailto:ops@example.com'], dir);
    expect(result.code).toBe(0);
    const db = path.join(dir, 'pushctl.db');
    expect(mode(db)).toBe(0o600);
    // While a connection is open the WAL and shared-memory files exist: they hold the same secrets.
    const open = store.openDatabase(db);
    try {
      open.prepare('UPDATE vapid_keys SET subject = subject').run();
      for (const extra of ['-wal', '-shm']) {
        expect(fs.existsSync(db + extra), extra).toBe(true);
        expect(mode(db + extra), extra).toBe(0o600);
      }
    } finally {
      open.close();
    }
  });

  it('sets WAL, foreign keys and a busy timeout on every connection', () => {
    const dir = workdir();
    const db = store.openDatabase(path.join(dir, 'p.db'));
    try {
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
      expect(db.pragma('foreign_keys', { simple: true })).toBe(1);
      expect(db.pragma('busy_timeout', { simple: true })).toBeGreaterThanOrEqual(1000);
    } finally {
      db.close();
    }
    // WAL is a property of the file: a plain connection sees it too.
    const plain = openDb(path.join(dir, 'p.db'));
    expect(plain.pragma('journal_mode', { simple: true })).toBe('wal');
    plain.close();
  });

  it('records the migrations applied in user_version and creates the tables of ARCHITECTURE.md', () => {
    const dir = workdir();
    store.openDatabase(path.join(dir, 'p.db')).close();
    const db = openDb(path.join(dir, 'p.db'));
    try {
      expect(db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
      // Versions only increase (numbers are reserved per change, so one may land before a lower one).
      const versions = MIGRATIONS.map((m) => m.version);
      expect(versions).toEqual([...new Set(versions)].sort((a, b) => a - b));
      expect(SCHEMA_VERSION).toBe(versions.at(-1));
      const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as { name: string }[]).map((t) => t.name);
      expect(tables).toEqual(expect.arrayContaining(['vapid_keys', 'subscriptions', 'categories', 'subscription_categories', 'notifications', 'deliveries', 'delivery_tokens', 'delivery_events']));
    } finally {
      db.close();
    }
  });

  it('migrates an older database forward and leaves the data in place', () => {
    const dir = workdir();
    const file = path.join(dir, 'p.db');
    const db = store.openDatabase(file);
    db.prepare("INSERT INTO vapid_keys (public_key, private_key, subject, created_at, active) VALUES ('pub', 'priv', 'mailto:a@example.com', 1, 1)").run();
    db.close();
    // Reopening at the current version is a no-op; the row survives.
    const again = store.openDatabase(file);
    expect((again.prepare('SELECT count(*) AS n FROM vapid_keys').get() as { n: number }).n).toBe(1);
    again.close();
  });

  it('refuses a database written by a newer pushctl, politely and without touching it', async () => {
    const dir = workdir();
    const file = path.join(dir, 'pushctl.db');
    expect((await runCli(['keys', 'generate', '--subject', 'mailto:ops@example.com'], { cwd: dir })).code).toBe(0);
    const raw = new Database(file);
    raw.pragma('user_version = 999');
    raw.close();

    for (const json of [false, true]) {
      const result = await runCli(['keys', 'show', ...(json ? ['--json'] : [])], { cwd: dir });
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(`database ${file} has schema version 999`);
      expect(result.stderr).toMatch(/written by a newer pushctl\. Upgrade pushctl/);
      expect(result.stderr).not.toMatch(/\n\s+at /);
      if (json) expect(JSON.parse(result.stderr)).toMatchObject({ error: { details: { kind: 'conflict', schemaVersion: 999, supported: SCHEMA_VERSION } } });
    }
    const check = openDb(file);
    expect(check.pragma('user_version', { simple: true })).toBe(999);
    check.close();
  });

  it('a file that is not a database exits 2 naming it', async () => {
    const dir = workdir();
    fs.writeFileSync(path.join(dir, 'notes.db'), 'these are my notes, not a database\n'.repeat(200));
    const result = await runCli(['--db', 'notes.db', 'keys', 'show'], { cwd: dir });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`database ${path.join(dir, 'notes.db')}: cannot open`);
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });

  it('a database in a directory that does not exist exits 2 naming the directory', async () => {
    const dir = workdir();
    const result = await runCli(['--db', 'missing/dir/p.db', 'keys', 'generate'], { cwd: dir });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`directory ${path.join(dir, 'missing/dir')} does not exist`);
  });

  it('two processes creating the same fresh database at once: one migration, both finish cleanly', async () => {
    const dir = workdir();
    for (let round = 0; round < 10; round++) {
      const db = `r${round}.db`;
      const runs = [0, 1].map(() => startCli(['--db', db, 'keys', 'generate', '--subject', 'mailto:ops@example.com'], { cwd: dir }).done);
      const results = await Promise.all(runs);
      // One creates the key; the other sees it and refuses without --force. Neither crashes.
      expect(results.map((r) => r.code).sort()).toEqual([0, 1]);
      const refused = results.find((r) => r.code === 1)!;
      expect(refused.stderr).toMatch(/already exist/);
      const check = openDb(path.join(dir, db));
      expect(check.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
      expect((check.prepare('SELECT count(*) AS n FROM vapid_keys').get() as { n: number }).n).toBe(1);
      check.close();
    }
  });
});
