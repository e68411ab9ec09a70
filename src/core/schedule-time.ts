/**
 * When a notification goes out, as operators type it: --at (ISO 8601 with an offset, or a local
 * date-time read in --tz / the system zone), --in (a duration), or --cron (a recurring rule in a
 * time zone) with --until / --count, plus --stale-after. Luxon reads zones and local times;
 * croner evaluates cron rules, DST-correct: a fixed-time rule (`30 2 * * *`) whose time falls in
 * a spring-forward gap fires once just after the gap, and once (the first time) on a fall-back
 * day; interval rules (`*\/30 * * * *`) skip the gap and run on both repeated hours, as Vixie cron.
 * schedule.ts puts these together for both faces; errors name the neutral field that was wrong, each face its own word for it.
 */
import { Cron } from 'croner';
import { DateTime, IANAZone } from 'luxon';
import { fail, msg, ref } from '../errors.js';
import { parseDuration } from './durations.js';

/** A valid IANA zone name in its canonical spelling; undefined means the system zone. */
export function resolveZone(name: string | undefined, field = 'tz'): string {
  if (name === undefined) return systemZone();
  const text = name.trim();
  if (!text || !IANAZone.isValidZone(text)) {
    throw fail('invalid_input', `"${name}" is not a time zone; use an IANA name like Europe/Berlin, America/New_York or UTC`, { field });
  }
  return canonicalZone(text);
}

export function systemZone(): string {
  return canonicalZone(DateTime.local().zoneName ?? 'UTC');
}

export function canonicalZone(name: string): string {
  try {
    return new Intl.DateTimeFormat('en-US', { timeZone: name }).resolvedOptions().timeZone;
  } catch {
    return name;
  }
}

const WITH_OFFSET = /(Z|[+-]\d{2}(:?\d{2})?)$/i;
const DATE_TIME = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}(:?\d{2})?)?$/i;

/**
 * An instant from ISO 8601: with an offset it is absolute; without, it is a wall-clock time in
 * `zone`. A wall-clock time that does not exist (spring-forward gap) is refused; one that occurs
 * twice (fall-back) means the first, as cron does; an explicit offset picks the other.
 */
export function parseDateTime(text: string, zone: string, field: string): number {
  const value = text.trim();
  if (!DATE_TIME.test(value)) {
    throw fail('invalid_input', msg`"${text}" is not a date-time; use ISO 8601 like 2030-05-01T09:30 (local, in ${ref('tz')} or the system zone) or 2030-05-01T09:30:00+02:00`, { field });
  }
  const iso = value.replace(' ', 'T');
  if (WITH_OFFSET.test(iso)) {
    const dt = DateTime.fromISO(iso, { setZone: true });
    if (!dt.isValid) throw fail('invalid_input', `"${text}" is not a valid date-time (${dt.invalidExplanation ?? dt.invalidReason})`, { field });
    return dt.toMillis();
  }
  const wall = DateTime.fromISO(iso, { zone: 'UTC' });
  if (!wall.isValid) throw fail('invalid_input', `"${text}" is not a valid date-time (${wall.invalidExplanation ?? wall.invalidReason})`, { field });
  const instant = wallClockToInstant(wall, zone);
  if (instant === null) {
    throw fail('invalid_input', `${value} does not exist in ${zone} (the clocks skip it when summer time starts); pick a time after the jump or give an offset`, { field });
  }
  return instant;
}

/** Earliest instant whose local time in `zone` equals the wall-clock fields of `wall` (given as UTC). */
function wallClockToInstant(wall: DateTime, zone: string): number | null {
  const naive = wall.toMillis();
  const offsets = new Set<number>();
  for (const probe of [naive - 36 * 3_600_000, naive, naive + 36 * 3_600_000]) {
    offsets.add(DateTime.fromMillis(probe, { zone }).offset);
  }
  const matches = [...offsets]
    .map((offsetMinutes) => naive - offsetMinutes * 60_000)
    .filter((candidate) => DateTime.fromMillis(candidate, { zone }).toFormat("yyyy-MM-dd'T'HH:mm:ss.SSS") === wall.toFormat("yyyy-MM-dd'T'HH:mm:ss.SSS"));
  return matches.length ? Math.min(...matches) : null;
}

const cronCache = new Map<string, Cron>();

function cronFor(expr: string, zone: string): Cron {
  const key = `${zone}\u0000${expr}`;
  let cron = cronCache.get(key);
  if (!cron) {
    // no-wildcard: `30 2,14 * * *` is fixed-time too (one run in a gap or a repeated hour), as in Vixie cron.
    cron = new Cron(expr, { paused: true, timezone: zone, mode: '5-or-6-parts', fixedTimeRule: 'no-wildcard' });
    cronCache.set(key, cron);
  }
  return cron;
}

/** Checks a 5-field (or 6-field, with seconds) cron rule or a nickname (@daily, @hourly...). */
export function validateCron(expr: string, zone: string, field = 'cron'): string {
  const text = expr.trim().replace(/\s+/g, ' ');
  if (!text) throw fail('invalid_input', 'is empty', { field });
  try {
    cronFor(text, zone);
  } catch (error) {
    const reason = (error as Error).message.replace(/^CronPattern: /, '');
    throw fail('invalid_input', `"${expr}" is not a cron rule (${reason}); use 5 fields "minute hour day month weekday", e.g. "0 9 * * 1-5"`, { field });
  }
  return text;
}

/** The rule's next time slot strictly after `afterMs`, or null when it never fires again. */
export function nextCronSlot(expr: string, zone: string, afterMs: number): number | null {
  const next = cronFor(expr, zone).nextRun(new Date(afterMs));
  return next ? next.getTime() : null;
}

/** The rule's latest time slot at or before `atMs` (whole seconds), or null. */
export function previousCronSlot(expr: string, zone: string, atMs: number): number | null {
  const [previous] = cronFor(expr, zone).previousRuns(1, new Date(Math.floor(atMs / 1000) * 1000 + 1000));
  return previous && previous.getTime() <= atMs ? previous.getTime() : null;
}

export function formatInZone(ms: number, zone: string): string {
  return `${DateTime.fromMillis(ms, { zone }).toISO({ suppressMilliseconds: true })} (${zone})`;
}

/** "3h 2m", "45s", "2d 1h": how late or how long, for messages. */
export function describeDuration(ms: number): string {
  let rest = Math.max(Math.round(ms / 1000), 0);
  const parts: string[] = [];
  for (const [unit, size] of [['d', 86_400], ['h', 3_600], ['m', 60], ['s', 1]] as const) {
    if (rest >= size || (unit === 's' && !parts.length)) {
      parts.push(`${Math.floor(rest / size)}${unit}`);
      rest %= size;
    }
    if (parts.length === 2) break;
  }
  return parts.join(' ');
}

export function positiveDuration(text: string, field: string): number {
  const value = parseDuration(text, field);
  if (value <= 0) throw fail('invalid_input', 'must be longer than zero', { field });
  return value;
}

export function parseCount(value: string | number, field: string): number {
  const text = String(value).trim();
  if (!/^\d+$/.test(text) || Number(text) < 1 || Number(text) > 1_000_000) {
    throw fail('invalid_input', `"${value}" must be a whole number of occurrences, at least 1`, { field });
  }
  return Number(text);
}

/** `since`: a duration ago ("2h", "3d") or a date-time (local in the system zone, or with an offset). */
export function parseSince(text: string, now: number, field = 'since'): number {
  const value = text.trim();
  if (/^\d+(\.\d+)?\s*[a-z]+$/i.test(value)) return now - parseDuration(value, field);
  return parseDateTime(value, systemZone(), field);
}
