/**
 * RFC 8291 payload encryption (aes128gcm, one record) by web-push's own encryption module, and
 * the headers web-push's generateRequestDetails would add beside it. We sign VAPID once per
 * origin (vapid.ts) and post through our own transport, so the rest of web-push (its VAPID,
 * proxy and request code, asn1.js, jws, https-proxy-agent) is never needed: loading web-push's
 * index cost 20-25 ms of CPU at a send's start, in every thread that encrypts; this module 4 ms.
 */
import { createRequire } from 'node:module';
import type { PushOptions, PushTarget } from './types.js';

export interface EncryptedRequest {
  /** TTL, Urgency, Topic, Content-Encoding, Content-Type as strings, ready for the wire. */
  headers: Record<string, string>;
  /** salt | rs | keyid | ciphertext: at most 4096 bytes when the plaintext fits. */
  body: Buffer;
}

interface EncryptionHelper {
  /** A fresh ECDH key pair and salt per call (RFC 8291); throws for malformed p256dh/auth. */
  encrypt(p256dh: string, auth: string, payload: Buffer, contentEncoding: 'aes128gcm'): { cipherText: Buffer };
}

/** web-push's encryption module: its path, for the encryption worker threads to load it too. */
export const ENCRYPTION_HELPER_PATH = createRequire(import.meta.url).resolve('web-push/src/encryption-helper.js');
const helper = createRequire(import.meta.url)(ENCRYPTION_HELPER_PATH) as EncryptionHelper;

/**
 * One ECDH + HKDF + AES-128-GCM per call. The sender has already refused a payload that does not
 * fit (limits.ts payloadFits).
 */
export function encryptPayload(target: PushTarget, payload: Buffer, options: PushOptions): EncryptedRequest {
  return { headers: pushHeaders(options), body: encryptBody(target.p256dh, target.auth, payload) };
}

export function encryptBody(p256dh: string, auth: string, payload: Buffer): Buffer {
  return helper.encrypt(p256dh, auth, payload, 'aes128gcm').cipherText;
}

/**
 * The RFC 8030 headers of one push message, as web-push's generateRequestDetails sets them
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
