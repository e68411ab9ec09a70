/**
 * What every core operation runs against: the resolved configuration, the open store and a clock
 * (injectable, so schedules can be tested over simulated time).
 */
import type { Config } from '../config.js';
import { openDatabase, type Db, type OpenOptions } from '../store/db.js';

export interface Context {
  config: Config;
  db: Db;
  now: () => number;
}

export function openContext(config: Config, options: OpenOptions & { now?: () => number } = {}): Context {
  const db = openDatabase(config.database, options);
  return { config, db, now: options.now ?? Date.now };
}

export function closeContext(ctx: Context): void {
  if (ctx.db.open) ctx.db.close();
}
