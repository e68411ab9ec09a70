/**
 * Every limit and enum pushctl enforces, once. The config schema, HTTP parsing, the core's checks,
 * the wire and the CLI's help texts all read them from here, so a limit cannot drift between them.
 * No imports: anything may import this file.
 */

/** Largest plaintext one aes128gcm record carries inside the 4096-byte body push services accept (RFC 8291). */
export const MAX_PLAINTEXT_BYTES = 3993;
/** Does a payload of `bytes` fit in one push message? */
export const payloadFits = (bytes: number): boolean => bytes <= MAX_PLAINTEXT_BYTES;

/** Push services keep a message at most 28 days (FCM's ceiling); RFC 8030 sets none. */
export const MAX_TTL_SECONDS = 2_419_200;
/** RFC 8030 section 5.3. */
export const URGENCIES = ['very-low', 'low', 'normal', 'high'] as const;
export type Urgency = (typeof URGENCIES)[number];
/** RFC 8030 section 5.4: at most 32 characters of the URL-safe base64 alphabet. */
export const TOPIC_PATTERN = /^[A-Za-z0-9_-]{1,32}$/;

export const NOTIFICATION_STATUSES = ['scheduled', 'sending', 'sent', 'partial', 'failed', 'cancelled', 'skipped'] as const;
export type NotificationStatus = (typeof NOTIFICATION_STATUSES)[number];
export const isNotificationStatus = (value: string): value is NotificationStatus => (NOTIFICATION_STATUSES as readonly string[]).includes(value);

/** A longer endpoint is not something a browser produced. */
export const MAX_ENDPOINT_LENGTH = 2048;
export const MAX_LABEL_LENGTH = 200;
export const MAX_USER_AGENT_LENGTH = 512;
/** Categories one subscribe request may name. */
export const MAX_CATEGORIES_PER_REQUEST = 100;
export const MAX_CATEGORY_NAME = 64;
export const MAX_DESCRIPTION_LENGTH = 500;
export const MAX_IDEMPOTENCY_KEY_LENGTH = 200;

/** Requests in flight at once while sending one notification. */
export const CONCURRENCY = { min: 1, max: 1000 } as const;
/** Rows one notifications listing returns. */
export const LIST_LIMIT = { default: 50, max: 1000 } as const;
export const ADMIN_TOKEN_MIN_LENGTH = 16;

/** Payload shapes: pushctl's own JSON for its service worker, or Declarative Web Push (docs/payloads.md). */
export const PAYLOAD_FORMATS = ['classic', 'declarative'] as const;
export type PayloadFormat = (typeof PAYLOAD_FORMATS)[number];
/** The Notification API's text directions. */
export const DIRECTIONS = ['auto', 'ltr', 'rtl'] as const;
/**
 * Buttons per notification. The Notification API caps them at Notification.maxActions, which is 2
 * in Chromium (Chrome, Edge, Android); Firefox and Safari show at most as many. More would be cut
 * off silently on screen, so pushctl refuses them.
 */
export const MAX_ACTIONS = 2;
export const MAX_ACTION_ID_LENGTH = 64;
/** The badge number is an unsigned integer; JSON numbers stay exact up to 2^53 - 1. */
export const MAX_BADGE_COUNT = Number.MAX_SAFE_INTEGER;
/** Declarative Web Push: the top-level "web_push" member that opts a message in (an homage to RFC 8030). */
export const DECLARATIVE_MAGIC = 8030;
/** Engagement events a service worker reports, each at most once per delivery. */
export const EVENT_KINDS = ['shown', 'clicked', 'dismissed'] as const;
export type EventKind = (typeof EVENT_KINDS)[number];
/** A sealed tracking token: one AES block (16 bytes) in base64url without padding (core/tracking-tokens.ts). */
export const SEALED_TOKEN_LENGTH = 22;
/** A stored tracking token (issued before seals): 18 random bytes in base64url. */
export const STORED_TOKEN_LENGTH = 24;
/** A delivery's tracking token, of either kind. */
export const TOKEN_PATTERN = new RegExp(`^[A-Za-z0-9_-]{${SEALED_TOKEN_LENGTH}}(?:[A-Za-z0-9_-]{${STORED_TOKEN_LENGTH - SEALED_TOKEN_LENGTH}})?$`);
/** A POST /events report is a token, a kind and maybe a button id: far below this. */
export const MAX_EVENT_BODY_BYTES = 512;
/** A stats report longer than this is a database dump, not a chart. */
export const MAX_STATS_DAYS = 366;
/** Frequency caps ("3/day"): the count and the rolling window's length (src/delivery-policy.ts). */
export const FREQUENCY_CAP = { maxLimit: 10_000, minWindowMs: 60_000, maxWindowMs: 366 * 86_400_000 } as const;
/** --rate N/s|N/min|N/h: N from 1 to this. */
export const MAX_RATE_COUNT = 1_000_000;
/** Longer than any tag or zone name a browser reports; keeps a stored value small. */
export const MAX_LANGUAGE_LENGTH = 64;
export const MAX_TIME_ZONE_LENGTH = 64;
