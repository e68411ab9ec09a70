/**
 * The push message a service worker receives: the JSON that `send` builds from --title/--body/...
 * (or a raw --payload), and the size rule: one aes128gcm record inside the 4096-byte body the push
 * services accept leaves at most 3993 bytes of plaintext. web-push does not check this; we must,
 * before anything is sent.
 */
import { fail } from '../errors.js';
import { MAX_PLAINTEXT_BYTES, payloadFits } from '../limits.js';
import type { MessageInput } from './notification-spec.js';

export interface BuiltPayload {
  text: string;
  bytes: number;
}

const LINK_FIELDS = ['url', 'icon', 'badge'] as const;

export function buildPayload(message: MessageInput): BuiltPayload {
  const fieldsGiven = (['title', 'body', 'url', 'icon', 'badge', 'tag', 'data'] as const).filter((f) => message[f] !== undefined);
  let text: string;
  if (message.payload !== undefined) {
    if (fieldsGiven.length) throw fail('invalid_request', `a raw payload cannot be combined with ${fieldsGiven.join(', ')}`, { field: 'payload' });
    text = typeof message.payload === 'string' ? message.payload : JSON.stringify(message.payload);
    if (!text.length) throw fail('invalid_input', 'is empty', { field: 'payload' });
  } else {
    if (message.title === undefined && message.body === undefined) {
      throw fail('invalid_request', 'a notification needs a title or a body (or a raw payload)', { field: 'title' });
    }
    for (const field of LINK_FIELDS) {
      const value = message[field];
      if (value !== undefined) assertLink(value, field);
    }
    if (message.data !== undefined && (typeof message.data !== 'object' || message.data === null || Array.isArray(message.data))) {
      throw fail('invalid_input', 'must be a JSON object', { field: 'data' });
    }
    const payload: Record<string, unknown> = {};
    for (const field of ['title', 'body', 'url', 'icon', 'badge', 'tag'] as const) {
      const value = message[field];
      if (value !== undefined) {
        if (typeof value !== 'string') throw fail('invalid_input', 'must be a string', { field });
        payload[field] = value;
      }
    }
    if (message.data !== undefined) payload.data = message.data;
    text = JSON.stringify(payload);
  }
  const bytes = Buffer.byteLength(text, 'utf8');
  if (!payloadFits(bytes)) {
    throw fail(
      'message_too_large',
      `is ${bytes} bytes; a push message carries at most ${MAX_PLAINTEXT_BYTES} bytes (one aes128gcm record in the 4096-byte body push services accept). Shorten it, or send a URL and fetch the rest in the service worker.`,
      { field: 'payload', details: { bytes, limit: MAX_PLAINTEXT_BYTES } },
    );
  }
  return { text, bytes };
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

function assertLink(value: unknown, field: string): void {
  if (typeof value !== 'string' || value === '') throw fail('invalid_input', 'must be a URL', { field });
  if (value.startsWith('/') && !value.startsWith('//')) return; // a path on the site itself
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw fail('invalid_input', `"${value}" is not a URL (use https://... or a path starting with /)`, { field });
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw fail('invalid_input', `"${value}" must be an http(s) URL or a path starting with /`, { field });
  }
}
