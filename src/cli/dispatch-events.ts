/**
 * What the dispatcher's events look like in a log, for `pushctl dispatch` and for the loop that
 * `serve --dispatch` runs: one wording, two places that print it.
 */
import type { DispatchEvent, DispatchResult } from '../core/dispatcher.js';
import { plural } from './plural.js';

export interface EventLine {
  level: 'info' | 'warn' | 'error';
  text: string;
}

/** The lines one event prints (none for events that need no line). */
export function describeDispatchEvent(event: DispatchEvent): EventLine[] {
  switch (event.type) {
    case 'materialised':
      return [
        ...(event.created.length ? [info(`recurring: started occurrence ${event.created.join(', ')}${event.missed ? ` (${plural(event.missed, 'missed slot')} recorded as skipped)` : ''}`)] : []),
        ...(event.finished.length ? [info(`recurring: rule ${event.finished.join(', ')} produced its last occurrence`)] : []),
      ];
    case 'claimed':
      return [info(`notification ${event.id}: ${event.resumed ? 'resuming an interrupted send' : 'sending'}`)];
    case 'skipped':
      return [{ level: 'warn', text: `notification ${event.id} ${event.reason}` }];
    case 'delivered': {
      const s = event.summary;
      const c = s.counts;
      const text = `notification ${s.id}: ${s.status}, ${plural(c.total, 'recipient')}: ${c.sent} sent, ${c.gone} gone, ${c.failed} failed, ${c.pending} pending (${(event.elapsedMs / 1000).toFixed(1)} s)${s.stoppedReason ? `; stopped: ${s.stoppedReason}` : ''}`;
      return [{ level: s.status === 'sent' || s.status === 'cancelled' ? 'info' : 'warn', text }];
    }
    case 'joined': {
      const s = event.summary;
      const c = s.counts;
      const text = `notification ${s.id}: joined the send in progress, its share: ${c.sent} sent, ${c.gone} gone, ${c.failed} failed, ${c.retried} to retry (${(event.elapsedMs / 1000).toFixed(1)} s)${s.stoppedReason ? `; stopped: ${s.stoppedReason}` : ''}`;
      return [info(text)];
    }
    case 'error':
      return [{ level: 'error', text: `notification ${event.id}: ${event.message}` }];
    case 'maintenance':
      return [
        ...(describeMaintenance(event.report) ? [info(`housekeeping: ${describeMaintenance(event.report)}`)] : []),
        ...(event.report.errors ?? []).map((failure): EventLine => ({ level: 'error', text: `housekeeping ${failure.task} failed: ${failure.message} (tried again tomorrow)` })),
      ];
    default:
      return [];
  }
}

const info = (text: string): EventLine => ({ level: 'info', text });

/** "2 expired subscriptions removed, ..." or '' when the day's housekeeping found nothing. */
export function describeMaintenance(report: NonNullable<DispatchResult['maintenance']>): string {
  const parts: string[] = [];
  const n = (k: number, what: string) => `${k} ${what}${k === 1 ? '' : 's'}`;
  if (report.expired) parts.push(`${n(report.expired, 'expired subscription')} removed`);
  if (report.inactive) parts.push(`${n(report.inactive, 'inactive subscription')} removed`);
  if (report.history?.notifications) parts.push(`${n(report.history.deliveries, 'delivery row')} of ${n(report.history.notifications, 'old notification')} dropped`);
  return parts.join('; ');
}
