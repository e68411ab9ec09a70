/**
 * What a notification is, as both faces describe it: content, target, delivery options and time.
 * The CLI (send/schedule flags) and the HTTP API (JSON fields) each translate into this one shape
 * and hand it to core/notifications.ts, which validates it and stores it.
 */
import type { DeliveryCounts } from '../store/store.js';

export interface MessageInput {
  title?: string | undefined;
  body?: string | undefined;
  url?: string | undefined;
  icon?: string | undefined;
  badge?: string | undefined;
  tag?: string | undefined;
  /** A large picture shown in the notification body. */
  image?: string | undefined;
  /** Buttons; a click on one opens its url (the notification's url when it has none). */
  actions?: NotificationAction[] | undefined;
  requireInteraction?: boolean | undefined;
  /** Alert again when replacing a notification with the same tag. */
  renotify?: boolean | undefined;
  silent?: boolean | undefined;
  lang?: string | undefined;
  dir?: 'auto' | 'ltr' | 'rtl' | undefined;
  /** When the event the notification tells of happened: ms since epoch, or ISO 8601 text. */
  timestamp?: number | string | undefined;
  /** The app badge number (0 clears it). */
  badgeCount?: number | undefined;
  /** Payload shape: pushctl's own JSON (classic, the default) or Declarative Web Push. */
  format?: PayloadFormat | undefined;
  /** Links become <serve.publicUrl>/c/<token>, which count the click and redirect (default push.trackClicks). */
  trackClicks?: boolean | undefined;
  /** Extra fields for the service worker. */
  data?: Record<string, unknown> | undefined;
  /** A raw payload (JSON text or object) instead of the fields above. */
  payload?: string | Record<string, unknown> | undefined;
}

export type { PayloadFormat } from '../limits.js';
import type { DIRECTIONS, PayloadFormat } from '../limits.js';

export interface NotificationAction {
  action: string;
  title: string;
  url?: string | undefined;
}

/** The content fields, validated and normalised: what both payload shapes are made from. */
export interface NotificationContent {
  title?: string;
  body?: string;
  url?: string;
  icon?: string;
  badge?: string;
  image?: string;
  tag?: string;
  lang?: string;
  dir?: (typeof DIRECTIONS)[number];
  /** ms since epoch */
  timestamp?: number;
  requireInteraction?: boolean;
  renotify?: boolean;
  silent?: boolean;
  actions?: NotificationAction[];
  badgeCount?: number;
  data?: Record<string, unknown>;
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
  | { subscriptions: number[] }
  /** One subscription that is not stored (a test push): its endpoint is kept for the record, its keys are not. */
  | { endpoint: string };

export type { Urgency } from '../limits.js';
import type { Urgency } from '../limits.js';

export interface DeliveryOptions {
  /** seconds */
  ttl?: number | undefined;
  urgency?: Urgency | undefined;
  topic?: string | undefined;
  /** --urgent: never capped (frequency caps), and Urgency high */
  urgent?: boolean | undefined;
  /** --rate "600/min" ("none": unthrottled); undefined: push.defaultRate */
  rate?: string | undefined;
}

/** When, as the faces take it (flags, JSON fields); core/schedule.ts turns it into a ScheduleInput. */
export interface ScheduleFields {
  at?: string | undefined;
  in?: string | undefined;
  cron?: string | undefined;
  tz?: string | undefined;
  until?: string | undefined;
  count?: string | number | undefined;
  staleAfter?: string | undefined;
  /** Send at once instead of refusing a due time in the past. */
  nowIfPast?: boolean | undefined;
  /** --local-time / send_at_local: a wall clock in each subscriber's zone (true: with cron, the rule's own times). See local-time.ts. */
  localTime?: string | boolean | undefined;
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
  /** --local-time: the wall clock ("2026-12-24T09:00"), or "rule[ ZONE]" on a recurring rule; tz then is the rule's slot zone. */
  localTime?: string | undefined;
}

export interface NotificationSpec {
  message: MessageInput;
  target: TargetInput;
  delivery: DeliveryOptions;
  schedule?: ScheduleInput | undefined;
  idempotencyKey?: string | undefined;
}

export type { NotificationStatus } from '../limits.js';

/** A notification's deliveries by state, as the store counts them (capped: skipped at a frequency cap). */
export type NotificationCounts = DeliveryCounts;
