/**
 * The push message a service worker receives: the JSON that `send` builds from --title/--body/...
 * (or a raw --payload), and the size rule: one aes128gcm record inside the 4096-byte body the push
 * services accept leaves at most 3993 bytes of plaintext. web-push does not check this; we must,
 * before anything is sent.
 *
 * Two shapes: "classic", pushctl's own flat JSON that its sw.js renders, and "declarative", the
 * Declarative Web Push JSON (declarative.ts) that Safari 18.4+ shows without a service worker and
 * that pushctl's sw.js renders the same way everywhere else. Both faces (CLI flags, admin API
 * fields) come through buildPayload, so every content rule is checked here once.
 */
import { inputError, usageError } from '../errors.js';
import { MAX_PLAINTEXT_BYTES } from '../push/types.js';
import { declarativePayload } from './declarative.js';
import type { MessageInput, NotificationAction, PayloadFormat } from './notification-spec.js';

export interface BuiltPayload {
  text: string;
  bytes: number;
}

export const PAYLOAD_FORMATS: readonly PayloadFormat[] = ['classic', 'declarative'];
export const DIRECTIONS = ['auto', 'ltr', 'rtl'] as const;
/**
 * Buttons per notification. The Notification API caps them at Notification.maxActions, which is 2
 * in Chromium (Chrome, Edge, Android); Firefox and Safari show at most as many. More would be cut
 * off silently on screen, so pushctl refuses them.
 */
export const MAX_ACTIONS = 2;
/** The badge number is an unsigned integer; JSON numbers stay exact up to 2^53 - 1. */
const MAX_BADGE_COUNT = Number.MAX_SAFE_INTEGER;
const MAX_ACTION_ID_LENGTH = 64;

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

const CONTENT_FIELDS = [
  'title', 'body', 'url', 'icon', 'badge', 'image', 'tag', 'lang', 'dir', 'timestamp',
  'requireInteraction', 'renotify', 'silent', 'actions', 'badgeCount', 'data',
] as const;
const STRING_FIELDS = ['title', 'body', 'tag', 'lang'] as const;
const LINK_FIELDS = ['url', 'icon', 'badge', 'image'] as const;
const FLAG_FIELDS = ['requireInteraction', 'renotify', 'silent'] as const;

export interface PayloadDefaults {
  /** push.payloadFormat from the configuration; a notification's own format wins. */
  format?: PayloadFormat | undefined;
}

export function buildPayload(message: MessageInput, defaults: PayloadDefaults = {}): BuiltPayload {
  const fieldsGiven = CONTENT_FIELDS.filter((f) => message[f] !== undefined);
  let text: string;
  if (message.payload !== undefined) {
    if (fieldsGiven.length) throw usageError(`payload: a raw payload cannot be combined with ${fieldsGiven.join(', ')}`, { field: 'payload' });
    if (message.format !== undefined) throw usageError('payload: a raw payload is sent as it is; format does not apply to it', { field: 'format' });
    text = typeof message.payload === 'string' ? message.payload : JSON.stringify(message.payload);
    if (!text.length) throw inputError('payload: is empty', { field: 'payload' });
  } else {
    const format = message.format ?? defaults.format ?? 'classic';
    if (!PAYLOAD_FORMATS.includes(format)) throw inputError(`format: "${String(format)}" is not one of ${PAYLOAD_FORMATS.join(', ')}`, { field: 'format' });
    const content = validateContent(message);
    text = JSON.stringify(format === 'declarative' ? declarativePayload(content) : classicPayload(content));
  }
  return { text, bytes: assertPayloadFits(text) };
}

/** The size rule, for any text that will go out as a push message; returns its size in bytes. */
export function assertPayloadFits(text: string): number {
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > MAX_PLAINTEXT_BYTES) {
    throw inputError(
      `payload is ${bytes} bytes; a push message carries at most ${MAX_PLAINTEXT_BYTES} bytes (one aes128gcm record in the 4096-byte body push services accept). Shorten it, or send a URL and fetch the rest in the service worker.`,
      { field: 'payload', bytes, limit: MAX_PLAINTEXT_BYTES },
    );
  }
  return bytes;
}

/** pushctl's own JSON, field names as in the Notification API's options (what sw.js reads). */
function classicPayload(c: NotificationContent): Record<string, unknown> {
  const payload: Record<string, unknown> = {};
  for (const field of ['title', 'body', 'url', 'icon', 'badge', 'image', 'tag', 'lang', 'dir', 'timestamp', 'requireInteraction', 'renotify', 'silent', 'actions', 'badgeCount', 'data'] as const) {
    if (c[field] !== undefined) payload[field] = c[field];
  }
  return payload;
}

/** Checks every content field's type and rule; returns only the fields given. */
export function validateContent(message: MessageInput): NotificationContent {
  if (message.title === undefined && message.body === undefined) {
    throw usageError('a notification needs a title or a body (or a raw payload)', { field: 'title' });
  }
  const content: NotificationContent = {};
  for (const field of STRING_FIELDS) {
    const value = message[field];
    if (value === undefined) continue;
    if (typeof value !== 'string') throw inputError(`${field}: must be a string`, { field });
    content[field] = value;
  }
  for (const field of LINK_FIELDS) {
    const value = message[field];
    if (value !== undefined) content[field] = assertLink(value, field);
  }
  for (const field of FLAG_FIELDS) {
    const value = message[field];
    if (value === undefined) continue;
    const name = field === 'requireInteraction' ? 'require_interaction' : field;
    if (typeof value !== 'boolean') throw inputError(`${name}: must be true or false`, { field: name });
    content[field] = value;
  }
  if (content.renotify && !content.tag) {
    throw usageError('renotify: needs a tag (renotify alerts again when a notification replaces one with the same tag)', { field: 'renotify' });
  }
  if (content.lang !== undefined && !/^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$/.test(content.lang)) {
    throw inputError(`lang: "${content.lang}" is not a language tag like en, de-CH or zh-Hant`, { field: 'lang' });
  }
  if (message.dir !== undefined) {
    if (!DIRECTIONS.includes(message.dir)) throw inputError(`dir: "${String(message.dir)}" is not one of ${DIRECTIONS.join(', ')}`, { field: 'dir' });
    content.dir = message.dir;
  }
  if (message.timestamp !== undefined) content.timestamp = parseTimestamp(message.timestamp);
  if (message.badgeCount !== undefined) {
    const n = message.badgeCount;
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0 || n > MAX_BADGE_COUNT) {
      throw inputError('badge count: must be a whole number from 0 (clears the badge) upwards', { field: 'badge_count' });
    }
    content.badgeCount = n;
  }
  if (message.actions !== undefined) content.actions = validateActions(message.actions);
  if (message.data !== undefined) {
    if (typeof message.data !== 'object' || message.data === null || Array.isArray(message.data)) {
      throw inputError('data: must be a JSON object', { field: 'data' });
    }
    content.data = message.data;
  }
  return content;
}

function validateActions(value: unknown): NotificationAction[] {
  if (!Array.isArray(value)) throw inputError('actions: must be a list of {action, title, url}', { field: 'actions' });
  if (value.length > MAX_ACTIONS) {
    throw inputError(`actions: at most ${MAX_ACTIONS} (the Notification API's maxActions in Chromium; more would not be shown)`, { field: 'actions' });
  }
  const seen = new Set<string>();
  return value.map((item: unknown, index) => {
    const where = `actions[${index}]`;
    if (!item || typeof item !== 'object' || Array.isArray(item)) throw inputError(`${where}: must be {action, title, url}`, { field: 'actions' });
    const { action, title, url, ...rest } = item as Record<string, unknown>;
    const unknown = Object.keys(rest);
    if (unknown.length) throw inputError(`${where}: unknown field ${unknown[0]} (expected action, title, url)`, { field: 'actions' });
    if (typeof action !== 'string' || action === '' || action.length > MAX_ACTION_ID_LENGTH || !/^[\w.-]+$/.test(action)) {
      throw inputError(`${where}.action: must be an id of 1 to ${MAX_ACTION_ID_LENGTH} letters, digits, "_", "-" or "."`, { field: 'actions' });
    }
    if (seen.has(action)) throw inputError(`${where}.action: "${action}" is used twice`, { field: 'actions' });
    seen.add(action);
    if (typeof title !== 'string' || title.trim() === '') throw inputError(`${where}.title: must be a non-empty string`, { field: 'actions' });
    const result: NotificationAction = { action, title };
    if (url !== undefined) result.url = assertLink(url, `${where}.url`);
    return result;
  });
}

/** ms since epoch, from a number of ms or an ISO 8601 date-time with an offset. */
export function parseTimestamp(value: number | string): number {
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value) || value < 0) throw inputError('timestamp: must be milliseconds since 1970 (a whole number) or an ISO 8601 time', { field: 'timestamp' });
    return value;
  }
  if (typeof value === 'string') {
    if (/^\d+$/.test(value)) return parseTimestamp(Number(value));
    const ms = /^\d{4}-\d{2}-\d{2}T[\d:.]+(Z|[+-]\d{2}:?\d{2})$/i.test(value) ? Date.parse(value) : NaN;
    if (Number.isFinite(ms) && ms >= 0) return ms;
  }
  throw inputError(`timestamp: "${String(value)}" is not an ISO 8601 time with an offset (2030-05-01T09:30:00Z) or milliseconds since 1970`, { field: 'timestamp' });
}

/** The title a listing shows for a stored payload (raw payloads may have none). */
export function titleOf(payloadText: string): string | null {
  try {
    const value = JSON.parse(payloadText) as unknown;
    if (value && typeof value === 'object') {
      const record = value as Record<string, unknown>;
      const title = record.title ?? (record.notification as Record<string, unknown> | undefined)?.title;
      if (typeof title === 'string') return title;
    }
  } catch {
    // Not JSON: a raw text payload.
  }
  return null;
}

function assertLink(value: unknown, field: string): string {
  if (typeof value !== 'string' || value === '') throw inputError(`${field}: must be a URL`, { field });
  if (value.startsWith('/') && !value.startsWith('//')) return value; // a path on the site itself
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw inputError(`${field}: "${value}" is not a URL (use https://... or a path starting with /)`, { field });
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw inputError(`${field}: "${value}" must be an http(s) URL or a path starting with /`, { field });
  }
  return value;
}
