/**
 * A real PostgreSQL for tests: Debian's PostgreSQL 15 binaries, a cluster made by initdb in a
 * temp directory as an unprivileged user (initdb and postgres refuse to run as root, and tests
 * run as root in CI), listening on a free port on 127.0.0.1 and a Unix socket in the same
 * directory, stopped and removed at the end. One server per test file (sharedPostgres: started
 * on first use, stopped when the file's worker process is gone), one fresh database per test
 * (freshDatabase: a CREATE DATABASE, a few tens of ms). No Docker.
 *
 * Without the binaries, tests of the PostgreSQL backend are skipped on a developer machine but
 * fail loudly under CI: CI must install them (.ci/run: apt-get install -y postgresql).
 */
import { execFile, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { freePort } from './ports.js';

const run = promisify(execFile);

import { PG_BIN } from './pg-bin.js';

export { PG_BIN };
/** The user the cluster runs as when the tests run as root. */
const UNPRIVILEGED = { user: 'nobody', uid: 65534, gid: 65534 };

/** Whether PostgreSQL tests can run here; under CI their absence is an error, never a skip. */
export function postgresAvailable(): boolean {
  const found = ['initdb', 'pg_ctl', 'postgres'].every((name) => fs.existsSync(path.join(PG_BIN, name)));
  if (!found && process.env.CI) {
    throw new Error(`PostgreSQL binaries not found in ${PG_BIN}: CI must install them (apt-get install -y postgresql)`);
  }
  return found;
}

export interface PostgresServer {
  readonly port: number;
  /** The URL of one database on this server. */
  url(database: string): string;
  /** Creates a fresh, empty database and returns its URL. */
  createDatabase(prefix?: string): Promise<string>;
  /** Stops the server without removing it (a database outage); `start` brings it back on the same port. */
  pause(): Promise<void>;
  start(): Promise<void>;
  /** Stops the server and removes its directory. */
  stop(): Promise<void>;
}

function asUser(): { uid?: number; gid?: number } {
  return process.getuid?.() === 0 ? { uid: UNPRIVILEGED.uid, gid: UNPRIVILEGED.gid } : {};
}

let counter = 0;

export async function startPostgres(): Promise<PostgresServer> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pushctl-pg-'));
  const data = path.join(dir, 'data');
  const user = asUser();
  if (user.uid !== undefined) fs.chownSync(dir, user.uid, user.gid!);
  const exec = (bin: string, args: string[]) => run(path.join(PG_BIN, bin), args, { cwd: dir, ...user, env: { PATH: process.env.PATH, LANG: 'C', LC_ALL: 'C' } });
  await exec('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8', '--locale=C']);
  const port = await freePort();
  // Durability off: a test cluster is thrown away, and fsync on a busy shared disk is slow.
  const serverOptions = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200`;
  const start = () => exec('pg_ctl', ['-D', data, '-l', path.join(dir, 'server.log'), '-w', '-t', '120', '-o', serverOptions, 'start']).then(() => undefined);
  const halt = () => exec('pg_ctl', ['-D', data, '-m', 'fast', '-w', '-t', '120', 'stop']).then(() => undefined);
  // If the test process dies without stop(), take the server down with it.
  const onExit = () => {
    spawnSync(path.join(PG_BIN, 'pg_ctl'), ['-D', data, '-m', 'immediate', 'stop'], { ...user, stdio: 'ignore' });
    fs.rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', onExit);
  try {
    await start();
  } catch (error) {
    const log = fs.existsSync(path.join(dir, 'server.log')) ? fs.readFileSync(path.join(dir, 'server.log'), 'utf8') : '';
    onExit();
    throw new Error(`PostgreSQL did not start: ${(error as Error).message}\n${log}`);
  }
  watchOwner(data, dir, user);
  const url = (database: string) => `postgres://postgres@127.0.0.1:${port}/${database}`;
  let stopped = false;
  return {
    port,
    url,
    async createDatabase(prefix = 'pushctl_test') {
      const name = `${prefix}_${process.pid}_${++counter}`;
      const client = new pg.Client({ connectionString: url('postgres') });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE ${name}`);
      } finally {
        await client.end();
      }
      return url(name);
    },
    pause: halt,
    start,
    async stop() {
      if (stopped) return;
      stopped = true;
      process.removeListener('exit', onExit);
      await halt().catch(() => undefined);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Stops the cluster and removes its directory once this process is gone, however it went: vitest
 * ends its worker processes without an 'exit' event, and a server left behind by every run kept
 * running (found five on the development machine). A detached shell checks for the owner once a
 * second; /proc rather than kill -0, which fails across users when the tests run as root.
 */
function watchOwner(data: string, dir: string, user: { uid?: number; gid?: number }): void {
  const quote = (text: string) => `'${text.replace(/'/g, `'\\''`)}'`;
  const script = `while [ -d /proc/${process.pid} ]; do sleep 1; done; ${quote(path.join(PG_BIN, 'pg_ctl'))} -D ${quote(data)} -m immediate stop; rm -rf ${quote(dir)}`;
  spawn('/bin/sh', ['-c', script], { ...user, detached: true, stdio: 'ignore' }).unref();
}

let shared: Promise<PostgresServer> | undefined;

/**
 * The one server of this test file (vitest runs each file in its own worker process), started on
 * first use and stopped when the process exits, so end-to-end files need no initdb per suite.
 * A test that pause()s it must start() it again before it ends.
 */
export function sharedPostgres(): Promise<PostgresServer> {
  shared ??= startPostgres().catch((error: unknown) => {
    shared = undefined;
    throw error;
  });
  return shared;
}

/** A fresh, empty database on the shared server: its URL. */
export async function freshDatabase(prefix?: string): Promise<string> {
  return (await sharedPostgres()).createDatabase(prefix);
}
