/**
 * What every core operation runs against: the resolved configuration, the open store (SQLite or
 * PostgreSQL, behind one async interface: the core never knows which) and a clock (injectable,
 * so schedules can be tested over simulated time).
 */
import type { Config } from '../config.js';
import { openStore, type StoreOpenOptions } from '../store/open.js';
import type { Store } from '../store/store.js';

/** How long each kind of process waits out an unreachable database (the faces pick one per command). */
export { RETRY_BUDGET } from '../store/store.js';
import type { DeliveryObserver } from './delivery-observer.js';

export interface Context {
  config: Config;
  store: Store;
  now: () => number;
  /** Told of every delivery answer (metrics); set by a face, absent otherwise. */
  deliveryObserver?: DeliveryObserver | undefined;
}

export async function openContext(config: Config, options: StoreOpenOptions & { now?: () => number } = {}): Promise<Context> {
  const { now, ...storeOptions } = options;
  const store = await openStore(config.database, storeOptions);
  return { config, store, now: now ?? Date.now };
}

export async function closeContext(ctx: Context): Promise<void> {
  await ctx.store.close();
}
