/**
 * What a valid subscription is: the browser's PushSubscription JSON
 * (`{endpoint, expirationTime?, keys: {p256dh, auth}}`), checked and normalised once, here, for
 * every way a subscription arrives (import, the HTTP receiver, pushsubscriptionchange).
 */
import { fail, type PushctlError } from '../errors.js';
import { checkEndpoint, type EndpointPolicy } from './endpoint-policy.js';

export interface ValidSubscription {
  endpoint: string;
  /** base64url without padding: a 65-byte uncompressed P-256 point on the curve */
  p256dh: string;
  /** base64url without padding: 16 bytes */
  auth: string;
  /** ms since the epoch, or null (most browsers) */
  expirationTime: number | null;
}

/**
 * Validates and normalises a PushSubscription. `where` ("line 12", "request body") starts every
 * error message, so the operator knows which record and which field is wrong.
 */
export function validateSubscription(raw: unknown, policy: EndpointPolicy, where?: string): ValidSubscription {
  // Messages are built only on failure: an import validates a million of these.
  if (!isObject(raw)) throw fail('invalid_input', `expected a subscription object {endpoint, keys: {p256dh, auth}}, got ${describeType(raw)}`, { at: where });

  const endpoint = raw.endpoint;
  if (typeof endpoint !== 'string' || endpoint === '') throw fieldError(where, 'endpoint', endpoint === undefined ? 'is missing' : 'must be a non-empty string');
  const checked = checkEndpoint(endpoint, policy);
  if (checked.reason !== undefined) throw fieldError(where, 'endpoint', checked.reason, 'endpoint_refused');

  const keys = raw.keys;
  if (!isObject(keys)) throw fieldError(where, 'keys', keys === undefined ? 'is missing (expected {p256dh, auth})' : 'must be an object {p256dh, auth}');
  const p256dh = decodeKey(keys.p256dh, where, 'keys.p256dh', 65);
  if (p256dh[0] !== 0x04) throw fieldError(where, 'keys.p256dh', 'must be an uncompressed P-256 point (first byte 0x04)');
  if (!isOnP256(p256dh)) throw fieldError(where, 'keys.p256dh', 'is not a point on the P-256 curve');
  const auth = decodeKey(keys.auth, where, 'keys.auth', 16);

  return {
    endpoint: checked.url.href,
    p256dh: p256dh.toString('base64url'),
    auth: auth.toString('base64url'),
    expirationTime: validateExpiration(raw.expirationTime, where),
  };
}

function validateExpiration(value: unknown, where: string | undefined): number | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw fieldError(where, 'expirationTime', 'must be null or a time in milliseconds since the epoch');
  }
  return value;
}

const base64Chars = /^[A-Za-z0-9_-]*$/;

/** Decodes base64url or standard base64, padded or not; anything else is refused. */
function decodeKey(value: unknown, where: string | undefined, field: string, bytes: number): Buffer {
  if (value === undefined || value === null) throw fieldError(where, field, 'is missing');
  if (typeof value !== 'string') throw fieldError(where, field, 'must be a base64url string');
  // Browsers send unpadded base64url already; only other forms need rewriting.
  const text = base64Chars.test(value) ? value : value.replace(/={1,2}$/, '').replace(/\+/g, '-').replace(/\//g, '_');
  if (!base64Chars.test(text) || text.length % 4 === 1) throw fieldError(where, field, 'is not valid base64url');
  const decoded = Buffer.from(text, 'base64url');
  if (decoded.length !== bytes) throw fieldError(where, field, `must be ${bytes} bytes, got ${decoded.length}`);
  return decoded;
}

// P-256 (secp256r1): y^2 = x^3 - 3x + b (mod p).
const P = 0xffffffff00000001000000000000000000000000ffffffffffffffffffffffffn;
const B = 0x5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604bn;

/**
 * Is this 65-byte uncompressed point on the curve? The curve equation in BigInt arithmetic: it
 * measured about ten times faster than crypto.ECDH.convertKey (which runs the same check inside
 * OpenSSL but pays for a native call and an exception per bad key), and the check dominated the
 * cost of an import. Tests cross-check it against OpenSSL.
 */
export function isOnP256(point: Buffer): boolean {
  if (point.length !== 65 || point[0] !== 0x04) return false;
  const x = BigInt(`0x${point.toString('hex', 1, 33)}`);
  const y = BigInt(`0x${point.toString('hex', 33, 65)}`);
  if (x >= P || y >= P) return false;
  return (y * y - (x * x * x - 3n * x + B)) % P === 0n;
}

/** Optional label and user agent: strings of bounded length, or null. */
export function validateOptionalText(value: unknown, where: string | undefined, field: string, max: number): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string') throw fieldError(where, field, 'must be a string');
  const text = value.trim();
  if (text.length > max) throw fieldError(where, field, `must be at most ${max} characters`);
  return text === '' ? null : text;
}

/** "line 3: keys.auth: must be 16 bytes, got 12" (fields inside a document keep their PushSubscription names) */
function fieldError(where: string | undefined, field: string, problem: string, code: 'invalid_input' | 'endpoint_refused' = 'invalid_input'): PushctlError {
  return fail(code, problem, { at: where, field });
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describeType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'string' ? 'a string' : `${typeof value}`;
}
