/**
 * The admin API's notification JSON (snake_case, as in `public_key`) turned into the
 * NotificationSpec both faces hand to core/notifications.ts. Only shapes and JSON types are checked
 * here; what a value may be (payload size, ttl range, urgency, categories that exist, cron rules)
 * is the core's to decide.
 */
import { parseDurationSeconds } from '../core/durations.js';
import type { MessageInput, NotificationSpec, ScheduleInput, Urgency } from '../core/notification-spec.js';
import { parseSchedule } from '../core/schedule-time.js';
import { assertKnownFields, type JsonObject } from './body.js';
import { badRequest } from './http-error.js';

export const NOTIFICATION_FIELDS = [
  'title', 'body', 'url', 'icon', 'badge', 'tag', 'data', 'payload',
  'all', 'categories', 'subscriptions',
  'ttl', 'urgency', 'topic',
  'send_at', 'cron', 'tz', 'until', 'count', 'stale_after',
] as const;

export function notificationSpecFromJson(body: JsonObject, idempotencyKey: string | undefined, now: number): NotificationSpec {
  assertKnownFields(body, NOTIFICATION_FIELDS);
  const message: MessageInput = {};
  for (const field of ['title', 'body', 'url', 'icon', 'badge', 'tag'] as const) message[field] = optionalString(body, field);
  if (body.data !== undefined) {
    if (!isObject(body.data)) throw badRequest('must be a JSON object', 'data');
    message.data = body.data;
  }
  if (body.payload !== undefined) {
    if (typeof body.payload !== 'string' && !isObject(body.payload)) throw badRequest('must be a string or a JSON object', 'payload');
    message.payload = body.payload;
  }

  const target: Record<string, unknown> = {};
  if (body.all !== undefined) {
    if (typeof body.all !== 'boolean') throw badRequest('must be true or false', 'all');
    if (body.all) target.all = true;
  }
  if (body.categories !== undefined) {
    if (!Array.isArray(body.categories) || body.categories.some((c) => typeof c !== 'string')) throw badRequest('must be a list of category names', 'categories');
    target.categories = body.categories;
  }
  if (body.subscriptions !== undefined) {
    if (!Array.isArray(body.subscriptions) || body.subscriptions.some((s) => !Number.isSafeInteger(s) || (s as number) < 1)) {
      throw badRequest('must be a list of subscription ids (positive integers)', 'subscriptions');
    }
    target.subscriptions = body.subscriptions;
  }

  const ttl = body.ttl;
  let ttlSeconds: number | undefined;
  if (typeof ttl === 'number') ttlSeconds = ttl;
  else if (typeof ttl === 'string') ttlSeconds = parseDurationSeconds(ttl, 'ttl');
  else if (ttl !== undefined) throw badRequest('must be seconds (a number) or a duration like "2h"', 'ttl');

  const tz = optionalString(body, 'tz');
  const cron = optionalString(body, 'cron');
  const sendAt = optionalString(body, 'send_at');
  const until = optionalString(body, 'until');
  const count = body.count;
  if (count !== undefined && typeof count !== 'number') throw badRequest('must be a number', 'count');
  const staleAfter = body.stale_after;
  if (staleAfter !== undefined && typeof staleAfter !== 'number' && typeof staleAfter !== 'string') {
    throw badRequest('must be seconds (a number) or a duration like "30m"', 'staleAfter');
  }
  const timed = [tz, cron, sendAt, until, count, staleAfter].some((v) => v !== undefined);
  // No time at all means "send now". An API client cannot know the server's zone: local times are UTC unless tz says otherwise.
  const schedule: ScheduleInput | undefined = timed
    ? parseSchedule(
        { at: sendAt, cron, tz: tz ?? 'UTC', until, count, staleAfter: staleAfter === undefined ? undefined : String(staleAfter) },
        now,
      )
    : undefined;

  return {
    message,
    target: target as NotificationSpec['target'],
    delivery: { ttl: ttlSeconds, urgency: optionalString(body, 'urgency') as Urgency | undefined, topic: optionalString(body, 'topic') },
    ...(schedule ? { schedule } : {}),
    ...(idempotencyKey !== undefined ? { idempotencyKey } : {}),
  };
}

function optionalString(body: JsonObject, field: string): string | undefined {
  const value = body[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw badRequest('must be a string', field);
  return value;
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
