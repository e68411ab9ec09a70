/**
 * The faces' time fields (`--at`, `--in`, `--cron`, `--local-time`; `send_at`, ...) turned into the
 * ScheduleInput the core stores: one of at/in/cron, or a local time (local-time.ts).
 */
import { fail, msg, ref } from '../errors.js';
import { parseDuration } from './durations.js';
import { parseLocalSchedule } from './local-time.js';
import type { ScheduleFields, ScheduleInput } from './notification-spec.js';
import { formatInZone, nextCronSlot, parseCount, parseDateTime, positiveDuration, resolveZone, validateCron } from './schedule-time.js';

/**
 * Turns the schedule fields into the ScheduleInput the core stores (sendAt = first due time).
 * Errors name the neutral fields (`sendAt`, `in`, `cron`, `tz`, `until`, `count`, `staleAfter`);
 * each face names them as its users typed them (`--at`, `send_at`).
 */
export function parseSchedule(fields: ScheduleFields, now: number): ScheduleInput {
  if (fields.localTime !== undefined && fields.localTime !== false) return parseLocalSchedule(fields, now);
  const name = { at: 'sendAt', in: 'in', cron: 'cron' } as const;
  const given = (['at', 'in', 'cron'] as const).filter((k) => fields[k] !== undefined);
  if (given.length !== 1) {
    throw fail(
      'invalid_request',
      given.length
        ? msg`choose one of ${ref('sendAt')}, ${ref('in')} or ${ref('cron')}, not ${ref(name[given[0]!])} and ${ref(name[given[1]!])}`
        : msg`say when: ${ref('sendAt')} TIME, ${ref('in')} DURATION or ${ref('cron')} "EXPR"`,
      { field: given.length ? name[given[1]!] : 'sendAt' },
    );
  }
  const zone = resolveZone(fields.tz);
  const staleAfterMs = fields.staleAfter === undefined ? undefined : positiveDuration(fields.staleAfter, 'staleAfter');

  if (fields.cron === undefined) {
    for (const key of ['until', 'count'] as const) {
      if (fields[key] !== undefined) throw fail('invalid_request', msg`only a recurring schedule (${ref('cron')}) has an end`, { field: key });
    }
    let sendAt = fields.at !== undefined ? parseDateTime(fields.at, zone, 'sendAt') : now + parseDuration(fields.in!, 'in');
    if (sendAt < now) {
      if (!fields.nowIfPast) {
        throw fail('time_in_past', `${new Date(sendAt).toISOString()} is in the past (now is ${new Date(now).toISOString()})`, { field: 'sendAt' });
      }
      sendAt = now;
    }
    return { sendAt, tz: fields.tz === undefined ? undefined : zone, staleAfterMs };
  }

  const cron = validateCron(fields.cron, zone);
  const untilAt = fields.until === undefined ? undefined : parseDateTime(fields.until, zone, 'until');
  const count = fields.count === undefined ? undefined : parseCount(fields.count, 'count');
  const first = nextCronSlot(cron, zone, now);
  if (first === null) throw fail('invalid_input', `"${cron}" never fires`, { field: 'cron' });
  if (untilAt !== undefined && untilAt < first) {
    throw fail('invalid_input', `${new Date(untilAt).toISOString()} is before the first occurrence (${formatInZone(first, zone)})`, { field: 'until' });
  }
  return { sendAt: first, cron, tz: zone, untilAt, count, staleAfterMs };
}
