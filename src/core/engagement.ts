/**
 * Engagement reports, the same numbers for `pushctl notifications show` / `pushctl stats` and the
 * admin API: the funnel of one notification (targeted, delivered, shown, clicked and per button,
 * dismissed, with rates against delivered) and per-day totals over a period.
 */
import { fail } from '../errors.js';
import { MAX_STATS_DAYS } from '../limits.js';
import type { Context } from './context.js';
import { parseDurationSeconds } from './durations.js';

const DAY_MS = 86_400_000;

export interface Rates {
  /** Fractions of delivered (0..1, four decimals); null when nothing was delivered. */
  shown: number | null;
  clicked: number | null;
  dismissed: number | null;
}

export interface Funnel {
  targeted: number;
  delivered: number;
  shown: number;
  clicked: number;
  dismissed: number;
  clicksByAction: { action: string | null; clicks: number }[];
  rates: Rates;
}

export async function funnelOf(ctx: Context, notificationId: number): Promise<Funnel> {
  if (!(await ctx.store.notificationById(notificationId))) throw fail('notification_not_found', `notification ${notificationId} does not exist`, { details: { id: notificationId } });
  const counts = await ctx.store.funnelCounts(notificationId);
  return { ...counts, clicksByAction: await ctx.store.clicksByAction(notificationId), rates: ratesOf(counts) };
}

export interface DayStats {
  /** YYYY-MM-DD (UTC) */
  date: string;
  delivered: number;
  shown: number;
  clicked: number;
  dismissed: number;
  rates: Rates;
}

export interface EngagementStats {
  since: string;
  category: string | null;
  days: DayStats[];
  totals: Omit<DayStats, 'date'>;
}

/** `since` is a duration back from now ("30d", "12h"); days are UTC days, oldest first, none skipped. */
export async function engagementStats(ctx: Context, options: { since?: string | undefined; category?: string | undefined } = {}): Promise<EngagementStats> {
  const seconds = parseDurationSeconds(options.since ?? '30d', 'since');
  const now = ctx.now();
  const firstDay = Math.max(Math.floor((now - seconds * 1000) / DAY_MS), Math.floor(now / DAY_MS) - MAX_STATS_DAYS + 1);
  const since = firstDay * DAY_MS;
  const rows = new Map((await ctx.store.dailyCounts(since, options.category)).map((r) => [r.day, r]));
  const days: DayStats[] = [];
  const totals = { delivered: 0, shown: 0, clicked: 0, dismissed: 0 };
  for (let day = firstDay; day <= Math.floor(now / DAY_MS); day++) {
    const row = rows.get(day) ?? { delivered: 0, shown: 0, clicked: 0, dismissed: 0 };
    const counts = { delivered: row.delivered, shown: row.shown, clicked: row.clicked, dismissed: row.dismissed };
    for (const key of ['delivered', 'shown', 'clicked', 'dismissed'] as const) totals[key] += counts[key];
    days.push({ date: new Date(day * DAY_MS).toISOString().slice(0, 10), ...counts, rates: ratesOf(counts) });
  }
  return { since: new Date(since).toISOString(), category: options.category ?? null, days, totals: { ...totals, rates: ratesOf(totals) } };
}

function ratesOf(c: { delivered: number; shown: number; clicked: number; dismissed: number }): Rates {
  const rate = (n: number) => (c.delivered > 0 ? Math.round((n / c.delivered) * 10_000) / 10_000 : null);
  return { shown: rate(c.shown), clicked: rate(c.clicked), dismissed: rate(c.dismissed) };
}
