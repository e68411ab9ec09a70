/**
 * Frequency caps: "3/day" means a subscriber who already received 3 notifications in the last
 * 24 hours (rolling) is skipped for this one, recorded `capped` in the ledger. `push.frequencyCap`
 * counts every notification; a category's cap (`categories update NAME --cap 3/day`) counts the
 * notifications sent to that category. `--urgent` notifications are never capped.
 */
import { categoryCapsByName, capPendingDeliveries } from '../store/frequency-caps.js';
import type { NotificationRow } from '../store/notifications.js';
import type { Context } from './context.js';
import { labelledInputError } from './labelled-error.js';
import { parseDuration } from './durations.js';

export interface FrequencyCap {
  /** notifications a subscriber may receive in the window */
  limit: number;
  windowMs: number;
  /** as the operator wrote it, e.g. "3/day" */
  text: string;
}

const MAX_LIMIT = 10_000;
const MIN_WINDOW_MS = 60_000;
const MAX_WINDOW_MS = 366 * 86_400_000;
const EXAMPLES = 'like 3/day, 10/week, 1/hour or 2/12h';

/**
 * Reads "N/period" (period: hour, day, week, or a duration like 12h); "none" (or "") means no cap
 * and returns null. `label` names the flag or key in errors.
 */
export function parseFrequencyCap(value: unknown, label: string): FrequencyCap | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string') throw labelledInputError(label, `must be a cap ${EXAMPLES}, or "none"`);
  const text = value.trim();
  if (text === '' || text.toLowerCase() === 'none') return null;
  const match = /^(\d+)\s*\/\s*([a-z0-9. ]+)$/i.exec(text);
  if (!match) throw labelledInputError(label, `"${text}" is not a frequency cap; use N/period, ${EXAMPLES}, or "none"`);
  const limit = Number(match[1]);
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_LIMIT) throw labelledInputError(label, `"${text}": the number must be from 1 to ${MAX_LIMIT}`);
  const period = match[2]!.trim();
  let windowMs: number;
  try {
    // "day" is one day; "12h" is itself a duration.
    windowMs = parseDuration(/^\d/.test(period) ? period : `1${period}`, label);
  } catch {
    throw labelledInputError(label, `"${text}": "${period}" is not a period; use hour, day, week or a duration like 12h`);
  }
  if (windowMs < MIN_WINDOW_MS || windowMs > MAX_WINDOW_MS) throw labelledInputError(label, `"${text}": the period must be from 1 minute to 366 days`);
  return { limit, windowMs, text };
}

/**
 * Marks `capped` the pending, untried deliveries of a notification whose subscribers reached a
 * cap, before any is sent; returns how many. Run at the start of every sending run (a resumed send
 * looks again: others may have been sent meanwhile). Nothing for urgent notifications.
 */
export function applyFrequencyCaps(ctx: Context, row: NotificationRow): number {
  if (row.urgent) return 0;
  const now = ctx.now();
  const caps: { limit: number; since: number; category?: string }[] = [];
  const global = parseFrequencyCap(ctx.config.push.frequencyCap, 'push.frequencyCap');
  if (global) caps.push({ limit: global.limit, since: now - global.windowMs });
  const target = JSON.parse(row.target) as { categories?: string[] };
  if (target.categories?.length) {
    for (const [category, text] of categoryCapsByName(ctx.db, target.categories)) {
      const cap = parseFrequencyCap(text, `category ${category}: cap`);
      if (cap) caps.push({ limit: cap.limit, since: now - cap.windowMs, category });
    }
  }
  if (!caps.length) return 0;
  return capPendingDeliveries(ctx.db, row.id, now, caps);
}
