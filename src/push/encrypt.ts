/**
 * RFC 8291 payload encryption (rfc8291.ts) and the RFC 8030 headers that go with it. We sign VAPID
 * once per origin (vapid.ts) and post through our own transport, so nothing of web-push is loaded
 * at send time: its index cost 20-25 ms of CPU at a send's start in every thread that encrypts.
 */
import { builtFile } from './built-file.js';
import { encryptForSubscription } from './rfc8291.js';
import type { PushOptions, PushTarget } from './types.js';

export interface EncryptedRequest {
  /** TTL, Urgency, Topic, Content-Encoding, Content-Type as strings, ready for the wire. */
  headers: Record<string, string>;
  /** salt | rs | keyid | ciphertext: at most 4096 bytes when the plaintext fits. */
  body: Buffer;
}

/** The compiled encryption module, for the encryption worker threads to import. */
export function encryptionModuleUrl(): string {
  return builtFile('./rfc8291.js').href;
}

/**
 * One ECDH + HKDF + AES-128-GCM per call. The sender has already refused a payload that does not
 * fit (limits.ts payloadFits).
 */
export function encryptPayload(target: PushTarget, payload: Buffer, options: PushOptions): EncryptedRequest {
  return { headers: pushHeaders(options), body: encryptBody(target.p256dh, target.auth, payload) };
}

export function encryptBody(p256dh: string, auth: string, payload: Buffer): Buffer {
  return encryptForSubscription(p256dh, auth, payload);
}

/**
 * The RFC 8030 headers of one push message, as web-push's generateRequestDetails set them
 * (Urgency "normal" when none is given), lower-case; a new object each call, because the sender
 * adds Authorization to it. TTL, urgency and topic were validated when the notification was made
 * (limits.ts). Content-Length is left to the HTTP client.
 */
export function pushHeaders(options: PushOptions): Record<string, string> {
  const headers: Record<string, string> = {
    ttl: String(options.ttl),
    'content-type': 'application/octet-stream',
    'content-encoding': 'aes128gcm',
    urgency: options.urgency ?? 'normal',
  };
  if (options.topic) headers.topic = options.topic;
  return headers;
}
