/** `pushctl notifications list|show|cancel|delete|prune|resume`: the history of what was (or will be) sent. */
import { plural } from '../plural.js';
import type { Command } from 'commander';
import { colourStatus, exitCodeForSummary, printSummary, startProgress, stopOnSignals } from '../delivery-report.js';
import { parseConcurrency } from '../notification-flags.js';
import { confirmOrRefuse } from '../prompts.js';
import { printable, printableOr } from '../printable.js';
import { action } from '../run.js';
import { fail } from '../../errors.js';
import { wholeNumber } from '../numbers.js';
import { LIST_LIMIT } from '../../limits.js';
import type { NotificationView } from '../../core/notifications.js';

export function registerNotifications(program: Command): void {
  const notifications = program.command('notifications').description('scheduled, recurring and sent notifications: list, show, cancel, delete, prune, resume');

  notifications
    .command('list')
    .description('newest first: id, status, title, target, due or sent time, counts')
    .option('--status <status>', 'only this status: scheduled, sending, sent, partial, failed, cancelled or skipped')
    .option('--since <time|duration>', 'only those due, sent or created since a time (2030-05-01T09:00) or this long ago (2h, 7d)')
    .option('--limit <n>', `at most this many (default ${LIST_LIMIT.default}, at most ${LIST_LIMIT.max})`)
    .action(
      action<{ status?: string; since?: string; limit?: string }>(async ({ options, out, context }) => {
        const { listNotifications, describeTarget } = await import('../../core/notifications.js');
        const { parseSince } = await import('../../core/schedule-time.js');
        const ctx = await context();
        const since = options.since === undefined ? undefined : parseSince(options.since, ctx.now());
        const limit = options.limit === undefined ? undefined : parseLimit(options.limit);
        const views = await listNotifications(ctx, { status: options.status, since, limit });
        const rows = views.map((v) => [
          v.id,
          colourStatus(out, v.status),
          printable(truncate(v.title ?? '', 30)),
          truncate(describeTarget(v.target), 24),
          when(v),
          v.counts.sent,
          v.counts.gone,
          v.counts.failed,
          v.counts.pending,
        ]);
        const table = rows.length ? await out.table(['id', 'status', 'title', 'target', 'due / sent', 'sent', 'gone', 'failed', 'pending'], rows) : '';
        out.result(views, () => (views.length ? table : out.color.dim('no notifications')));
      }),
    );

  notifications
    .command('show')
    .description('content, options, schedule, counts and recent failures (with status codes)')
    .argument('<id>', 'notification id')
    .action(
      action<Record<string, never>, [string]>(async ({ out, context }, idText) => {
        const { getNotification, recentFailures, describeTarget } = await import('../../core/notifications.js');
        const { listOccurrences, upcomingSlots, ruleOf } = await import('../../core/recurrence.js');
        const { formatInZone, describeDuration } = await import('../../core/schedule-time.js');
        const ctx = await context();
        const view = await getNotification(ctx, parseId(idText));
        const failures = await recentFailures(ctx, view.id, 10);
        const { funnelOf } = await import('../../core/engagement.js');
        const { funnelLines } = await import('../engagement-report.js');
        const funnel = view.cron ? undefined : await funnelOf(ctx, view.id);
        const deferred = await (await import('../../core/quiet-hours.js')).deferredDeliveries(ctx, view.id);
        const dueTimes = view.counts.pending > 0 ? await (await import('../../core/local-time-sends.js')).pendingSchedule(ctx, view.id) : [];
        const occurrences = view.cron ? await listOccurrences(ctx, view.id, 10) : undefined;
        const next =
          view.cron && view.status === 'scheduled' && view.sendAt
            ? [Date.parse(view.sendAt), ...upcomingSlots({ ...ruleOf(view), remaining: view.remaining === null ? null : view.remaining - 1 }, Date.parse(view.sendAt), 4)]
            : [];
        const value = { ...view, deferred, dueTimes, ...(funnel ? { funnel } : {}), recentFailures: failures, ...(occurrences ? { occurrences: { total: occurrences.total, recent: occurrences.recent } } : {}), ...(view.cron ? { next: next.map((t) => new Date(t).toISOString()) } : {}) };
        const zone = view.tz ?? 'UTC';
        const lines: string[] = [
          `notification ${view.id}: ${colourStatus(out, view.status)}${view.error ? ` (${printable(view.error)})` : ''}`,
          `title:     ${printableOr(view.title)}`,
          `payload:   ${printable(JSON.stringify(view.payload))}`,
          `target:    ${describeTarget(view.target)}`,
          `options:   ttl ${view.ttl} s, urgency ${view.urgency ?? 'normal'}, topic ${view.topic ?? '-'}${view.urgent ? ', urgent (not capped)' : ''}`,
        ];
        const { wallClockOfSlot } = await import('../../core/local-time.js');
        // A local-time rule's slots are counted in UTC+14: shown as the wall clock each zone waits for.
        const slotText = (t: number) => (view.localTime ? `${wallClockOfSlot(t).replace('T', ' ')} in each subscriber's zone` : formatInZone(t, zone));
        if (view.cron) {
          lines.push(`rule:      "${view.cron}" in ${view.localTime ? "each subscriber's local time" : zone}${view.until ? `, until ${formatInZone(Date.parse(view.until), zone)}` : ''}${view.remaining !== null ? `, ${view.remaining} left` : ''}`);
          next.forEach((t, i) => lines.push(`${i === 0 ? 'next:     ' : '          '} ${slotText(t)}`));
        } else if (view.sendAt) {
          lines.push(`due:       ${formatInZone(Date.parse(view.sendAt), zone)}`);
        }
        if (view.parentId !== null) lines.push(`rule:      occurrence of ${view.parentId} for slot ${view.slotAt ?? ''}`);
        if (view.localTime) {
          const what = view.cron ? "the rule's times" : view.localTime;
          lines.push(`local:     ${what} in each subscriber's zone (${view.localTimeFallback ?? 'push.defaultTimeZone, else the server\'s zone,'} for those without one)`);
        }
        if (view.rate) lines.push(`rate:      at most ${view.rate} deliveries started`);
        if (view.staleAfterMs !== null) lines.push(`stale:     skipped if a run starts more than ${describeDuration(view.staleAfterMs)} late`);
        lines.push(`created:   ${view.createdAt}`);
        if (view.startedAt) lines.push(`started:   ${view.startedAt}`);
        if (view.finishedAt) lines.push(`finished:  ${view.finishedAt}`);
        const c = view.counts;
        if (!view.cron) lines.push(`counts:    ${plural(c.total, 'recipient')}: ${c.sent} sent, ${c.gone} gone, ${c.failed} failed, ${c.pending} pending${c.capped ? `, ${c.capped} capped` : ''}`);
        if (funnel) lines.push(...funnelLines(funnel));
        if (deferred.count) lines.push(`deferred:  ${deferred.count} waiting for quiet hours to end (first at ${deferred.until})`);
        // How many are due when (zone by zone for --local-time; retries and throttle slots too).
        if (dueTimes.length && (view.localTime || dueTimes.length > 1 || dueTimes[0]!.dueAt !== null)) {
          dueTimes.slice(0, 12).forEach((d, i) => lines.push(`${i === 0 ? 'due:      ' : '          '} ${d.deliveries} ${d.dueAt === null ? 'now' : `at ${d.dueAt}`}${view.localTime ? zoneList(d.zones) : ''}`));
          if (dueTimes.length > 12) lines.push(`           ... and ${dueTimes.slice(12).reduce((n, d) => n + d.deliveries, 0)} more later`);
        }
        if (view.ledgerPrunedAt) lines.push(`history:   per-delivery records pruned ${view.ledgerPrunedAt} (counts kept)`);
        if (occurrences) {
          lines.push(`occurrences: ${occurrences.total}`);
          if (occurrences.recent.length) {
            lines.push(
              await out.table(
                ['id', 'slot', 'status', 'sent', 'gone', 'failed', 'pending'],
                occurrences.recent.map((o) => [o.id, o.slotAt ? formatInZone(Date.parse(o.slotAt), zone) : '', colourStatus(out, o.status), o.counts.sent, o.counts.gone, o.counts.failed, o.counts.pending]),
              ),
            );
          }
        }
        if (failures.length) {
          lines.push('recent failures:');
          lines.push(await out.table(['subscription', 'state', 'status', 'attempts', 'error', 'at'], failures.map((f) => [f.subscriptionId, f.state, f.statusCode, f.attempts, printable(truncate(f.error ?? '', 50)), f.at])));
        }
        out.result(value, () => lines);
      }),
    );

  notifications
    .command('cancel')
    .description('a scheduled one never goes out; one being sent stops after the requests in flight; a recurring rule stops')
    .argument('<id>', 'notification id')
    .action(
      action<Record<string, never>, [string]>(async ({ out, context }, idText) => {
        const { cancelNotificationOrRule } = await import('../../core/recurrence.js');
        const ctx = await context();
        const before = await (await import('../../core/notifications.js')).getNotification(ctx, parseId(idText));
        const view = await cancelNotificationOrRule(ctx, before.id);
        out.result(view, () =>
          out.color.green('✓ ') +
          (view.cron
            ? `recurring notification ${view.id} cancelled: no more occurrences${view.cancelledOccurrences ? ` (${plural(view.cancelledOccurrences, 'due occurrence')} cancelled too)` : ''}`
            : before.status === 'sending'
              ? `notification ${view.id} cancelled: the sender stops after the requests in flight (${view.counts.sent} sent so far)`
              : `notification ${view.id} cancelled: it will not be sent`),
        );
      }),
    );

  notifications
    .command('delete')
    .description('remove a notification and its delivery records (a recurring rule: with its occurrences); a send in progress stops')
    .argument('<id>', 'notification id')
    .option('-y, --yes', 'do not ask for confirmation')
    .action(
      action<{ yes?: boolean }, [string]>(async ({ options, out, context }, idText) => {
        const { getNotification } = await import('../../core/notifications.js');
        const { deleteNotificationOrRule } = await import('../../core/recurrence.js');
        const ctx = await context();
        const view = await getNotification(ctx, parseId(idText));
        const ok = await confirmOrRefuse(out, `Delete notification ${view.id} (${view.status}) and its delivery records?`, options.yes, 'deleting needs confirmation');
        if (!ok) {
          out.info('nothing deleted');
          return;
        }
        const result = await deleteNotificationOrRule(ctx, view.id);
        out.result({ deleted: true, ...result }, () =>
          out.color.green('✓ ') + `notification ${view.id} deleted${result.deletedOccurrences ? ` with ${plural(result.deletedOccurrences, 'occurrence')}` : ''}`,
        );
      }),
    );

  notifications
    .command('prune')
    .description('drop the per-delivery records of notifications that finished longer ago than a duration; their counts stay')
    .requiredOption('--older-than <duration>', 'finished more than this long ago, e.g. 90d')
    .option('--dry-run', 'only count what would be dropped')
    .addHelpText('after', `
The ledger grows by one row per recipient per notification. "push.keepHistoryFor" in the config
makes "pushctl dispatch" do this once a day.

Examples:
  pushctl notifications prune --older-than 90d --dry-run
  pushctl notifications prune --older-than 90d`)
    .action(
      action<{ olderThan: string; dryRun?: boolean }>(async ({ options, out, context }) => {
        const { parseDuration } = await import('../../core/durations.js');
        const { pruneHistory } = await import('../../core/history.js');
        const olderThanMs = parseDuration(options.olderThan, 'olderThan');
        const result = await pruneHistory(await context(), { olderThanMs, dryRun: options.dryRun });
        const n = (k: number, what: string) => `${k} ${what}${k === 1 ? '' : 's'}`;
        out.result(result, () =>
          result.dryRun
            ? `would drop ${n(result.deliveries, 'delivery record')} of ${n(result.notifications, 'notification')} finished before ${result.olderThan} (dry run)`
            : `dropped ${n(result.deliveries, 'delivery record')} of ${n(result.notifications, 'notification')} finished before ${result.olderThan}; their counts are kept`,
        );
      }),
    );

  notifications
    .command('resume')
    .description('finish an interrupted send now, in this process (also one stopped by a push-service key problem)')
    .argument('<id>', 'notification id')
    .option('--concurrency <n>', 'requests in flight at once (default: push.concurrency)')
    .action(
      action<{ concurrency?: string }, [string]>(async ({ options, out, context }, idText) => {
        const { resumeNotification } = await import('../../core/dispatcher.js');
        const { newOwnerId } = await import('../../core/delivery.js');
        const { getNotification } = await import('../../core/notifications.js');
        const concurrency = parseConcurrency(options.concurrency);
        const { RETRY_BUDGET } = await import('../../core/context.js');
        const ctx = await context({ retryForMs: RETRY_BUDGET.worker });
        const id = parseId(idText);
        const before = await getNotification(ctx, id);
        const { progress, onProgress } = await startProgress(out, before.counts.pending || before.counts.total);
        const stop = stopOnSignals();
        const started = Date.now();
        try {
          const summary = await resumeNotification(ctx, id, { owner: newOwnerId(), concurrency, signal: stop.signal, onProgress });
          progress.stop();
          await printSummary(out, summary, Date.now() - started);
          process.exitCode = exitCodeForSummary(summary);
        } finally {
          progress.stop();
          stop.dispose();
        }
      }),
    );
}

function when(v: NotificationView): string {
  const time = v.finishedAt ?? v.sendAt;
  const text = time ? time.replace('T', ' ').replace(/\.\d{3}Z$/, 'Z') : '';
  return v.cron ? `${v.status === 'scheduled' ? 'next ' : ''}${text} (${v.cron})` : text;
}

/** " (Asia/Tokyo, Europe/Berlin, Europe/Paris and 3 more)" after a due time; "without a zone" for those who have none. */
function zoneList(zones: readonly (string | null)[]): string {
  const names = zones.map((zone) => (zone === null ? 'without a zone' : printable(zone)));
  if (names.length <= 3) return ` (${names.join(', ')})`;
  return ` (${names.slice(0, 3).join(', ')} and ${names.length - 3} more)`;
}

function truncate(text: string, max: number): string {
  return text.length > max ? text.slice(0, max - 1) + '…' : text;
}

export function parseId(text: string): number {
  if (!/^\d{1,16}$/.test(text.trim())) {
    throw fail('invalid_request', `"${text}" is not a notification id (a whole number, see "pushctl notifications list")`);
  }
  return Number(text.trim());
}

function parseLimit(text: string): number {
  return wholeNumber(text, 'limit', 1, LIST_LIMIT.max);
}
