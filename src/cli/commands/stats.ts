/** `pushctl stats`: delivered, shown, clicked and dismissed per day, with rates and a bar chart. */
import type { Command } from 'commander';
import { action } from '../run.js';

interface StatsFlags {
  since?: string;
  category?: string;
}

export function registerStats(program: Command): void {
  program
    .command('stats')
    .description('engagement per day: delivered, shown, clicked, dismissed, with rates and a small bar chart (e.g. --since 7d --category news)')
    .option('--since <duration>', 'how far back (30d, 12h, ...; at most a year)', '30d')
    .option('--category <name>', 'only notifications sent to this category')
    .action(
      action<StatsFlags>(async ({ options, out, context }) => {
        const { engagementStats } = await import('../../core/engagement.js');
        const { statsLines } = await import('../engagement-report.js');
        const ctx = await context();
        const stats = await engagementStats(ctx, { since: options.since, category: options.category });
        const lines = await statsLines(out, stats);
        out.result(stats, () => lines);
      }),
    );
}
