/**
 * Frequency caps: "3/day" means a subscriber who already received 3 notifications in the last
 * 24 hours (rolling) is skipped for this one, recorded `capped` in the ledger. `push.frequencyCap`
 * counts every notification; a category's cap (`categories update NAME --cap 3/day`) counts the
 * notifications sent to that category. `--urgent` notifications are never capped.
 */
import type { CapRule, NotificationRow } from '../store/store.js';
import type { Context } from './context.js';
import { parseFrequencyCap } from '../delivery-policy.js';

export { parseFrequencyCap, type FrequencyCap } from '../delivery-policy.js';

/**
 * Marks `capped` the pending, untried deliveries of a notification whose subscribers reached a
 * cap, before any is sent; returns how many. Run at the start of every sending run (a resumed send
 * looks again: others may have been sent meanwhile). Nothing for urgent notifications.
 */
export async function applyFrequencyCaps(ctx: Context, row: NotificationRow): Promise<number> {
  if (row.urgent) return 0;
  const now = ctx.now();
  const caps: CapRule[] = [];
  const global = parseFrequencyCap(ctx.config.push.frequencyCap, { at: 'push.frequencyCap' });
  if (global) caps.push({ limit: global.limit, since: now - global.windowMs });
  const target = JSON.parse(row.target) as { categories?: string[] };
  if (target.categories?.length) {
    for (const [category, text] of await ctx.store.categoryCapsByName(target.categories)) {
      const cap = parseFrequencyCap(text, { at: `category ${category}`, field: 'cap' });
      if (cap) caps.push({ limit: cap.limit, since: now - cap.windowMs, category });
    }
  }
  if (!caps.length) return 0;
  return ctx.store.capPendingDeliveries(row.id, now, caps);
}
