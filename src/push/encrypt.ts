/**
 * RFC 8291 payload encryption (aes128gcm, one record) through web-push's generateRequestDetails,
 * asked for encryption only: `vapidDetails: null` skips its per-message JWT signing (we sign once
 * per origin in vapid.ts) and the request itself goes out through our own transport.
 */
import webpush from 'web-push';
import type { PushOptions, PushTarget } from './types.js';

export interface EncryptedRequest {
  /** TTL, Urgency, Topic, Content-Encoding, Content-Type as strings, ready for the wire. */
  headers: Record<string, string>;
  /** salt | rs | keyid | ciphertext: at most 4096 bytes when the plaintext fits. */
  body: Buffer;
}

/**
 * One ECDH + HKDF + AES-128-GCM per call (a fresh sender key and salt each time, as RFC 8291
 * requires). The sender has already refused a payload that does not fit (limits.ts payloadFits).
 */
export function encryptPayload(target: PushTarget, payload: Buffer, options: PushOptions): EncryptedRequest {
  const details = webpush.generateRequestDetails(...webPushArguments(target, payload, options));
  return { headers: wireHeaders(details.headers as Record<string, unknown>), body: details.body };
}

/** The arguments for generateRequestDetails, shared with the encryption worker threads. */
export function webPushArguments(target: PushTarget, payload: Buffer, options: PushOptions) {
  return [
    { endpoint: target.endpoint, keys: { p256dh: target.p256dh, auth: target.auth } },
    payload,
    {
      // null, not undefined: undefined would fall back to web-push's process-wide VAPID details.
      vapidDetails: null as unknown as undefined,
      TTL: options.ttl,
      contentEncoding: 'aes128gcm',
      ...(options.urgency ? { urgency: options.urgency } : {}),
      ...(options.topic ? { topic: options.topic } : {}),
    },
  ] as const;
}

/** web-push's header object as lower-case string headers, without Content-Length (undici sets it). */
export function wireHeaders(raw: Record<string, unknown>): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(raw)) {
    if (name.toLowerCase() === 'content-length' || value === undefined || value === null) continue;
    headers[name.toLowerCase()] = String(value);
  }
  return headers;
}
