/**
 * What a push service's answer means for one subscription (RFC 8030, RFC 8292 and what FCM,
 * Mozilla autopush, Apple and WNS actually send). The delivery engine decides what to do about
 * it: retries with backoff, deleting gone subscriptions, stopping on a VAPID streak.
 */
import { STATUS_CODES } from 'node:http';
import type { PushOutcome } from './types.js';

export interface WireAnswer {
  status: number;
  /** Raw Retry-After header value, if any. */
  retryAfter?: string | undefined;
  /** The start of the response body: push services explain rejections there. */
  bodyExcerpt?: string | undefined;
}

export function classifyResponse(answer: WireAnswer, nowMs = Date.now()): PushOutcome {
  const { status } = answer;
  const message = describe(status, answer.bodyExcerpt);
  if (status >= 200 && status < 300) return { kind: 'delivered', status };
  if (status === 404 || status === 410) return { kind: 'gone', status, message };
  if (status === 413) return { kind: 'too-large', status, message };
  if (status === 429 || status === 408 || status >= 500) {
    return { kind: 'retry', status, retryAfterMs: parseRetryAfter(answer.retryAfter, nowMs), message };
  }
  if (status === 400 || status === 401 || status === 403) return { kind: 'rejected', status, message };
  return { kind: 'failed', status, message };
}

/** Network-level failures: connect/response timeouts and resets are worth retrying, a bad certificate is not. */
export function classifyError(error: unknown): PushOutcome {
  const code = errorCode(error);
  const text = error instanceof Error ? error.message : String(error);
  if (code && CERTIFICATE_CODES.has(code)) {
    return {
      kind: 'failed',
      message: `TLS: ${code} (${text}); for a private push service add its CA with NODE_EXTRA_CA_CERTS`,
    };
  }
  if (code === 'UND_ERR_CONNECT_TIMEOUT') return { kind: 'retry', message: 'connect timeout' };
  if (code === 'PUSHCTL_REQUEST_DEADLINE') return { kind: 'retry', message: `response timeout: ${text}` };
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') return { kind: 'retry', message: 'response timeout' };
  return { kind: 'retry', message: code ? `${code}: ${text}` : text };
}

/**
 * The longest wait a Retry-After can ask for, as far as pushctl is concerned: longer than any TTL
 * (at most 4 weeks), so a capped wait still reads as "after the TTL" and never as a number that
 * does not fit a timestamp.
 */
export const RETRY_AFTER_CAP_MS = 30 * 24 * 3_600_000;

/**
 * Retry-After is either delay-seconds or an HTTP date (RFC 9110 section 10.2.3). Returns ms from
 * now: finite, never negative, at most RETRY_AFTER_CAP_MS (whatever the push service sent, say
 * 400 nines or a date in year 9999), or undefined when absent or unreadable.
 */
export function parseRetryAfter(value: string | undefined, nowMs = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  let ms: number;
  if (/^\d+$/.test(trimmed)) {
    ms = Number(trimmed) * 1000; // Infinity for hundreds of digits: capped below
  } else {
    if (!/[a-z]/i.test(trimmed)) return undefined;
    const at = Date.parse(trimmed);
    if (!Number.isFinite(at)) return undefined;
    ms = at - nowMs;
  }
  return Math.min(Math.max(0, ms), RETRY_AFTER_CAP_MS);
}

function describe(status: number, bodyExcerpt: string | undefined): string {
  const text = `${status} ${STATUS_CODES[status] ?? ''}`.trim();
  const body = bodyExcerpt?.replace(/\s+/g, ' ').trim();
  return body ? `${text}: ${body}` : text;
}

function errorCode(error: unknown): string | undefined {
  // undici wraps socket and TLS errors; the telling code may sit on a cause.
  const codes: string[] = [];
  for (let e: unknown = error, depth = 0; e && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') codes.push(code);
  }
  return codes.find((code) => CERTIFICATE_CODES.has(code)) ?? codes[0];
}

const CERTIFICATE_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'CERT_NOT_YET_VALID',
]);
