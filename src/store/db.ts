/**
 * Opens the SQLite store: creates the file (mode 0600: it holds the VAPID private key) on first
 * use, sets the pragmas every connection needs, and brings the schema up to date.
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { fail } from '../errors.js';
import { MIGRATIONS, SCHEMA_VERSION } from './migrations.js';
import { rewriteEndpointsSqlite } from './sqlite/endpoint-rewrite.js';

export type Db = Database.Database;

export interface OpenOptions {
  /** Open an existing database only (read paths that must not create files). */
  mustExist?: boolean;
  busyTimeoutMs?: number;
}

export function openDatabase(file: string, options: OpenOptions = {}): Db {
  const exists = fs.existsSync(file);
  if (!exists) {
    if (options.mustExist) {
      throw fail('store_not_found', `database ${file} does not exist`, { details: { file } });
    }
    const dir = path.dirname(file);
    if (!fs.existsSync(dir)) {
      throw fail('invalid_config', `database ${file}: directory ${dir} does not exist`, { details: { file } });
    }
    // Create the file ourselves so it is never world-readable, even for an instant.
    fs.closeSync(fs.openSync(file, 'a', 0o600));
  }
  const busyTimeoutMs = options.busyTimeoutMs ?? 10_000;
  let db: Db;
  try {
    // The busy timeout applies from the start: switching to WAL waits for a migration in another process.
    db = new Database(file, { timeout: busyTimeoutMs });
    const wal = db;
    whileBusy(() => wal.pragma('journal_mode = WAL'), busyTimeoutMs);
  } catch (error) {
    // Opening writes too (the WAL index, the WAL): on a full disk SQLite says only "disk I/O error".
    const free = freeBytes(path.dirname(file));
    if (free !== undefined && free < LOW_SPACE_BYTES) {
      throw fail('disk_full', `database ${file}: cannot open: the disk is full (${Math.floor(free / 1024)} KiB free); free some space and try again`, { details: { file, diskFull: true } });
    }
    throw fail('invalid_input', `database ${file}: cannot open: ${(error as Error).message}`, { details: { file } });
  }
  db.pragma('foreign_keys = ON');
  db.pragma('synchronous = NORMAL');
  whileBusy(() => migrate(db, file), busyTimeoutMs);
  return db;
}

/** Below this much free space, a failure to open is put down to a full disk. */
const LOW_SPACE_BYTES = 1 << 20;

function freeBytes(dir: string): number | undefined {
  try {
    const stats = fs.statfsSync(dir);
    return stats.bavail * stats.bsize;
  } catch {
    return undefined;
  }
}

/**
 * Retries while SQLite says the database is busy. The busy timeout covers most waits, but SQLite
 * answers SQLITE_BUSY at once where waiting could deadlock (e.g. switching a fresh file to WAL
 * while another process is migrating it); retrying the whole step is safe there.
 */
function whileBusy<T>(step: () => T, timeoutMs: number): T {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return step();
    } catch (error) {
      const code = (error as { code?: string }).code ?? '';
      if (!code.startsWith('SQLITE_BUSY') || Date.now() >= deadline) throw error;
      Atomics.wait(PAUSE, 0, 0, 10 + Math.random() * 40);
    }
  }
}

const PAUSE = new Int32Array(new SharedArrayBuffer(4));

function migrate(db: Db, file: string): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > SCHEMA_VERSION) {
    db.close();
    throw fail(
      'conflict',
      `database ${file} has schema version ${current}, but this pushctl knows only up to ${SCHEMA_VERSION}: it was written by a newer pushctl. Upgrade pushctl to use it.`,
      { details: { file, schemaVersion: current, supported: SCHEMA_VERSION } },
    );
  }
  if (current === SCHEMA_VERSION) return;
  // IMMEDIATE: two processes opening a fresh file at once must not both run a migration.
  const apply = db.transaction(() => {
    const now = db.pragma('user_version', { simple: true }) as number;
    for (const migration of MIGRATIONS) {
      if (migration.version <= now) continue;
      db.exec(migration.sql);
      if (migration.step === 'rewrite-endpoints') rewriteEndpointsSqlite(db);
      db.pragma(`user_version = ${migration.version}`);
    }
  });
  apply.immediate();
}
