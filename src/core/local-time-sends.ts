/**
 * Local-time sends at delivery time: when a send starts (or resumes), each zone's untried
 * deliveries wait for the instant the wall clock comes there (deferZones: pending, due then), so
 * `dispatch` sends them zone by zone through the same ledger and leases as any retry. Zones whose
 * time has already come are sent at once.
 */
import type { NotificationRow } from '../store/store.js';
import type { Context } from './context.js';
import { fallbackZone, LOCAL_TIME_REASON, localInstant, ownFallbackOf, wallClockOf } from './local-time.js';

/** Defers the waiting zones' deliveries to their instants; returns how many. */
export async function applyLocalTime(ctx: Context, row: NotificationRow): Promise<number> {
  const wall = wallClockOf(row);
  if (!wall) return 0;
  const store = ctx.store;
  const fallback = fallbackZone(ownFallbackOf(row), ctx.config.push.defaultTimeZone);
  const now = ctx.now();
  const zones = new Map<string | null, { until: number; reason: string }>();
  for (const zone of await store.pendingZones(row.id)) {
    const until = localInstant(wall, zone ?? fallback);
    if (until > now) zones.set(zone, { until, reason: `${LOCAL_TIME_REASON} ${wall} in ${zone ?? `${fallback} (no zone of its own)`}` });
  }
  return store.deferZones(row.id, zones);
}

/** Deliveries still waiting for their zone's time: how many, and when the first is due. */
export async function localTimeWaits(ctx: Context, id: number): Promise<{ count: number; until: number | null }> {
  return ctx.store.deferredSummary(id, `${LOCAL_TIME_REASON}%`);
}

export interface DueTime {
  /** ISO 8601; null: due now. */
  dueAt: string | null;
  deliveries: number;
  /** The subscribers' zones (IANA names, byte order; null last: subscribers without one). */
  zones: (string | null)[];
}

/** A send's pending deliveries by due time, with whose zones they are: what `notifications show` lists. */
export async function pendingSchedule(ctx: Context, id: number): Promise<DueTime[]> {
  const times: DueTime[] = [];
  let last: number | null | undefined;
  for (const row of await ctx.store.pendingByDueTime(id)) {
    if (times.length && row.dueAt === last) {
      const time = times.at(-1)!;
      time.deliveries += row.deliveries;
      time.zones.push(row.zone);
    } else {
      times.push({ dueAt: row.dueAt === null ? null : new Date(row.dueAt).toISOString(), deliveries: row.deliveries, zones: [row.zone] });
      last = row.dueAt;
    }
  }
  return times;
}
