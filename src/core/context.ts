/**
 * What every core operation runs against: the resolved configuration, the open store and a clock
 * (injectable, so schedules can be tested over simulated time).
 */
import type { Config } from '../config.js';
import { openDatabase, type Db, type OpenOptions } from '../store/db.js';
import type { DeliveryObserver } from './delivery-observer.js';

export interface Context {
  config: Config;
  db: Db;
  now: () => number;
  /** Told of every delivery answer (metrics); set by a face, absent otherwise. */
  deliveryObserver?: DeliveryObserver | undefined;
}

export function openContext(config: Config, options: OpenOptions & { now?: () => number } = {}): Context {
  const db = openDatabase(config.database, options);
  return { config, db, now: options.now ?? Date.now };
}

export function closeContext(ctx: Context): void {
  if (ctx.db.open) ctx.db.close();
}
