/**
 * The admin API's notification JSON (snake_case, as in `public_key`) turned into the
 * NotificationSpec both faces hand to core/notifications.ts. Only shapes and JSON types are checked
 * here; what a value may be (payload size, ttl range, urgency, categories that exist, cron rules)
 * is the core's to decide.
 */
import { parseDurationSeconds } from '../core/durations.js';
import type { MessageInput, NotificationSpec, ScheduleInput, Urgency } from '../core/notification-spec.js';
import { parseSchedule } from '../core/schedule.js';
import { assertKnownFields, type JsonObject } from './body.js';
import { badRequest } from './http-error.js';

export const NOTIFICATION_FIELDS = [
  'title', 'body', 'url', 'icon', 'badge', 'tag', 'data', 'payload',
  'image', 'actions', 'require_interaction', 'renotify', 'silent', 'lang', 'dir', 'timestamp', 'badge_count', 'format', 'track_clicks',
  'all', 'categories', 'subscriptions',
  'ttl', 'urgency', 'topic', 'urgent',
  'send_at', 'cron', 'tz', 'until', 'count', 'stale_after',
  'send_at_local', 'rate',
] as const;

export function notificationSpecFromJson(body: JsonObject, idempotencyKey: string | undefined, now: number): NotificationSpec {
  assertKnownFields(body, NOTIFICATION_FIELDS);
  const message: MessageInput = {};
  for (const field of ['title', 'body', 'url', 'icon', 'badge', 'tag', 'image', 'lang'] as const) message[field] = optionalString(body, field);
  message.dir = optionalString(body, 'dir') as MessageInput['dir'];
  message.format = optionalString(body, 'format') as MessageInput['format'];
  message.requireInteraction = optionalBoolean(body, 'require_interaction');
  message.renotify = optionalBoolean(body, 'renotify');
  message.silent = optionalBoolean(body, 'silent');
  message.trackClicks = optionalBoolean(body, 'track_clicks');
  if (body.timestamp !== undefined && body.timestamp !== null) {
    if (typeof body.timestamp !== 'number' && typeof body.timestamp !== 'string') throw badRequest('must be ms since 1970 (a number) or an ISO 8601 time', 'timestamp');
    message.timestamp = body.timestamp;
  }
  if (body.badge_count !== undefined && body.badge_count !== null) {
    if (typeof body.badge_count !== 'number') throw badRequest('must be a whole number (0 clears the badge)', 'badge_count');
    message.badgeCount = body.badge_count;
  }
  if (body.actions !== undefined && body.actions !== null) {
    // The core checks each action's fields (and names them); here only the JSON shape.
    if (!Array.isArray(body.actions)) throw badRequest('must be a list of {"action", "title", "url"}', 'actions');
    message.actions = body.actions as MessageInput['actions'];
  }
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
  // send_at_local: "2026-12-24 09:00" in each subscriber's zone, or true with cron (the rule's times are theirs).
  const sendAtLocal = body.send_at_local;
  if (sendAtLocal !== undefined && sendAtLocal !== null && typeof sendAtLocal !== 'string' && typeof sendAtLocal !== 'boolean') {
    throw badRequest('must be a local date and time like "2026-12-24 09:00" (or true with cron)', 'send_at_local');
  }
  const localTime = sendAtLocal === null ? undefined : sendAtLocal;
  const timed = [tz, cron, sendAt, until, count, staleAfter, localTime].some((v) => v !== undefined);
  // No time at all means "send now". An API client cannot know the server's zone: local times are UTC unless tz says
  // otherwise; with send_at_local, subscribers without a zone get push.defaultTimeZone unless tz says otherwise.
  const schedule: ScheduleInput | undefined = timed
    ? parseSchedule(
        { at: sendAt, cron, tz: tz ?? (localTime ? undefined : 'UTC'), until, count, staleAfter: staleAfter === undefined ? undefined : String(staleAfter), localTime },
        now,
      )
    : undefined;

  return {
    message,
    target: target as NotificationSpec['target'],
    delivery: {
      ttl: ttlSeconds, urgency: optionalString(body, 'urgency') as Urgency | undefined, topic: optionalString(body, 'topic'), urgent: optionalBoolean(body, 'urgent'),
      rate: optionalString(body, 'rate'),
    },
    ...(schedule ? { schedule } : {}),
    ...(idempotencyKey !== undefined ? { idempotencyKey } : {}),
  };
}

function optionalBoolean(body: JsonObject, field: string): boolean | undefined {
  const value = body[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'boolean') throw badRequest('must be true or false', field);
  return value;
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
