/**
 * The operator's delivery policy as written: frequency caps ("3/day") and quiet hours
 * ("22:00-08:00"). Pure parsers, no store: the config schema checks push.frequencyCap and
 * push.quietHours with the same code as `categories update --cap/--quiet-hours`, and config may
 * import no core (eslint.config.js). Applying them is src/core/frequency-cap.ts and quiet-hours.ts.
 */
import { IANAZone } from 'luxon';
import { parseDuration } from './durations.js';
import { fail } from './errors.js';
import { FREQUENCY_CAP, MAX_RATE_COUNT } from './limits.js';

/** Where a value came from, for errors: a neutral `field` (cap, quietHours) and/or a document location (`push.frequencyCap`, `category news`). */
export interface Source {
  field?: string | undefined;
  at?: string | undefined;
}

export interface FrequencyCap {
  /** notifications a subscriber may receive in the window */
  limit: number;
  windowMs: number;
  /** as the operator wrote it, e.g. "3/day" */
  text: string;
}

const CAP_EXAMPLES = 'like 3/day, 10/week, 1/hour or 2/12h';

const invalid = (source: Source, message: string) => fail('invalid_input', message, { field: source.field, at: source.at });

/**
 * Reads "N/period" (period: hour, day, week, or a duration like 12h); "none" (or "") means no cap
 * and returns null.
 */
export function parseFrequencyCap(value: unknown, source: Source = {}): FrequencyCap | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string') throw invalid(source, `must be a cap ${CAP_EXAMPLES}, or "none"`);
  const text = value.trim();
  if (text === '' || text.toLowerCase() === 'none') return null;
  const match = /^(\d+)\s*\/\s*([a-z0-9. ]+)$/i.exec(text);
  if (!match) throw invalid(source, `"${text}" is not a frequency cap; use N/period, ${CAP_EXAMPLES}, or "none"`);
  const limit = Number(match[1]);
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > FREQUENCY_CAP.maxLimit) throw invalid(source, `"${text}": the number must be from 1 to ${FREQUENCY_CAP.maxLimit}`);
  const period = match[2]!.trim();
  let windowMs: number;
  try {
    // "day" is one day; "12h" is itself a duration.
    windowMs = parseDuration(/^\d/.test(period) ? period : `1${period}`, '');
  } catch {
    throw invalid(source, `"${text}": "${period}" is not a period; use hour, day, week or a duration like 12h`);
  }
  if (windowMs < FREQUENCY_CAP.minWindowMs || windowMs > FREQUENCY_CAP.maxWindowMs) throw invalid(source, `"${text}": the period must be from 1 minute to 366 days`);
  return { limit, windowMs, text };
}

export interface QuietHours {
  /** minutes after local midnight */
  start: number;
  end: number;
  /** "22:00-08:00" */
  text: string;
}

const TIME = /^([01]?\d|2[0-3]):([0-5]\d)$/;

/** "21:00-09:00" or {start, end} (or "none"/"" for none). */
export function parseQuietHours(value: unknown, source: Source = {}): QuietHours | null {
  if (value === undefined || value === null) return null;
  if (typeof value === 'object' && !Array.isArray(value)) {
    const { start, end } = value as { start?: unknown; end?: unknown };
    return parseQuietHours(`${String(start)}-${String(end)}`, source);
  }
  if (typeof value !== 'string') throw invalid(source, 'must be a range like 22:00-08:00, or "none"');
  const text = value.trim();
  if (text === '' || text.toLowerCase() === 'none') return null;
  const [from, to, ...rest] = text.split('-').map((part) => part.trim());
  const start = from === undefined ? null : minutes(from);
  const end = to === undefined ? null : minutes(to);
  if (rest.length || start === null || end === null) throw invalid(source, `"${text}" is not a range of times; use HH:MM-HH:MM like 22:00-08:00, or "none"`);
  if (start === end) throw invalid(source, `"${text}": start and end are the same time`);
  return { start, end, text: `${hhmm(start)}-${hhmm(end)}` };
}

/**
 * A category's own quiet hours as `categories update --quiet-hours` takes them: a range (its own),
 * "none" (none for this category, whatever the config says), or "default" / null (the config's,
 * stored as NULL). Returns what is stored.
 */
export function parseCategoryQuietHours(value: unknown, source: Source = {}): string | null {
  if (value === null) return null;
  if (typeof value === 'string') {
    const word = value.trim().toLowerCase();
    if (word === 'default') return null;
    if (word === 'none') return CATEGORY_QUIET_OFF;
    if (word === '') throw invalid(source, 'is empty; give a range like 21:00-09:00, "none" (no quiet hours for this category) or "default" (the config\'s)');
  }
  return parseQuietHours(value, source)!.text;
}

/** Stored in categories.quiet_hours: this category has no quiet hours, whatever push.quietHours says. */
export const CATEGORY_QUIET_OFF = 'none';

/**
 * Why a housekeeping horizon (push.pruneInactiveAfter, push.keepHistoryFor) is unusable, or
 * undefined: a duration of at least a day, since a shorter one would delete what is still in use.
 */
export function housekeepingDurationProblem(value: string): string | undefined {
  let ms: number;
  try {
    ms = parseDuration(value, '');
  } catch {
    return `"${value}" is not a duration (examples: 60d, 90d, 12w)`;
  }
  return ms < HOUSEKEEPING_MIN_MS ? `"${value}" is shorter than a day; use at least 1d` : undefined;
}

const HOUSEKEEPING_MIN_MS = 86_400_000;

function minutes(text: string): number | null {
  const match = TIME.exec(text);
  return match ? Number(match[1]) * 60 + Number(match[2]) : null;
}

function hhmm(total: number): string {
  return `${String(Math.floor(total / 60)).padStart(2, '0')}:${String(total % 60).padStart(2, '0')}`;
}

/** A throttle: at most `count` deliveries started per `periodMs`. */
export interface Rate {
  count: number;
  periodMs: number;
  /** canonical, e.g. "600/min" */
  text: string;
}

const RATE_PERIODS: Record<string, [string, number]> = {
  s: ['s', 1000], sec: ['s', 1000], second: ['s', 1000],
  m: ['min', 60_000], min: ['min', 60_000], minute: ['min', 60_000],
  h: ['h', 3_600_000], hour: ['h', 3_600_000],
};
const RATE_EXAMPLES = 'like 50/s, 600/min or 10000/h';

/** Reads "N/s", "N/min" or "N/h" (N a whole number); "none" (or "") means no throttle and returns null. */
export function parseRate(value: unknown, source: Source = {}): Rate | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string') throw invalid(source, `must be a rate ${RATE_EXAMPLES}, or "none"`);
  const text = value.trim();
  if (text === '' || text.toLowerCase() === 'none') return null;
  const match = /^(\d+)\s*\/\s*([a-z]+)$/i.exec(text);
  const period = match ? RATE_PERIODS[match[2]!.toLowerCase()] : undefined;
  if (!match || !period) throw invalid(source, `"${text}" is not a rate; use N/s, N/min or N/h, ${RATE_EXAMPLES}, or "none"`);
  const count = Number(match[1]);
  if (!Number.isSafeInteger(count) || count < 1 || count > MAX_RATE_COUNT) throw invalid(source, `"${text}": the number must be from 1 to ${MAX_RATE_COUNT}`);
  return { count, periodMs: period[1], text: `${count}/${period[0]}` };
}

/** Why a time zone name is unusable (not an IANA zone), or undefined. */
export function timeZoneProblem(name: string): string | undefined {
  return name.trim() && IANAZone.isValidZone(name.trim()) ? undefined : `"${name}" is not a time zone; use an IANA name like Europe/Berlin, America/New_York or UTC`;
}
