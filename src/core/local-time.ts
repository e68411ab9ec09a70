/**
 * Local-time sends (`schedule --local-time "2026-12-24 09:00"`, `send_at_local`): one wall-clock
 * time, reached in each subscriber's own zone. Pure time arithmetic here; delivery.ts defers each
 * zone's deliveries to its instant through the ledger (deferZones), so dispatch sends them zone by
 * zone. DST follows the rules of a fixed-time cron rule with --tz: a time the clocks skip (spring
 * forward) is sent at the moment of the jump, a time that occurs twice (fall back) the first time.
 */
import { DateTime } from 'luxon';
import { fail, msg, ref } from '../errors.js';
import type { ScheduleFields, ScheduleInput } from './notification-spec.js';
import { canonicalZone, formatInZone, nextCronSlot, parseCount, parseDateTime, positiveDuration, resolveZone, systemZone, validateCron } from './schedule-time.js';

/**
 * UTC+14 (the Line Islands): every wall-clock moment comes there first, so a recurring local-time
 * rule's slots are counted in this zone and each occurrence starts early enough for everyone.
 */
export const EARLIEST_ZONE = 'Etc/GMT-14';
/** UTC-12: every wall-clock moment comes there last. */
const LATEST_ZONE = 'Etc/GMT+12';
/** What a recurring rule stores as its local time (then a space and the --tz zone, if given): each slot's own wall clock. */
export const RULE_LOCAL_TIME = 'rule';
/** Reason prefix of deliveries waiting for their zone's instant (notifications show, dispatch). */
export const LOCAL_TIME_REASON = 'waiting for local time';

const LOCAL = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2}))?$/;

/** "2026-12-24 09:00" (or with T, or seconds) -> "2026-12-24T09:00"; no offset: it is a wall clock. */
export function parseLocalTime(text: string, field = 'localTime'): string {
  const value = text.trim();
  const match = LOCAL.exec(value);
  if (!match) {
    throw fail('invalid_input', msg`"${text}" is not a local date and time; use YYYY-MM-DD HH:MM like 2026-12-24 09:00 (no offset: each subscriber's own zone applies)`, { field });
  }
  const [, y, mo, d, h, mi, s] = match;
  const wall = DateTime.fromObject({ year: +y!, month: +mo!, day: +d!, hour: +h!, minute: +mi!, second: s ? +s : 0 }, { zone: 'UTC' });
  if (!wall.isValid) throw fail('invalid_input', `"${text}" is not a valid date and time (${wall.invalidExplanation ?? wall.invalidReason})`, { field });
  return wall.toFormat(s && s !== '00' ? "yyyy-MM-dd'T'HH:mm:ss" : "yyyy-MM-dd'T'HH:mm");
}

/** The instant the wall clock `wall` (from parseLocalTime) is reached in `zone` (see the DST rules above). */
export function localInstant(wall: string, zone: string): number {
  const naive = DateTime.fromISO(wall, { zone: 'UTC' }).toMillis();
  const offsets = new Set<number>();
  for (const probe of [naive - 36 * 3_600_000, naive, naive + 36 * 3_600_000]) offsets.add(DateTime.fromMillis(probe, { zone }).offset);
  const target = DateTime.fromMillis(naive, { zone: 'UTC' }).toFormat("yyyy-MM-dd'T'HH:mm:ss");
  const matches = [...offsets]
    .map((offset) => naive - offset * 60_000)
    .filter((candidate) => DateTime.fromMillis(candidate, { zone }).toFormat("yyyy-MM-dd'T'HH:mm:ss") === target);
  if (matches.length) return Math.min(...matches);
  // Skipped by the clocks: the moment of the jump, the first instant whose local time is later.
  // Before it, local time (instant + offset) is below the wall clock; from it on, above.
  let lo = naive - Math.max(...offsets) * 60_000;
  let hi = naive - Math.min(...offsets) * 60_000;
  while (hi - lo > 1000) {
    const mid = Math.floor((lo + hi) / 2);
    if (mid + DateTime.fromMillis(mid, { zone }).offset * 60_000 >= naive) hi = mid;
    else lo = mid;
  }
  // Transitions fall on whole minutes, and the jump is in [hi - 1 s, hi].
  return Math.floor(hi / 60_000) * 60_000;
}

/** The zone of subscribers without one: --tz, else push.defaultTimeZone, else the server's. */
export function fallbackZone(tz: string | null | undefined, configDefault: string | undefined): string {
  if (tz) return canonicalZone(tz);
  return configDefault ? resolveZone(configDefault, 'push.defaultTimeZone') : systemZone();
}

/** Each zone's instant for this wall clock; null (no zone) uses the fallback. */
export function localDueTimes(wall: string, zones: readonly (string | null)[], fallback: string): Map<string | null, number> {
  const due = new Map<string | null, number>();
  for (const zone of zones) due.set(zone, localInstant(wall, zone ?? fallback));
  return due;
}

/** A local-time rule's slot (counted in EARLIEST_ZONE) as the wall clock every zone waits for. */
export function wallClockOfSlot(slotAt: number): string {
  return DateTime.fromMillis(slotAt, { zone: EARLIEST_ZONE }).toFormat("yyyy-MM-dd'T'HH:mm");
}

/** The wall clock a notification's deliveries wait for: its own, or (an occurrence of a rule) its slot's. */
export function wallClockOf(row: { local_time?: string | null; slot_at: number | null }): string | null {
  if (!row.local_time) return null;
  if (!row.local_time.startsWith(RULE_LOCAL_TIME)) return row.local_time;
  return row.slot_at === null ? null : wallClockOfSlot(row.slot_at);
}

/** The zone for subscribers without one that a notification names: its --tz (a rule keeps it after "rule "), if any. */
export function ownFallbackOf(row: { local_time?: string | null; tz: string | null }): string | null {
  if (!row.local_time) return row.tz;
  if (row.local_time.startsWith(`${RULE_LOCAL_TIME} `)) return row.local_time.slice(RULE_LOCAL_TIME.length + 1);
  return row.local_time.startsWith(RULE_LOCAL_TIME) ? null : row.tz;
}

/**
 * `--local-time "2026-12-24 09:00"` (alone, or with --tz for subscribers without a zone) or
 * `--cron EXPR --local-time` (the rule's times are each subscriber's). A one-off starts when the
 * wall clock first comes anywhere (UTC+14), or now when that has passed; it is refused only when
 * the time has passed everywhere (UTC-12), unless nowIfPast. A rule's slots are counted in UTC+14,
 * so each occurrence starts before anyone's time comes.
 */
export function parseLocalSchedule(fields: ScheduleFields, now: number): ScheduleInput {
  for (const key of ['at', 'in'] as const) {
    if (fields[key] !== undefined) throw fail('invalid_request', msg`choose one of ${ref('localTime')} and ${ref(key === 'at' ? 'sendAt' : 'in')}`, { field: 'localTime' });
  }
  const fallback = fields.tz === undefined ? undefined : resolveZone(fields.tz);
  const staleAfterMs = fields.staleAfter === undefined ? undefined : positiveDuration(fields.staleAfter, 'staleAfter');
  if (fields.cron === undefined) {
    if (typeof fields.localTime !== 'string') throw fail('invalid_request', msg`give ${ref('localTime')} a date and time, like "2026-12-24 09:00"`, { field: 'localTime' });
    for (const key of ['until', 'count'] as const) {
      if (fields[key] !== undefined) throw fail('invalid_request', msg`only a recurring schedule (${ref('cron')}) has an end`, { field: key });
    }
    const wall = parseLocalTime(fields.localTime);
    const last = localInstant(wall, LATEST_ZONE);
    if (last < now && !fields.nowIfPast) {
      throw fail('time_in_past', `${wall} has passed in every subscriber's zone (the last, UTC-12, at ${new Date(last).toISOString()}; now is ${new Date(now).toISOString()})`, { field: 'localTime' });
    }
    return { sendAt: Math.max(localInstant(wall, EARLIEST_ZONE), now), tz: fallback, localTime: wall, staleAfterMs };
  }
  if (typeof fields.localTime === 'string') {
    throw fail('invalid_request', msg`with ${ref('cron')}, ${ref('localTime')} takes no value: the rule's times are each subscriber's local times`, { field: 'localTime' });
  }
  const cron = validateCron(fields.cron, EARLIEST_ZONE);
  const untilAt = fields.until === undefined ? undefined : parseDateTime(fields.until, fallback ?? systemZone(), 'until');
  const count = fields.count === undefined ? undefined : parseCount(fields.count, 'count');
  const first = nextCronSlot(cron, EARLIEST_ZONE, now);
  if (first === null) throw fail('invalid_input', `"${cron}" never fires`, { field: 'cron' });
  if (untilAt !== undefined && untilAt < first) {
    throw fail('invalid_input', `${new Date(untilAt).toISOString()} is before the first occurrence (${formatInZone(first, EARLIEST_ZONE)})`, { field: 'until' });
  }
  return { sendAt: first, cron, tz: EARLIEST_ZONE, untilAt, count, staleAfterMs, localTime: fallback ? `${RULE_LOCAL_TIME} ${fallback}` : RULE_LOCAL_TIME };
}
