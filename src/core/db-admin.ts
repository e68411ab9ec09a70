/**
 * `db status` and `db copy`: looking at a store, and moving a whole installation (keys,
 * subscriptions, categories, notifications, the ledger) from one store to another, SQLite to
 * PostgreSQL or back. Written against the async store interface only, so it works between any
 * two backends.
 */
import path from 'node:path';
import { fail, msg, ref } from '../errors.js';
import { isPostgresUrl, redactLocation } from '../store/location.js';
import { openStore } from '../store/open.js';
import { TABLES, type Backend, type Store, type TableCounts, type TableName } from '../store/store.js';

export type { TableCounts };

export interface DbStatus {
  backend: Backend;
  location: string;
  schemaVersion: number;
  connected: true;
  counts: TableCounts;
}

/** Opens the store (it must exist), reads its version and counts: the connection works if this returns. */
export async function databaseStatus(location: string): Promise<DbStatus> {
  const store = await openStore(location, { mustExist: true });
  try {
    return { backend: store.backend, location: store.location, schemaVersion: await store.schemaVersion(), connected: true, counts: await store.tableCounts() };
  } finally {
    await store.close();
  }
}

export interface CopyOptions {
  /** Replace what the target holds (otherwise a non-empty target is refused). */
  force?: boolean | undefined;
  onTable?: ((table: TableName, rows: number) => void) | undefined;
}

export interface CopyResult {
  from: { backend: Backend; location: string };
  to: { backend: Backend; location: string };
  counts: TableCounts;
}

/** A --from/--to value: a URL as given, a SQLite file relative to the working directory. */
export function resolveLocation(value: string, cwd = process.cwd()): string {
  return isPostgresUrl(value) ? value.trim() : path.resolve(cwd, value);
}

/**
 * Copies every table, rows as they are (ids included, so the ledger and memberships stay
 * attached), in one transaction on the target: a failed copy leaves the target as it was. The
 * counts of both sides must agree at the end. Writers on the source should be stopped first.
 */
export async function copyDatabase(fromLocation: string, toLocation: string, options: CopyOptions = {}): Promise<CopyResult> {
  if (fromLocation === toLocation) {
    throw fail('invalid_request', msg`${ref('from')} and ${ref('to')} are the same database (${redactLocation(fromLocation)})`, { details: { to: redactLocation(toLocation) } });
  }
  const source = await openStore(fromLocation, { mustExist: true });
  let target: Store | undefined;
  try {
    target = await openStore(toLocation);
    const before = await target.tableCounts();
    const occupied = TABLES.filter((t) => before[t.name] > 0).map((t) => `${before[t.name]} ${t.name}`);
    if (occupied.length && !options.force) {
      throw fail('store_not_empty', msg`${target.location} is not empty (${occupied.join(', ')}); pass ${ref('force')} to replace its contents`, { details: { to: target.location } });
    }
    const into = target;
    await into.transaction(async (tx) => {
      if (occupied.length) await tx.clearAll();
      for (const table of TABLES) {
        let copied = 0;
        for await (const page of source.streamRows(table.name)) {
          await tx.insertRows(table.name, page);
          copied += page.length;
        }
        options.onTable?.(table.name, copied);
      }
      await tx.resetIdentities();
    });
    const [expected, actual] = await Promise.all([source.tableCounts(), into.tableCounts()]);
    const differing = TABLES.filter((t) => expected[t.name] !== actual[t.name]);
    if (differing.length) {
      throw fail(
        'internal_error',
        `copy finished but counts differ: ${differing.map((t) => `${t.name} ${expected[t.name]} in the source, ${actual[t.name]} in the target`).join('; ')} (was the source written to during the copy?)`,
      );
    }
    return { from: { backend: source.backend, location: source.location }, to: { backend: into.backend, location: into.location }, counts: actual };
  } finally {
    await target?.close();
    await source.close();
  }
}
