/**
 * Housekeeping that `pushctl dispatch` does at most once a day (whichever dispatcher, cron run or
 * `--watch` loop gets there first; the store records the last run): drop subscriptions whose
 * expirationTime has passed, and, when configured, inactive subscriptions
 * (`push.pruneInactiveAfter`) and old delivery rows (`push.keepHistoryFor`).
 */
import type { Context } from './context.js';
import { parseDuration } from './durations.js';
import { pruneHistory } from './history.js';
import { pruneSubscriptions } from './subscriptions.js';

export const MAINTENANCE_EVERY_MS = 86_400_000;

export interface MaintenanceReport {
  /** subscriptions removed because their expirationTime passed */
  expired?: number;
  /** subscriptions removed by push.pruneInactiveAfter */
  inactive?: number;
  /** notifications whose delivery rows push.keepHistoryFor dropped, and how many rows */
  history?: { notifications: number; deliveries: number };
  /** a task that failed (the others still ran; dispatch goes on) */
  errors?: { task: string; message: string }[];
}

interface Task {
  name: string;
  run(ctx: Context, report: MaintenanceReport): Promise<void>;
}

function tasks(ctx: Context): Task[] {
  const list: Task[] = [
    {
      name: 'prune-expired-subscriptions',
      run: async (c, report) => {
        report.expired = (await pruneSubscriptions(c, { expired: true })).removed;
      },
    },
  ];
  const inactive = ctx.config.push.pruneInactiveAfter;
  if (inactive) {
    list.push({
      name: 'prune-inactive-subscriptions',
      run: async (c, report) => {
        report.inactive = (await pruneSubscriptions(c, { olderThanMs: parseDuration(inactive, 'push.pruneInactiveAfter') })).removed;
      },
    });
  }
  const keep = ctx.config.push.keepHistoryFor;
  if (keep) {
    list.push({
      name: 'prune-history',
      run: async (c, report) => {
        const pruned = await pruneHistory(c, { olderThanMs: parseDuration(keep, 'push.keepHistoryFor') });
        report.history = { notifications: pruned.notifications, deliveries: pruned.deliveries };
      },
    });
  }
  return list;
}

/**
 * Runs the tasks whose day has come; null when none was due (the common case: one read per task,
 * no write). A task is claimed before it runs, so a crash in the middle waits for the next day.
 */
export async function runDueMaintenance(ctx: Context): Promise<MaintenanceReport | null> {
  const now = ctx.now();
  let report: MaintenanceReport | null = null;
  for (const task of tasks(ctx)) {
    const last = await ctx.store.lastRun(task.name);
    if (last !== null && now - last < MAINTENANCE_EVERY_MS) continue;
    if (!(await ctx.store.claimRun(task.name, now, MAINTENANCE_EVERY_MS))) continue;
    report ??= {};
    try {
      await task.run(ctx, report);
    } catch (error) {
      (report.errors ??= []).push({ task: task.name, message: (error as Error).message });
    }
  }
  return report;
}
