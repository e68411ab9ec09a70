/**
 * Quiet hours: a delivery that would reach a subscriber inside the window (their local time, from
 * the zone their browser reported; the server's zone when unknown) is deferred to the window's
 * end instead of sent. It stays pending with its next attempt at that instant, so the dispatcher
 * sends it then, through the same ledger and leases as any retry. `--urgent` is never deferred.
 * Config default `push.quietHours: {"start": "22:00", "end": "08:00"}`; a category's own
 * (`categories update NAME --quiet-hours 21:00-09:00|none`) wins for notifications to it.
 */
import { DateTime } from 'luxon';
import type { NotificationRow } from '../store/store.js';
import type { Context } from './context.js';
import { CATEGORY_QUIET_OFF, parseQuietHours, type QuietHours } from '../delivery-policy.js';
import { fallbackZone } from './local-time.js';

export { parseQuietHours, type QuietHours } from '../delivery-policy.js';

const DEFERRED_PREFIX = 'deferred by quiet hours';

/**
 * Defers the pending, untried deliveries whose subscribers are inside their quiet hours now, zone
 * by zone; returns how many. Run at the start of every sending run, after frequency caps.
 */
export async function applyQuietHours(ctx: Context, row: NotificationRow): Promise<number> {
  if (row.urgent) return 0;
  const quiet = await quietHoursFor(ctx, row);
  if (!quiet) return 0;
  const now = ctx.now();
  const fallback = fallbackZone(null, ctx.config.push.defaultTimeZone);
  const quietZones = new Map<string | null, { until: number; reason: string }>();
  for (const zone of await ctx.store.pendingZones(row.id)) {
    const until = quietUntil(quiet, zone ?? fallback, now);
    if (until === null) continue;
    const reason = `${DEFERRED_PREFIX} (${quiet.text} in ${zone ?? `${fallback}, ${ctx.config.push.defaultTimeZone ? 'push.defaultTimeZone' : "the server's zone"}`}) until ${new Date(until).toISOString()}`;
    quietZones.set(zone, { until, reason });
  }
  return ctx.store.deferZones(row.id, quietZones);
}

/** Deliveries waiting for quiet hours to end: how many, and the earliest end. */
export async function deferredDeliveries(ctx: Context, id: number): Promise<{ count: number; until: string | null }> {
  const row = await ctx.store.deferredSummary(id, `${DEFERRED_PREFIX}%`);
  return { count: row.count, until: row.until === null ? null : new Date(row.until).toISOString() };
}

/** The window for this notification: its categories' own (the first that has one), else the config's. */
async function quietHoursFor(ctx: Context, row: NotificationRow): Promise<QuietHours | null> {
  const target = JSON.parse(row.target) as { categories?: string[] };
  const own = target.categories?.length ? await ctx.store.categoryQuietHours(target.categories) : [];
  for (const [name, text] of own) {
    // A category's own setting wins, the first by name: a range, or "none" for none at all.
    if (text === CATEGORY_QUIET_OFF) return null;
    const parsed = parseQuietHours(text, { at: `category ${name}`, field: 'quietHours' });
    if (parsed) return parsed;
  }
  return parseQuietHours(ctx.config.push.quietHours, { at: 'push.quietHours' });
}

/** When the quiet window around `now` ends in `zone`, or null when `now` is outside it. */
export function quietUntil(quiet: QuietHours, zone: string, now: number): number | null {
  const local = DateTime.fromMillis(now, { zone });
  if (!local.isValid) return null;
  const minute = local.hour * 60 + local.minute;
  const inside = quiet.start < quiet.end ? minute >= quiet.start && minute < quiet.end : minute >= quiet.start || minute < quiet.end;
  if (!inside) return null;
  // Wall-clock end today, else tomorrow (set, not plus: a DST night has 23 or 25 hours).
  const at = { hour: Math.floor(quiet.end / 60), minute: quiet.end % 60, second: 0, millisecond: 0 };
  let end = local.set(at);
  if (end.toMillis() <= now) end = local.plus({ days: 1 }).set(at);
  return end.toMillis();
}
