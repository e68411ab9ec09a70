/**
 * Opens the store a `database` setting names: a postgres:// or postgresql:// URL is PostgreSQL
 * (TLS via sslmode, password from the URL or PGPASSWORD/PGPASSFILE, as libpq reads them), anything
 * else a SQLite file. The driver of the backend not chosen is never loaded.
 */
import type { OpenOptions } from './db.js';
import { isPostgresUrl } from './location.js';
import type { PostgresOpenOptions } from './postgres/store.js';
import type { Store } from './store.js';

export type StoreOpenOptions = OpenOptions & PostgresOpenOptions;

export async function openStore(location: string, options: StoreOpenOptions = {}): Promise<Store> {
  if (isPostgresUrl(location)) {
    const { PostgresStore } = await import('./postgres/store.js');
    return PostgresStore.open(location.trim(), options);
  }
  const { SqliteStore } = await import('./sqlite/store.js');
  return SqliteStore.open(location, options);
}
