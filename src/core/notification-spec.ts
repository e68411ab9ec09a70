/**
 * What a notification is, as both faces describe it: content, target, delivery options and time.
 * The CLI (send/schedule flags) and the HTTP API (JSON fields) each translate into this one shape
 * and hand it to core/notifications.ts, which validates it and stores it.
 */

export interface MessageInput {
  title?: string | undefined;
  body?: string | undefined;
  url?: string | undefined;
  icon?: string | undefined;
  badge?: string | undefined;
  tag?: string | undefined;
  /** Extra fields for the service worker. */
  data?: Record<string, unknown> | undefined;
  /** A raw payload (JSON text or object) instead of the fields above. */
  payload?: string | Record<string, unknown> | undefined;
}

/**
 * Who gets it, as the user named them: categories by name, subscriptions by id or endpoint URL.
 * The core checks it (exactly one kind, everything named exists) and resolves it into a Target.
 */
export type TargetInput =
  | { all: true }
  | { categories: string[] }
  | { subscriptions: (number | string)[] };

/** A checked target, as stored with the notification: subscriptions are resolved to their ids. */
export type Target =
  | { all: true }
  | { categories: string[] }
  | { subscriptions: number[] };

export type { Urgency } from '../limits.js';
import type { Urgency } from '../limits.js';

export interface DeliveryOptions {
  /** seconds */
  ttl?: number | undefined;
  urgency?: Urgency | undefined;
  topic?: string | undefined;
}

export interface ScheduleInput {
  /** Due time (ms since epoch); undefined = now. */
  sendAt?: number | undefined;
  /** Recurring rule (5- or 6-field cron) and its time zone. */
  cron?: string | undefined;
  tz?: string | undefined;
  untilAt?: number | undefined;
  count?: number | undefined;
  staleAfterMs?: number | undefined;
}

export interface NotificationSpec {
  message: MessageInput;
  target: TargetInput;
  delivery: DeliveryOptions;
  schedule?: ScheduleInput | undefined;
  idempotencyKey?: string | undefined;
}

export type { NotificationStatus } from '../limits.js';

export interface NotificationCounts {
  total: number;
  sent: number;
  gone: number;
  failed: number;
  pending: number;
}
