/** `pushctl schedule`: store a notification for later (--at/--in) or a recurring rule (--cron); `dispatch` sends it. */
import { plural } from '../plural.js';
import type { Command } from 'commander';
import { addNotificationOptions, specFromOptions, type NotificationFlags } from '../notification-flags.js';
import { action } from '../run.js';
import { MAX_PLAINTEXT_BYTES } from '../../limits.js';

interface ScheduleFlags extends NotificationFlags {
  at?: string;
  in?: string;
  cron?: string;
  tz?: string;
  until?: string;
  count?: string;
  staleAfter?: string;
  nowIfPast?: boolean;
  localTime?: string | boolean;
}

export function registerSchedule(program: Command): void {
  const schedule = program
    .command('schedule')
    .description('prepare a notification for later (--at, --in) or on a recurring rule (--cron); "pushctl dispatch" sends it when due');
  addNotificationOptions(schedule)
    .option('--at <time>', 'when: ISO 8601 with offset (2030-05-01T09:30:00+02:00) or a local date-time (2030-05-01T09:30) read in --tz or the system zone')
    .option('--in <duration>', 'when: this long from now (90s, 30m, 2h, 3d)')
    .option('--cron <expr>', 'recurring: a cron rule, "minute hour day month weekday" (e.g. "0 9 * * 1-5"), in --tz')
    .option('--tz <zone>', 'IANA time zone for --at, --until and --cron (default: the system zone)')
    .option('--until <time>', 'recurring: no occurrences after this time')
    .option('--count <n>', 'recurring: at most this many occurrences')
    .option('--stale-after <duration>', 'skip (and mark) a run that starts later than this after its due time, rather than send it late')
    .option('--now-if-past', 'send at the next dispatch instead of refusing a time in the past')
    .option('--local-time [time]', 'each subscriber gets it at this wall-clock time in their own zone ("2026-12-24 09:00"); with --cron, no value: the rule\'s times are each subscriber\'s; --tz: the zone of subscribers without one')
    .action(
      action<ScheduleFlags>(async ({ options, out, context }) => {
        const spec = await specFromOptions(options);
        const { parseSchedule } = await import('../../core/schedule.js');
        const { formatInZone, systemZone } = await import('../../core/schedule-time.js');
        const { previewNotification, createNotification, describeTarget } = await import('../../core/notifications.js');
        const { upcomingSlots, ruleOf } = await import('../../core/recurrence.js');
        const ctx = await context();
        spec.schedule = parseSchedule(
          {
            at: options.at, in: options.in, cron: options.cron, tz: options.tz, until: options.until, count: options.count, staleAfter: options.staleAfter,
            nowIfPast: options.nowIfPast, localTime: options.localTime,
          },
          ctx.now(),
        );
        if (options.concurrency !== undefined) out.warn('--concurrency applies when sending: pass it to "pushctl dispatch"');
        const zone = spec.schedule.tz ?? systemZone();
        const { wallClockOfSlot } = await import('../../core/local-time.js');
        const localTime = spec.schedule.localTime;
        // A local-time rule's slots are counted in UTC+14: show them as the wall clock everyone waits for.
        const when = (t: number) => (localTime === undefined ? formatInZone(t, zone) : spec.schedule?.cron ? `${wallClockOfSlot(t).replace('T', ' ')} in each subscriber's zone` : `${localTime.replace('T', ' ')} in each subscriber's zone (from ${new Date(t).toISOString()}, where it comes first)`);
        const preview = await previewNotification(ctx, spec);
        const nextSlots = (view: { cron: string | null; tz: string | null; until: string | null; remaining: number | null; sendAt: string | null }) =>
          view.cron ? [Date.parse(view.sendAt!), ...upcomingSlots({ ...ruleOf(view), remaining: view.remaining === null ? null : view.remaining - 1 }, Date.parse(view.sendAt!), 4)] : [];

        if (options.dryRun) {
          const draft = { cron: spec.schedule.cron ?? null, tz: zone, until: spec.schedule.untilAt ? new Date(spec.schedule.untilAt).toISOString() : null, remaining: spec.schedule.count ?? null, sendAt: new Date(spec.schedule.sendAt!).toISOString() };
          const upcoming = spec.schedule.cron ? nextSlots(draft) : [spec.schedule.sendAt!];
          out.result({ dryRun: true, ...preview, next: upcoming.map((t) => new Date(t).toISOString()) }, () => [
            `recipients now: ${preview.recipients}`,
            `payload size:   ${preview.payloadBytes} bytes (limit ${MAX_PLAINTEXT_BYTES})`,
            ...upcoming.map((t, i) => `${i === 0 ? 'due:           ' : '               '} ${when(t)}`),
            out.color.dim('dry run: nothing was stored'),
          ]);
          return;
        }

        const view = await createNotification(ctx, spec);
        const upcoming = view.cron ? nextSlots(view) : [Date.parse(view.sendAt!)];
        const local = spec.schedule.localTime !== undefined;
        out.result({ ...view, next: upcoming.map((t) => new Date(t).toISOString()) }, () => [
          out.color.green('✓ ') +
            (local
              ? view.cron
                ? `recurring notification ${view.id}: "${view.cron}" in each subscriber's local time`
                : `notification ${view.id} scheduled for ${view.localTime} in each subscriber's zone (starting ${new Date(upcoming[0]!).toISOString()}, where that comes first)`
              : view.cron
              ? `recurring notification ${view.id}: "${view.cron}" in ${zone}` +
                (view.until ? `, until ${formatInZone(Date.parse(view.until), zone)}` : '') +
                (view.remaining !== null ? `, ${view.remaining} occurrence${view.remaining === 1 ? '' : 's'}` : '')
              : `notification ${view.id} scheduled for ${formatInZone(upcoming[0]!, zone)}`),
          `target:      ${describeTarget(view.target)} (${plural(preview.recipients, 'subscriber')} now; fixed when sending starts)`,
          ...(view.cron ? upcoming.map((t, i) => `${i === 0 ? 'next:       ' : '            '} ${when(t)}`) : []),
          ...(view.staleAfterMs !== null ? [`stale after: ${options.staleAfter}`] : []),
          out.color.dim('sent by "pushctl dispatch" when due (see "pushctl cron" for a crontab line)'),
        ]);
      }),
    );
}
