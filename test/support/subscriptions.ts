/**
 * Valid fake subscriptions: real P-256 public points (from generated key pairs, whose private
 * halves a test can use to decrypt what it receives) and random 16-byte auth secrets, with
 * endpoints on a test origin that the CLI is told to allow (PUSHCTL_ENDPOINT_ORIGINS).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';

/** Nothing listens on port 9 (discard): a push sent there by mistake fails fast. */
export const TEST_ORIGIN = 'http://127.0.0.1:9';
/** A push service every installation allows without configuration (for the receiver's tests). */
export const FCM_ORIGIN = 'https://fcm.googleapis.com';

/** Environment for the CLI that allows endpoints on `origins` (default TEST_ORIGIN). */
export function allowOrigins(...origins: string[]): Record<string, string> {
  return { PUSHCTL_ENDPOINT_ORIGINS: (origins.length ? origins : [TEST_ORIGIN]).join(',') };
}

export interface PushSubscriptionJson {
  endpoint: string;
  expirationTime: number | null;
  keys: { p256dh: string; auth: string };
}

export interface FakeSubscriber {
  subscription: PushSubscriptionJson;
  /** The browser-side private key (base64url, 32 bytes): decrypts aes128gcm payloads. */
  privateKey: string;
  /** The auth secret as bytes. */
  authSecret: Buffer;
  ecdh: crypto.ECDH;
}

export interface FakeOptions {
  /** Endpoint origin, e.g. a stand-in push service "http://127.0.0.1:PORT" (default TEST_ORIGIN). */
  origin?: string;
  /** Endpoint path (default /push/<random>). */
  path?: string;
}

/** One subscriber with its own key pair. */
export function fakeSubscriber(options: FakeOptions = {}): FakeSubscriber {
  const ecdh = crypto.createECDH('prime256v1');
  ecdh.generateKeys();
  const authSecret = crypto.randomBytes(16);
  return {
    subscription: {
      endpoint: `${options.origin ?? TEST_ORIGIN}${options.path ?? `/push/${crypto.randomBytes(12).toString('hex')}`}`,
      expirationTime: null,
      keys: { p256dh: ecdh.getPublicKey().toString('base64url'), auth: authSecret.toString('base64url') },
    },
    privateKey: ecdh.getPrivateKey().toString('base64url'),
    authSecret,
    ecdh,
  };
}

/** Just the PushSubscription JSON of a fresh subscriber. */
export function fakeSubscription(options: FakeOptions = {}): PushSubscriptionJson {
  return fakeSubscriber(options).subscription;
}

/**
 * Many subscriptions quickly: endpoints numbered `/push/<i>` (unique, stable), key pairs drawn
 * from a pool (generating a million key pairs would take minutes; validation only needs real
 * points), fresh auth secrets.
 */
export function* manySubscriptions(count: number, options: { origin?: string; start?: number; pool?: number } = {}): Generator<PushSubscriptionJson> {
  const pool = Array.from({ length: Math.min(options.pool ?? 256, Math.max(count, 1)) }, () => {
    const ecdh = crypto.createECDH('prime256v1');
    ecdh.generateKeys();
    return ecdh.getPublicKey().toString('base64url');
  });
  const origin = options.origin ?? TEST_ORIGIN;
  const start = options.start ?? 0;
  const random = crypto.randomBytes(16 * 1024);
  for (let i = 0; i < count; i++) {
    const n = start + i;
    const offset = (n * 16) % (random.length - 16);
    const auth = Buffer.from(random.subarray(offset, offset + 16));
    auth.writeUInt32BE(n >>> 0, 0);
    yield { endpoint: `${origin}/push/${n}`, expirationTime: null, keys: { p256dh: pool[n % pool.length]!, auth: auth.toString('base64url') } };
  }
}

/** Writes `count` subscriptions as NDJSON (streamed, so a million lines are fine). */
export function writeNdjson(file: string, count: number, options: { origin?: string; start?: number } = {}): void {
  const fd = fs.openSync(file, 'w');
  try {
    let chunk = '';
    for (const s of manySubscriptions(count, options)) {
      chunk += JSON.stringify(s) + '\n';
      if (chunk.length > 1 << 16) {
        fs.writeSync(fd, chunk);
        chunk = '';
      }
    }
    if (chunk) fs.writeSync(fd, chunk);
  } finally {
    fs.closeSync(fd);
  }
}

/** A point that is 65 bytes, starts with 0x04, but is not on the curve. */
export function offCurvePoint(): string {
  const point = Buffer.from(fakeSubscription().keys.p256dh, 'base64url');
  point[64] = point[64]! ^ 1;
  return point.toString('base64url');
}
