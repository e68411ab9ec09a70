/**
 * Terminal rendering of engagement: the funnel lines of `notifications show` and the per-day
 * table with a small bar chart of `pushctl stats`.
 */
import type { DayStats, EngagementStats, Funnel, Rates } from '../core/engagement.js';
import type { Output } from './output.js';

const BAR_WIDTH = 30;

export function funnelLines(funnel: Funnel): string[] {
  const pct = (rate: number | null) => (rate === null ? '' : ` (${(rate * 100).toFixed(1)}%)`);
  const lines = [
    `funnel:    ${funnel.targeted} targeted, ${funnel.delivered} delivered, ${funnel.shown} shown${pct(funnel.rates.shown)}, ` +
      `${funnel.clicked} clicked${pct(funnel.rates.clicked)}, ${funnel.dismissed} dismissed${pct(funnel.rates.dismissed)}`,
  ];
  for (const { action, clicks } of funnel.clicksByAction) {
    const rate = funnel.delivered > 0 ? clicks / funnel.delivered : null;
    lines.push(`           ${action === null ? 'body' : `button "${action}"`}: ${clicks} click${clicks === 1 ? '' : 's'}${pct(rate)}`);
  }
  return lines;
}

export async function statsLines(out: Output, stats: EngagementStats): Promise<string[]> {
  const peak = Math.max(1, ...stats.days.map((d) => d.delivered));
  const bar = (d: DayStats) => {
    const delivered = Math.round((d.delivered / peak) * BAR_WIDTH);
    const clicked = Math.min(delivered, Math.round((d.clicked / peak) * BAR_WIDTH));
    return out.color.cyan('█'.repeat(clicked)) + out.color.dim('▒'.repeat(delivered - clicked));
  };
  const pct = (r: Rates, key: keyof Rates) => (r[key] === null ? '' : `${(r[key]! * 100).toFixed(1)}%`);
  const inParens = (text: string) => (text ? ` (${text})` : '');
  const table = await out.table(
    ['day', 'delivered', 'shown', 'clicked', 'dismissed', 'shown %', 'clicked %', ''],
    stats.days.map((d) => [d.date, d.delivered, d.shown, d.clicked, d.dismissed, pct(d.rates, 'shown'), pct(d.rates, 'clicked'), bar(d)]),
  );
  const t = stats.totals;
  return [
    `since ${stats.since.slice(0, 10)} (UTC days)${stats.category ? `, notifications to category "${stats.category}"` : ''}`,
    table,
    `total: ${t.delivered} delivered, ${t.shown} shown${inParens(pct(t.rates, 'shown'))}, ${t.clicked} clicked${inParens(pct(t.rates, 'clicked'))}, ${t.dismissed} dismissed${inParens(pct(t.rates, 'dismissed'))}`,
    out.color.dim(`bar: delivered per day (${out.color.cyan('█')} clicked), scaled to the busiest day`),
  ];
}
