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
import { fail, msg, ref, type MessagePart } from '../errors.js';
import { DIRECTIONS, MAX_ACTION_ID_LENGTH, MAX_ACTIONS, MAX_BADGE_COUNT, MAX_PLAINTEXT_BYTES, PAYLOAD_FORMATS, payloadFits, type PayloadFormat } from '../limits.js';
import { declarativePayload } from './declarative.js';
import type { MessageInput, NotificationAction, NotificationContent } from './notification-spec.js';

export interface BuiltPayload {
  text: string;
  bytes: number;
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
    if (fieldsGiven.length) {
      const named: MessagePart[] = fieldsGiven.flatMap((field, i) => (i ? [', ', ref(field)] : [ref(field)]));
      throw fail('invalid_request', ['a raw payload cannot be combined with ', ...named], { field: 'payload' });
    }
    if (message.format !== undefined) throw fail('invalid_request', 'a raw payload is sent as it is; a format does not apply to it', { field: 'format' });
    text = typeof message.payload === 'string' ? message.payload : JSON.stringify(message.payload);
    if (!text.length) throw fail('invalid_input', 'is empty', { field: 'payload' });
  } else {
    const format = message.format ?? defaults.format ?? 'classic';
    if (!(PAYLOAD_FORMATS as readonly string[]).includes(format)) throw fail('invalid_input', `"${String(format)}" is not one of ${PAYLOAD_FORMATS.join(', ')}`, { field: 'format' });
    const content = validateContent(message);
    text = JSON.stringify(format === 'declarative' ? declarativePayload(content) : classicPayload(content));
  }
  return { text, bytes: assertPayloadFits(text) };
}

/** The size rule, for any text that will go out as a push message; returns its size in bytes. */
export function assertPayloadFits(text: string): number {
  const bytes = Buffer.byteLength(text, 'utf8');
  if (!payloadFits(bytes)) {
    throw fail(
      'message_too_large',
      `is ${bytes} bytes; a push message carries at most ${MAX_PLAINTEXT_BYTES} bytes (one aes128gcm record in the 4096-byte body push services accept). Shorten it, or send a URL and fetch the rest in the service worker.`,
      { field: 'payload', details: { bytes, limit: MAX_PLAINTEXT_BYTES } },
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
    throw fail('invalid_request', 'a notification needs a title or a body (or a raw payload)', { field: 'title' });
  }
  const content: NotificationContent = {};
  for (const field of STRING_FIELDS) {
    const value = message[field];
    if (value === undefined) continue;
    if (typeof value !== 'string') throw fail('invalid_input', 'must be a string', { field });
    content[field] = value;
  }
  for (const field of LINK_FIELDS) {
    const value = message[field];
    if (value !== undefined) content[field] = assertLink(value, field);
  }
  for (const field of FLAG_FIELDS) {
    const value = message[field];
    if (value === undefined) continue;
    if (typeof value !== 'boolean') throw fail('invalid_input', 'must be true or false', { field });
    content[field] = value;
  }
  if (content.renotify && !content.tag) {
    throw fail('invalid_request', msg`needs a ${ref('tag')} (it alerts again when a notification replaces one with the same tag)`, { field: 'renotify' });
  }
  if (content.lang !== undefined && !/^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$/.test(content.lang)) {
    throw fail('invalid_input', `"${content.lang}" is not a language tag like en, de-CH or zh-Hant`, { field: 'lang' });
  }
  if (message.dir !== undefined) {
    if (!DIRECTIONS.includes(message.dir)) throw fail('invalid_input', `"${String(message.dir)}" is not one of ${DIRECTIONS.join(', ')}`, { field: 'dir' });
    content.dir = message.dir;
  }
  if (message.timestamp !== undefined) content.timestamp = parseTimestamp(message.timestamp);
  if (message.badgeCount !== undefined) {
    const n = message.badgeCount;
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0 || n > MAX_BADGE_COUNT) {
      throw fail('invalid_input', 'must be a whole number from 0 (clears the badge) upwards', { field: 'badgeCount' });
    }
    content.badgeCount = n;
  }
  if (message.actions !== undefined) content.actions = validateActions(message.actions);
  if (message.data !== undefined) {
    if (typeof message.data !== 'object' || message.data === null || Array.isArray(message.data)) {
      throw fail('invalid_input', 'must be a JSON object', { field: 'data' });
    }
    content.data = message.data;
  }
  return content;
}

function validateActions(value: unknown): NotificationAction[] {
  if (!Array.isArray(value)) throw fail('invalid_input', 'must be a list of {action, title, url}', { field: 'actions' });
  if (value.length > MAX_ACTIONS) {
    throw fail('invalid_input', `at most ${MAX_ACTIONS} (the Notification API's maxActions in Chromium; more would not be shown)`, { field: 'actions' });
  }
  const seen = new Set<string>();
  return value.map((item: unknown, index) => {
    const where = `[${index}]`;
    if (!item || typeof item !== 'object' || Array.isArray(item)) throw fail('invalid_input', `${where}: must be {action, title, url}`, { field: 'actions' });
    const { action, title, url, ...rest } = item as Record<string, unknown>;
    const unknown = Object.keys(rest);
    if (unknown.length) throw fail('invalid_input', `${where}: unknown field ${unknown[0]} (expected action, title, url)`, { field: 'actions' });
    if (typeof action !== 'string' || action === '' || action.length > MAX_ACTION_ID_LENGTH || !/^[\w.-]+$/.test(action)) {
      throw fail('invalid_input', `${where}.action: must be an id of 1 to ${MAX_ACTION_ID_LENGTH} letters, digits, "_", "-" or "."`, { field: 'actions' });
    }
    if (seen.has(action)) throw fail('invalid_input', `${where}.action: "${action}" is used twice`, { field: 'actions' });
    seen.add(action);
    if (typeof title !== 'string' || title.trim() === '') throw fail('invalid_input', `${where}.title: must be a non-empty string`, { field: 'actions' });
    const result: NotificationAction = { action, title };
    if (url !== undefined) result.url = assertLink(url, `actions${where}.url`);
    return result;
  });
}

/** ms since epoch, from a number of ms or an ISO 8601 date-time with an offset. */
export function parseTimestamp(value: number | string): number {
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value) || value < 0) throw fail('invalid_input', 'must be milliseconds since 1970 (a whole number) or an ISO 8601 time', { field: 'timestamp' });
    return value;
  }
  if (typeof value === 'string') {
    if (/^\d+$/.test(value)) return parseTimestamp(Number(value));
    const ms = /^\d{4}-\d{2}-\d{2}T[\d:.]+(Z|[+-]\d{2}:?\d{2})$/i.test(value) ? Date.parse(value) : NaN;
    if (Number.isFinite(ms) && ms >= 0) return ms;
  }
  throw fail('invalid_input', `"${String(value)}" is not an ISO 8601 time with an offset (2030-05-01T09:30:00Z) or milliseconds since 1970`, { field: 'timestamp' });
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
  if (typeof value !== 'string' || value === '') throw fail('invalid_input', 'must be a URL', { field });
  if (value.startsWith('/') && !value.startsWith('//')) return value; // a path on the site itself
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw fail('invalid_input', `"${value}" is not a URL (use https://... or a path starting with /)`, { field });
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw fail('invalid_input', `"${value}" must be an http(s) URL or a path starting with /`, { field });
  }
  return value;
}
