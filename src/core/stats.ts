/**
 * Point-in-time numbers from the store (metrics gauges) and the readiness check for probes. Both
 * faces' probes and metrics read them here, so what "ready" means is decided once.
 */
import * as stats from '../store/stats.js';
import type { Context } from './context.js';
import { ensureActiveKey } from './keys.js';

export interface StoreGauges {
  notificationsByStatus: { status: string; count: number }[];
  /** Scheduled notifications past their time that no sender has picked up. */
  notificationsOverdue: number;
  deliveriesDue: number;
  deliveriesDeferred: number;
  subscriptions: number;
  subscriptionsByCategory: { category: string; count: number }[];
}

export function storeGauges(ctx: Context): StoreGauges {
  const now = ctx.now();
  const pending = stats.pendingDeliveries(ctx.db, now);
  return {
    notificationsByStatus: stats.notificationsByStatus(ctx.db).map((r) => ({ status: r.status, count: r.n })),
    notificationsOverdue: stats.overdueNotifications(ctx.db, now),
    deliveriesDue: pending.due,
    deliveriesDeferred: pending.deferred,
    subscriptions: stats.subscriptionCount(ctx.db),
    subscriptionsByCategory: stats.subscriptionsByCategory(ctx.db).map((r) => ({ category: r.name, count: r.n })),
  };
}

export interface Readiness {
  ready: boolean;
  checks: { store: 'ok' | string; keys: 'ok' | string };
}

/** Ready when the store answers and a VAPID key exists to sign with. */
export function readiness(ctx: Context): Readiness {
  const checks: Readiness['checks'] = { store: 'ok', keys: 'ok' };
  try {
    stats.pingStore(ctx.db);
  } catch (error) {
    checks.store = (error as Error).message;
  }
  if (checks.store === 'ok') {
    try {
      ensureActiveKey(ctx, false);
    } catch (error) {
      checks.keys = (error as Error).message;
    }
  } else {
    checks.keys = 'unknown: the store is unreachable';
  }
  return { ready: checks.store === 'ok' && checks.keys === 'ok', checks };
}
