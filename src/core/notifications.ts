/**
 * Notifications: create (now, later, recurring), read with counts, cancel, delete. Both faces
 * (CLI send/schedule and the HTTP admin API) come through here, so every rule about what a
 * notification may be is checked once.
 */
import { fail, msg, ref } from '../errors.js';
import { isNotificationStatus, LIST_LIMIT, MAX_IDEMPOTENCY_KEY_LENGTH, MAX_TTL_SECONDS, NOTIFICATION_STATUSES, TOPIC_PATTERN, URGENCIES } from '../limits.js';
import type { NotificationRow, TargetQuery } from '../store/store.js';
import type { Context } from './context.js';
import { buildPayload, titleOf } from './message.js';
import { resolveSubscriptionRefs } from './subscription-lookup.js';
import type { DeliveryOptions, NotificationCounts, NotificationSpec, NotificationStatus, Target, TargetInput } from './notification-spec.js';
import { planTracking } from './tracking.js';
import { ownFallbackOf, wallClockOf } from './local-time.js';
import { rateToStore } from './throttle.js';

/** A repeated Idempotency-Key returns the first notification for this long; later it starts a new one. */
export const IDEMPOTENCY_WINDOW_MS = 24 * 60 * 60 * 1000;

export interface NotificationView {
  id: number;
  status: NotificationStatus;
  title: string | null;
  target: Target;
  payload: unknown;
  ttl: number;
  urgency: string | null;
  topic: string | null;
  sendAt: string | null;
  cron: string | null;
  tz: string | null;
  until: string | null;
  remaining: number | null;
  staleAfterMs: number | null;
  parentId: number | null;
  slotAt: string | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  error: string | null;
  /** --urgent: frequency caps do not apply */
  urgent: boolean;
  counts: NotificationCounts;
  /** When its per-delivery rows were pruned (counts kept); null while they exist. */
  ledgerPrunedAt: string | null;
  /** --local-time: the wall clock each subscriber gets it at in their own zone ("2026-12-24T09:00"; a rule's occurrence: its slot's); null: one instant for all */
  localTime: string | null;
  /** --rate: "600/min"; null: unthrottled */
  rate: string | null;
  /** With localTime: the zone of subscribers without one, when the notification names it (--tz); null: push.defaultTimeZone or the server's */
  localTimeFallback: string | null;
}

export interface CreateOptions {
  /** Take the sending lease at creation, so no dispatcher can claim it first (`pushctl send`). */
  leaseFor?: { owner: string; leaseMs: number } | undefined;
}

/** What a send would do, without writing anything (`--dry-run`). */
export async function previewNotification(ctx: Context, spec: NotificationSpec): Promise<{ recipients: number; payloadBytes: number; payload: unknown; target: Target }> {
  const built = buildPayload(spec.message, { format: ctx.config.push.payloadFormat });
  planTracking(ctx.config, spec.message, built.text);
  const target = await resolveTarget(ctx, spec.target);
  validateDelivery(spec.delivery);
  rateToStore(spec.delivery.rate, ctx.config.push.defaultRate);
  return { recipients: await ctx.store.countRecipients(targetQuery(target), ctx.now()), payloadBytes: built.bytes, payload: parseMaybe(built.text), target };
}

export async function createNotification(ctx: Context, spec: NotificationSpec, options: CreateOptions = {}): Promise<NotificationView> {
  const built = buildPayload(spec.message, { format: ctx.config.push.payloadFormat });
  const tracking = planTracking(ctx.config, spec.message, built.text);
  const target = await resolveTarget(ctx, spec.target);
  const delivery = validateDelivery(spec.delivery);
  const rate = rateToStore(spec.delivery.rate, ctx.config.push.defaultRate);
  const schedule = spec.schedule ?? {};
  const now = ctx.now();
  if (schedule.cron && options.leaseFor) throw fail('notification_state', 'a recurring notification cannot be sent now');
  if (spec.idempotencyKey !== undefined && (spec.idempotencyKey === '' || spec.idempotencyKey.length > MAX_IDEMPOTENCY_KEY_LENGTH)) {
    throw fail('invalid_input', `must be 1 to ${MAX_IDEMPOTENCY_KEY_LENGTH} characters`, { field: 'idempotencyKey' });
  }
  // Under a lock named after the key: two replicas given the same key at once make one notification.
  const lock = spec.idempotencyKey ? `idempotency:${spec.idempotencyKey}` : undefined;
  const { id } = await ctx.store.transaction(async (tx) => {
    if (spec.idempotencyKey) {
      const existing = await tx.notificationByIdempotencyKey(spec.idempotencyKey);
      if (existing && now - existing.created_at < IDEMPOTENCY_WINDOW_MS) return { id: existing.id, repeated: true };
      if (existing) await tx.clearIdempotencyKey(existing.id);
    }
    const id = await tx.insertNotification({
      payload: built.text,
      target: JSON.stringify(target),
      ttl: delivery.ttl ?? ctx.config.push.defaultTtl,
      urgency: delivery.urgency ?? (delivery.urgent ? 'high' : null),
      topic: delivery.topic ?? null,
      status: options.leaseFor ? 'sending' : 'scheduled',
      send_at: schedule.sendAt ?? now,
      cron: schedule.cron ?? null,
      tz: schedule.tz ?? null,
      until_at: schedule.untilAt ?? null,
      remaining_count: schedule.count ?? null,
      stale_after_ms: schedule.staleAfterMs ?? null,
      urgent: delivery.urgent ? 1 : 0,
      local_time: schedule.localTime ?? null,
      rate,
      idempotency_key: spec.idempotencyKey ?? null,
      created_at: now,
      lease_owner: options.leaseFor?.owner ?? null,
      lease_expires_at: options.leaseFor ? now + options.leaseFor.leaseMs : null,
    });
    // A Topic per notification: a repeated request (after a crash) replaces the undelivered copy.
    if (!delivery.topic) await tx.setTopic(id, `pushctl-${id}`);
    if (tracking) await tx.setTracking(id, tracking);
    return { id, repeated: false };
  }, { lock });
  return getNotification(ctx, id);
}

export async function getNotification(ctx: Context, id: number): Promise<NotificationView> {
  const row = await ctx.store.notificationById(id);
  if (!row) throw fail('notification_not_found', `notification ${id} does not exist`, { details: { id } });
  return toView(ctx, row);
}

export async function listNotifications(ctx: Context, filter: { status?: string | undefined; since?: number | undefined; limit?: number | undefined; offset?: number | undefined } = {}): Promise<NotificationView[]> {
  const status = filter.status;
  if (status !== undefined && !isNotificationStatus(status)) {
    throw fail('invalid_input', `"${status}" is not one of ${NOTIFICATION_STATUSES.join(', ')}`, { field: 'status' });
  }
  const limit = Math.min(Math.max(filter.limit ?? LIST_LIMIT.default, 1), LIST_LIMIT.max);
  const rows = await ctx.store.listNotifications({ status, since: filter.since, limit, offset: Math.max(filter.offset ?? 0, 0) });
  return Promise.all(rows.map((row) => toView(ctx, row)));
}

export async function recentFailures(ctx: Context, id: number, limit = 10) {
  await getNotification(ctx, id);
  return (await ctx.store.recentFailures(id, limit)).map((r) => ({
    subscriptionId: r.subscription_id,
    state: r.state,
    statusCode: r.status_code,
    error: r.error,
    attempts: r.attempts,
    at: r.updated_at === null ? null : new Date(r.updated_at).toISOString(),
  }));
}

/**
 * Cancels a scheduled notification or recurring rule (it never goes out), or a send in progress
 * (the sender sees the status between batches and stops after the requests in flight).
 */
export async function cancelNotification(ctx: Context, id: number): Promise<NotificationView> {
  const before = await getNotification(ctx, id);
  if (!(await ctx.store.cancelNotification(id, ctx.now()))) {
    throw fail('notification_state', `notification ${id} is ${before.status}; only scheduled or sending notifications can be cancelled`, { details: { id, status: before.status } });
  }
  return getNotification(ctx, id);
}

/**
 * Removes a notification and its ledger, whatever its status: deleting one that is being sent
 * stops that send (its sender sees the row gone between batches and ends after the requests in
 * flight); what went out stays out. Both faces delete through here.
 */
export async function deleteNotification(ctx: Context, id: number): Promise<void> {
  await getNotification(ctx, id);
  await ctx.store.deleteNotification(id);
}

export async function countsOf(ctx: Context, row: NotificationRow): Promise<NotificationCounts> {
  if (row.started_at === null) return { total: 0, sent: 0, gone: 0, failed: 0, pending: 0, capped: 0 };
  if (row.status === 'sending') return ctx.store.deliveryCounts(row.id);
  const { total_count: total, sent_count: sent, gone_count: gone, failed_count: failed } = row;
  const capped = row.capped_count ?? 0;
  return { total, sent, gone, failed, pending: Math.max(total - sent - gone - failed - capped, 0), capped };
}

export async function toView(ctx: Context, row: NotificationRow): Promise<NotificationView> {
  return {
    id: row.id,
    status: row.status,
    title: titleOf(row.payload),
    target: JSON.parse(row.target) as Target,
    payload: parseMaybe(row.payload),
    ttl: row.ttl,
    urgency: row.urgency,
    topic: row.topic,
    sendAt: iso(row.send_at),
    cron: row.cron,
    tz: row.tz,
    until: iso(row.until_at),
    remaining: row.remaining_count,
    staleAfterMs: row.stale_after_ms,
    parentId: row.parent_id,
    slotAt: iso(row.slot_at),
    createdAt: new Date(row.created_at).toISOString(),
    startedAt: iso(row.started_at),
    finishedAt: iso(row.finished_at),
    error: row.error,
    urgent: Boolean(row.urgent),
    counts: await countsOf(ctx, row),
    ledgerPrunedAt: iso(row.ledger_pruned_at ?? null),
    localTime: wallClockOf(row) ?? (row.local_time ? 'each occurrence' : null),
    rate: row.rate ?? null,
    localTimeFallback: row.local_time ? ownFallbackOf(row) : null,
  };
}

/** A one-line description of a target, for tables. */
export function describeTarget(target: Target): string {
  if ('all' in target) return 'all';
  if ('categories' in target) return `categories: ${target.categories.join(', ')}`;
  if ('endpoint' in target) return `unstored subscription: ${target.endpoint}`;
  return `subscriptions: ${target.subscriptions.join(', ')}`;
}

export function targetQuery(target: Target): TargetQuery {
  if ('all' in target) return { all: true };
  if ('categories' in target) return { categories: target.categories };
  // An unstored subscription has no row: a dispatcher that ever claims such a send finds nobody.
  if ('endpoint' in target) return { subscriptionIds: [] };
  return { subscriptionIds: target.subscriptions };
}

/** Checks that a target names exactly one kind of recipient set, and that what it names exists. */
export async function resolveTarget(ctx: Context, target: TargetInput): Promise<Target> {
  const t = target as Record<string, unknown>;
  const kinds = ['all', 'categories', 'subscriptions'].filter((k) => t[k] !== undefined && t[k] !== false);
  if (kinds.length !== 1) {
    throw fail(
      'invalid_request',
      kinds.length
        ? msg`choose one target, not ${ref(kinds[0]!)} and ${ref(kinds[1]!)}`
        : msg`choose who gets it: ${ref('all')}, ${ref('categories')} or ${ref('subscriptions')}`,
      { field: 'target' },
    );
  }
  if (t.all !== undefined) {
    if (t.all !== true) throw fail('invalid_input', 'must be true', { field: 'all' });
    return { all: true };
  }
  if (t.categories !== undefined) {
    const names = t.categories;
    if (!Array.isArray(names) || !names.length || names.some((n) => typeof n !== 'string')) throw fail('invalid_input', 'must be a non-empty list of names', { field: 'categories' });
    const unique = [...new Set(names as string[])];
    const known = await ctx.store.existingCategoryNames(unique);
    const missing = unique.filter((n) => !known.has(n));
    if (missing.length) throw fail('unknown_category', `category ${missing.map((m) => `"${m}"`).join(', ')} does not exist`, { field: 'categories', details: { missing } });
    return { categories: unique };
  }
  const refs = t.subscriptions;
  if (!Array.isArray(refs) || !refs.length || refs.some((r) => typeof r !== 'number' && typeof r !== 'string')) {
    throw fail('invalid_input', 'must be a non-empty list of ids', { field: 'subscriptions' });
  }
  const { ids, unknown } = await resolveSubscriptionRefs(ctx, refs as (string | number)[]);
  if (unknown.length) throw fail('unknown_subscription', `subscription ${unknown.map((u) => `"${u}"`).join(', ')} does not exist`, { field: 'subscriptions', details: { missing: unknown } });
  return { subscriptions: ids };
}

export function validateDelivery(delivery: DeliveryOptions): DeliveryOptions {
  const { ttl, urgency, topic } = delivery;
  if (delivery.urgent && urgency !== undefined && urgency !== 'high') {
    throw fail('invalid_request', msg`an urgent notification goes with ${ref('urgency')} high, not "${urgency}" (drop one of them)`, { field: 'urgent' });
  }
  if (ttl !== undefined && (!Number.isInteger(ttl) || ttl < 0 || ttl > MAX_TTL_SECONDS)) {
    throw fail('invalid_input', `must be whole seconds from 0 to ${MAX_TTL_SECONDS} (28 days)`, { field: 'ttl' });
  }
  if (urgency !== undefined && !URGENCIES.includes(urgency)) {
    throw fail('invalid_input', `"${urgency}" is not one of ${URGENCIES.join(', ')}`, { field: 'urgency' });
  }
  if (topic !== undefined && !TOPIC_PATTERN.test(topic)) {
    throw fail('invalid_input', `"${topic}" must be 1 to 32 characters of A-Z, a-z, 0-9, "-" or "_" (RFC 8030)`, { field: 'topic' });
  }
  return delivery;
}

function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}

function parseMaybe(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
