/**
 * Point-in-time numbers from the store (metrics gauges) and the readiness check for probes. Both
 * faces' probes and metrics read them here, so what "ready" means is decided once.
 */
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

export async function storeGauges(ctx: Context): Promise<StoreGauges> {
  const { store } = ctx;
  const now = ctx.now();
  const [pending, byStatus, overdue, subscriptions, byCategory] = await Promise.all([
    store.pendingDeliveries(now),
    store.notificationsByStatus(),
    store.overdueNotifications(now),
    store.countSubscriptions(),
    store.subscriptionsByCategory(),
  ]);
  return {
    notificationsByStatus: byStatus.map((r) => ({ status: r.status, count: r.n })),
    notificationsOverdue: overdue,
    deliveriesDue: pending.due,
    deliveriesDeferred: pending.deferred,
    subscriptions,
    subscriptionsByCategory: byCategory.map((r) => ({ category: r.name, count: r.n })),
  };
}

export interface Readiness {
  ready: boolean;
  checks: { store: 'ok' | string; keys: 'ok' | string };
}

/** Ready when the store answers and a VAPID key exists to sign with. */
export async function readiness(ctx: Context): Promise<Readiness> {
  const checks: Readiness['checks'] = { store: 'ok', keys: 'ok' };
  try {
    await ctx.store.ping();
  } catch (error) {
    checks.store = (error as Error).message;
  }
  if (checks.store === 'ok') {
    try {
      await ensureActiveKey(ctx, false);
    } catch (error) {
      checks.keys = (error as Error).message;
    }
  } else {
    checks.keys = 'unknown: the store is unreachable';
  }
  return { ready: checks.store === 'ok' && checks.keys === 'ok', checks };
}
