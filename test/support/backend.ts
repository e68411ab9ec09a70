/**
 * Which store the end-to-end tests run against. The suite runs twice (vitest.config.ts projects):
 * on SQLite files, and with PUSHCTL_TEST_BACKEND=postgres on one real PostgreSQL cluster that the
 * global setup (pg-global.ts) starts. On PostgreSQL every SQLite file a test names (its
 * workspace's pushctl.db, a --db, PUSHCTL_DB, a config file's `database`) stands for a database
 * of its own on that cluster, created on first use: the CLI is given its URL, and the test's own
 * checks (openDb, query) read the same database through psql. So the same test, unchanged, checks
 * what the CLI and the server do on either backend.
 */
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'vitest';
import { PG_BIN } from './pg-bin.js';

export const ON_POSTGRES = process.env.PUSHCTL_TEST_BACKEND === 'postgres';
/** The client of the same installation as the server (not /usr/bin's wrapper, which wants a configured cluster). */
const PSQL = path.join(PG_BIN, 'psql');
export const BACKEND_NAME = ON_POSTGRES ? 'postgres' : 'sqlite';

/** host:port of the cluster the global setup started. */
function server(): { host: string; port: string } {
  const address = process.env.PUSHCTL_TEST_PG_SERVER;
  if (!address) throw new Error('PUSHCTL_TEST_BACKEND=postgres needs the global setup (test/support/pg-global.ts) to start a cluster');
  const [host, port] = address.split(':');
  return { host: host!, port: port! };
}

const created = new Set<string>();

/** The database standing for a SQLite file path (the same path, the same database), created on first use. */
export function databaseUrlFor(file: string): string {
  const name = `t_${crypto.createHash('sha1').update(path.resolve(file)).digest('hex').slice(0, 20)}`;
  const { host, port } = server();
  if (!created.has(name)) {
    // Idempotent across processes (a test file's workers, the CLI it spawns): an existing one is fine.
    const result = psql('postgres', `SELECT 1 FROM pg_database WHERE datname = '${name}'`);
    if (!result.trim()) {
      const made = spawnSync(PSQL, [...connection('postgres'), '-c', `CREATE DATABASE ${name}`], { encoding: 'utf8' });
      if (made.status !== 0 && !/already exists/.test(made.stderr)) throw new Error(`CREATE DATABASE ${name}: ${made.stderr}`);
    }
    created.add(name);
  }
  return `postgres://postgres@${host}:${port}/${name}`;
}

function connection(database: string): string[] {
  const { host, port } = server();
  return ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-h', host, '-p', port, '-U', 'postgres', '-d', database];
}

function psql(database: string, sql: string): string {
  const result = spawnSync(PSQL, [...connection(database), '-At', '-c', sql], { encoding: 'utf8', maxBuffer: 256 << 20 });
  if (result.status !== 0) throw new Error(`psql: ${result.stderr.trim()}\n${sql}`);
  return result.stdout;
}

/** A value as an SQL literal (the tests' parameters: numbers, text, null). */
function literal(value: unknown): string {
  if (value === null || value === undefined) return 'NULL';
  if (typeof value === 'number' || typeof value === 'bigint') return String(value);
  if (typeof value === 'boolean') return value ? '1' : '0';
  return `'${String(value).replaceAll("'", "''")}'`;
}

/** SQLite-flavoured test SQL with `?` parameters, as PostgreSQL runs it. */
function bind(sql: string, params: unknown[]): string {
  let i = 0;
  // `?` outside quotes only.
  return sql.replace(/'(?:[^']|'')*'|\?/g, (match) => (match === '?' ? literal(params[i++]) : match));
}

/** Rows of a query on the database standing for `file`, synchronously (tests read inside expect.poll). */
export function queryPostgres<T = Record<string, unknown>>(file: string, sql: string, params: unknown[] = []): T[] {
  const name = new URL(databaseUrlFor(file)).pathname.slice(1);
  const bound = bind(sql, params).trim().replace(/;$/, '');
  if (/^\s*(select|with)\b/i.test(bound)) {
    const out = psql(name, `SELECT coalesce(json_agg(q), '[]') FROM (${bound}) q`);
    return JSON.parse(out) as T[];
  }
  psql(name, bound);
  return [];
}

/** A stand-in for the better-sqlite3 handle the tests read the store with: prepare().get/all/run. */
export function postgresHandle(file: string) {
  return {
    prepare(sql: string) {
      return {
        all: (...params: unknown[]) => queryPostgres(file, sql, params),
        get: (...params: unknown[]) => queryPostgres(file, sql, params)[0],
        run: (...params: unknown[]) => {
          queryPostgres(file, sql, params);
          return { changes: 0 };
        },
      };
    },
    exec(sql: string) {
      queryPostgres(file, sql);
    },
    close() {},
    pragma(): never {
      throw new Error('pragma: a SQLite-only check; skip this test on PostgreSQL');
    },
  };
}

/**
 * The environment and arguments a CLI run gets on PostgreSQL: the SQLite file the command would
 * use (--db, PUSHCTL_DB, the config file's `database`, else ./pushctl.db, as pushctl resolves
 * them) replaced by its database's URL. Unchanged on SQLite.
 */
export function routeToBackend(args: string[], env: NodeJS.ProcessEnv, cwd: string): { args: string[]; env: NodeJS.ProcessEnv } {
  if (!ON_POSTGRES) return { args, env };
  // Every --db FILE and --db=FILE (commander takes the last; all are mapped alike).
  let named = false;
  const routed = args.map((arg, i) => {
    if (args[i - 1] === '--db' && !isUrl(arg)) {
      named = true;
      return databaseUrlFor(path.resolve(cwd, arg));
    }
    if (arg.startsWith('--db=') && !isUrl(arg.slice(5))) {
      named = true;
      return `--db=${databaseUrlFor(path.resolve(cwd, arg.slice(5)))}`;
    }
    return arg;
  });
  if (named || args.includes('--db')) return { args: routed, env };
  if (env.PUSHCTL_DB) {
    if (isUrl(env.PUSHCTL_DB)) return { args, env };
    return { args, env: { ...env, PUSHCTL_DB: databaseUrlFor(path.resolve(cwd, env.PUSHCTL_DB)) } };
  }
  const file = configuredFile(args, cwd);
  return file === undefined ? { args, env } : { args, env: { ...env, PUSHCTL_DB: databaseUrlFor(file) } };
}

/** The SQLite file the command would use, or undefined when its config file already names a PostgreSQL URL. */
function configuredFile(args: string[], cwd: string): string | undefined {
  const flag = args.findIndex((a) => a === '-c' || a === '--config');
  const config = flag >= 0 && args[flag + 1] ? path.resolve(cwd, args[flag + 1]!) : path.join(cwd, 'push.config.json');
  try {
    const database = (JSON.parse(fs.readFileSync(config, 'utf8')) as { database?: string }).database;
    if (database && isUrl(database)) return undefined;
    if (database) return path.resolve(path.dirname(config), database);
  } catch {
    // no config file (or not JSON): the default
  }
  return path.join(cwd, 'pushctl.db');
}

function isUrl(text: string): boolean {
  return /^postgres(ql)?:\/\//i.test(text);
}

/** How pushctl names the store a SQLite file path stands for in its messages: the path, or the URL (no password here). */
export function storeName(file: string): string {
  return ON_POSTGRES ? databaseUrlFor(file) : file;
}

/** Whether the store a SQLite file path stands for exists: the file, or on PostgreSQL a database with pushctl's schema in it. */
export function storeExists(file: string): boolean {
  if (!ON_POSTGRES) return fs.existsSync(file);
  return queryPostgres<{ n: number }>(file, "SELECT count(*) AS n FROM information_schema.tables WHERE table_name = 'pushctl_schema_migrations'")[0]!.n > 0;
}

/** What pushctl says when a command other than init/keys generate|import/serve finds no store there. */
export function missingStoreMessage(file: string): string {
  return ON_POSTGRES ? `database ${storeName(file)} has no pushctl store in it yet` : `database ${file} does not exist`;
}

/** Creates an empty store (the schema, no keys) where a SQLite file path says, on either backend. */
export async function createEmptyStore(file: string): Promise<void> {
  const { openStore } = await import('../../src/store/open.js');
  const store = await openStore(ON_POSTGRES ? databaseUrlFor(file) : file);
  await store.close();
}

/**
 * `it` for a test of SQLite itself (its file on a full disk, its write lock): defined only in the
 * SQLite run, so the PostgreSQL run neither runs nor counts it (nothing there to skip).
 */
export const itOnSqlite: typeof it = ON_POSTGRES ? nothing() : it;

/** `describe` for a group of such tests (a tmpfs they all share): defined only in the SQLite run. */
export const describeOnSqlite: typeof describe = ON_POSTGRES ? ((() => undefined) as unknown as typeof describe) : describe;

function nothing(): typeof it {
  const define = (() => undefined) as unknown as typeof it & { skipIf: unknown };
  define.skipIf = () => define;
  return define;
}
