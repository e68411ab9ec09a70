/**
 * The contract between the delivery engine (core/delivery.ts) and the wire (push/*): one push
 * request to one subscription, and what the push service's answer means.
 */
import type { Urgency } from '../limits.js';

export interface PushTarget {
  endpoint: string;
  /** base64url, 65-byte uncompressed P-256 point */
  p256dh: string;
  /** base64url, 16 bytes */
  auth: string;
}

export interface VapidCredentials {
  publicKey: string;
  privateKey: string;
  subject: string;
}

export interface PushOptions {
  ttl: number;
  urgency?: Urgency | undefined;
  topic?: string | undefined;
  /**
   * A throttled request's slot ends at this moment (ms since the epoch, wall clock): checked after
   * encryption, just before the request is written, so a request delayed on its way (a busy
   * machine, a queue of encryptions) is not sent late, bunched with later ones; it comes back `late`.
   */
  notAfter?: number | undefined;
}

/**
 * What one push request came to:
 * - delivered: 2xx
 * - gone: 404/410, the subscription no longer exists (delete it)
 * - too-large: 413, the message is wrong (stop the send, keep subscribers)
 * - retry: 429, 5xx, timeout, connection error (retry later; retryAfterMs from Retry-After)
 * - rejected: 400/401/403, almost always a VAPID key mismatch or a bad JWT (never delete)
 * - failed: anything else that will not get better by retrying
 */
export type PushOutcomeKind = 'delivered' | 'gone' | 'too-large' | 'retry' | 'rejected' | 'failed' | 'late';

export interface PushOutcome {
  kind: PushOutcomeKind;
  status?: number | undefined;
  retryAfterMs?: number | undefined;
  /** Short reason for the ledger and the operator (status text, error code, body excerpt). */
  message?: string | undefined;
}

export interface PushSender {
  /** Encrypts `payload` for the subscription, signs with `vapid`, sends it; never throws for push-service answers. */
  send(target: PushTarget, payload: Buffer, options: PushOptions, vapid: VapidCredentials): Promise<PushOutcome>;
  close(): Promise<void>;
  /** A hint: about this many requests are coming (a sender with threads sizes itself to it). */
  expect?(requests: number): void;
  /** Resolves when a request sent now would leave at once (a sender made on first use is made): throttled sends start on time. */
  ready?(): Promise<void>;
  /**
   * A hint: the first requests go to these endpoints (a sample, in order), about `inFlight` at a
   * time (default: the sender's concurrency). Connections to their push services open now, in
   * proportion, so the first requests need not wait for handshakes.
   */
  preconnect?(endpoints: readonly string[], inFlight?: number): void;
}

export interface PushSenderOptions {
  /** Upper bound of requests in flight per push-service origin. */
  concurrency: number;
  connectTimeoutMs?: number | undefined;
  /** One total deadline per request: headers and the part of the body that is kept (default 30 s). */
  requestTimeoutMs?: number | undefined;
  /** Extra trusted CA certificate (PEM) for a private or test push service; NODE_EXTRA_CA_CERTS works too. */
  ca?: string | Buffer | undefined;
  /** Offer HTTP/2 (ALPN) to push services over TLS. */
  http2?: boolean | undefined;
  /**
   * Last check before a request leaves: the reason an endpoint may not be contacted (say, its
   * origin is no longer allowed by the configuration), or undefined. A refusal is a `failed` outcome.
   */
  endpointRefusal?: ((endpoint: string) => string | undefined) | undefined;
  /** Worker threads for encryption; 0 encrypts on the calling thread. Default: one per core but one, at most 4. */
  encryptionThreads?: number | undefined;
  /**
   * When expect() announces fewer requests than this, they are encrypted on the calling thread and
   * no thread starts (a later, larger expect() starts them). Default HELPER_MIN_REQUESTS.
   */
  threadsFromRequests?: number | undefined;
}

/** The payload limit lives with every other limit. */
export { MAX_PLAINTEXT_BYTES } from '../limits.js';
