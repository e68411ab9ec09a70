/**
 * Recurring notifications. A rule is a template row (cron, tz, until, remaining count) whose
 * send_at is its next time slot; when that slot comes, the dispatcher materialises it as a child
 * row (parent_id, slot_at) that is sent like any one-off notification. The unique index on
 * (parent_id, slot_at) and a compare-and-set on the template's send_at, inside one IMMEDIATE
 * transaction, make a second occurrence for the same slot impossible, however many dispatchers run.
 *
 * Missed slots (the dispatcher did not run for a while): only the latest due slot is sent; the
 * earlier ones are recorded as skipped, so nobody gets a burst of stale copies of a daily message.
 * --count counts slots, skipped ones included: "--count 5" on a daily rule means five days.
 */
import { fail } from '../errors.js';
import type { NotificationRow, Transaction } from '../store/store.js';
import type { Context } from './context.js';
import { cancelNotification, deleteNotification, getNotification, toView, type NotificationView } from './notifications.js';
import { describeDuration, nextCronSlot, previousCronSlot } from './schedule-time.js';

/** Missed slots recorded one row each, per rule and pass; older ones are only counted. */
const MAX_MISSED_ROWS = 100;
/** Slots walked one by one before jumping straight to the latest (a per-second rule left off for days). */
const MAX_WALK = 100_000;

export interface RuleState {
  cron: string;
  tz: string;
  untilAt: number | null;
  /** Slots still to materialise; null = no --count limit. */
  remaining: number | null;
}

/** The rule's next slot strictly after `afterMs` that is still within --until and --count, or null. */
export function nextOccurrence(rule: RuleState, afterMs: number): number | null {
  if (rule.remaining !== null && rule.remaining <= 0) return null;
  const next = nextCronSlot(rule.cron, rule.tz, afterMs);
  if (next === null || (rule.untilAt !== null && next > rule.untilAt)) return null;
  return next;
}

export interface MaterialiseResult {
  /** Occurrences created to be sent. */
  created: number[];
  /** Occurrences recorded as skipped because a later slot of the same rule was also due. */
  missed: number;
  /** Rules that produced their last occurrence. */
  finished: number[];
}

/** Materialises every due slot of every rule (one transaction, taken up front). */
export async function materialiseDue(ctx: Context): Promise<MaterialiseResult> {
  const result: MaterialiseResult = { created: [], missed: 0, finished: [] };
  const now = ctx.now();
  // Cheap look first: most passes have no rule due, and need no write transaction (or lock).
  if (!(await ctx.store.dueTemplates(now)).length) return result;
  // One materialiser at a time across processes and hosts; each slot is inserted at most once anyway.
  await ctx.store.transaction(
    async (tx) => {
      for (const template of await tx.dueTemplates(now)) await materialiseRule(tx, template, now, result);
    },
    { lock: 'materialise' },
  );
  return result;
}

async function materialiseRule(tx: Transaction, template: NotificationRow, now: number, result: MaterialiseResult): Promise<void> {
  const rule: RuleState = { cron: template.cron!, tz: template.tz ?? 'UTC', untilAt: template.until_at, remaining: template.remaining_count };
  const firstSlot = template.send_at!;
  // Walk the due slots; keep only the last few (the older ones are just counted).
  const due: number[] = [];
  let dropped = 0;
  let slot: number | null = firstSlot;
  let walked = 0;
  while (slot !== null && slot <= now) {
    due.push(slot);
    if (due.length > MAX_MISSED_ROWS + 1) {
      due.shift();
      dropped += 1;
    }
    if (rule.remaining !== null) rule.remaining -= 1;
    walked += 1;
    let next = nextOccurrence(rule, slot);
    if (next !== null && next <= now && walked >= MAX_WALK) {
      // Jump to the latest due slot; the slots in between count as missed (not exactly, under --count).
      const latest = previousCronSlot(rule.cron, rule.tz, now);
      if (latest !== null && latest > next && (rule.untilAt === null || latest <= rule.untilAt)) {
        dropped += due.length;
        due.length = 0;
        next = latest;
      }
    }
    slot = next;
  }
  if (!due.length) return;

  const latest = due[due.length - 1]!;
  const autoTopic = `pushctl-${template.id}`;
  for (const [index, slotAt] of due.entries()) {
    const isLatest = index === due.length - 1;
    const error = isLatest
      ? null
      : `missed: the dispatcher did not run between this slot and ${new Date(latest).toISOString()} (${describeDuration(latest - slotAt)} later)` +
        (index === 0 && dropped ? `; ${dropped} earlier slots were missed too` : '') +
        '; only the latest due slot is sent';
    const id = await tx.insertOccurrence({ parentId: template.id, slotAt, status: isLatest ? 'scheduled' : 'skipped', error, now });
    if (id === null) continue;
    // Each occurrence replaces only its own undelivered copy, unless the operator chose a topic.
    await tx.setTopicIf(id, autoTopic, `pushctl-${id}`);
    if (isLatest) result.created.push(id);
    else result.missed += 1;
  }
  result.missed += dropped;

  const moved =
    slot === null
      ? await tx.advanceTemplate(template.id, firstSlot, { finishedAt: now, remaining: rule.remaining })
      : await tx.advanceTemplate(template.id, firstSlot, { sendAt: slot, remaining: rule.remaining });
  if (moved && slot === null) result.finished.push(template.id);
}

/** Occurrences of a rule, newest slot first. */
export async function listOccurrences(ctx: Context, ruleId: number, limit = 10): Promise<{ total: number; recent: NotificationView[] }> {
  const rows = await ctx.store.occurrenceRows(ruleId, limit);
  return {
    total: await ctx.store.occurrenceCount(ruleId),
    recent: await Promise.all(rows.map((row) => toView(ctx, row))),
  };
}

/**
 * Cancels a notification; for a rule, also the occurrence that is due but not yet started
 * (one already sending stops after its requests in flight only if cancelled by its own id).
 */
export async function cancelNotificationOrRule(ctx: Context, id: number): Promise<NotificationView & { cancelledOccurrences: number }> {
  const view = await cancelNotification(ctx, id);
  const cancelledOccurrences = view.cron ? await ctx.store.cancelScheduledOccurrences(id, ctx.now()) : 0;
  return { ...view, cancelledOccurrences };
}

/** Deletes a notification and its ledger; for a rule, its occurrences too. Sends in progress stop (see deleteNotification). */
export async function deleteNotificationOrRule(ctx: Context, id: number): Promise<{ id: number; deletedOccurrences: number }> {
  const view = await getNotification(ctx, id);
  if (!view.cron) {
    await deleteNotification(ctx, id);
    return { id, deletedOccurrences: 0 };
  }
  return ctx.store.transaction(async (tx) => {
    const deletedOccurrences = await tx.deleteOccurrences(id);
    await tx.deleteNotification(id);
    return { id, deletedOccurrences };
  });
}

/** The next few slots of a rule from `afterMs`, for previews (`schedule --cron`, `show`). */
export function upcomingSlots(rule: RuleState, afterMs: number, n: number): number[] {
  const slots: number[] = [];
  const state = { ...rule };
  let from = afterMs;
  while (slots.length < n) {
    const next = nextOccurrence(state, from);
    if (next === null) break;
    slots.push(next);
    if (state.remaining !== null) state.remaining -= 1;
    from = next;
  }
  return slots;
}

export function ruleOf(view: { cron: string | null; tz: string | null; until: string | null; remaining: number | null }): RuleState {
  if (!view.cron) throw fail('notification_state', 'not a recurring notification');
  return { cron: view.cron, tz: view.tz ?? 'UTC', untilAt: view.until ? Date.parse(view.until) : null, remaining: view.remaining };
}
