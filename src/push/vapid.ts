/**
 * VAPID (RFC 8292): `Authorization: vapid t=<JWT>, k=<public key>`, an ES256 JWT whose aud is the
 * push service's origin. Signing costs more than encrypting a message, so one header is made per
 * (origin, key, subject) and reused until shortly before it expires.
 */
import crypto from 'node:crypto';
import type { VapidCredentials } from './types.js';

/** Push services refuse exp more than 24 h ahead; stay well inside it. */
export const JWT_LIFETIME_SECONDS = 12 * 60 * 60;
/** Renew this long before exp, so a header never expires while a request is on the wire. */
export const JWT_RENEW_BEFORE_SECONDS = 60 * 60;

const JWT_HEADER = Buffer.from(JSON.stringify({ typ: 'JWT', alg: 'ES256' })).toString('base64url');

export interface VapidSignerOptions {
  lifetimeSeconds?: number;
  renewBeforeSeconds?: number;
  /** ms since epoch; injectable for tests of renewal. */
  now?: () => number;
}

export interface VapidSigner {
  /** The Authorization header value for a push to `origin` (e.g. "https://fcm.googleapis.com"). */
  authorization(origin: string, vapid: VapidCredentials): string;
  /** How many JWTs were signed (tests and the bench check the cache with it). */
  readonly signed: number;
}

interface CachedHeader {
  value: string;
  renewAtMs: number;
}

export function createVapidSigner(options: VapidSignerOptions = {}): VapidSigner {
  const lifetime = options.lifetimeSeconds ?? JWT_LIFETIME_SECONDS;
  const renewBefore = options.renewBeforeSeconds ?? JWT_RENEW_BEFORE_SECONDS;
  const now = options.now ?? Date.now;
  const headers = new Map<string, CachedHeader>();
  const privateKeys = new Map<string, crypto.KeyObject>();
  let signed = 0;

  function privateKeyFor(vapid: VapidCredentials): crypto.KeyObject {
    const cacheKey = `${vapid.publicKey}\n${vapid.privateKey}`;
    let key = privateKeys.get(cacheKey);
    if (!key) {
      key = importPrivateKey(vapid);
      privateKeys.set(cacheKey, key);
    }
    return key;
  }

  return {
    authorization(origin, vapid) {
      const cacheKey = `${origin}\n${vapid.publicKey}\n${vapid.privateKey}\n${vapid.subject}`;
      const nowMs = now();
      const cached = headers.get(cacheKey);
      if (cached && nowMs < cached.renewAtMs) return cached.value;
      const exp = Math.floor(nowMs / 1000) + lifetime;
      const jwt = signJwt({ aud: origin, exp, sub: vapid.subject }, privateKeyFor(vapid));
      signed += 1;
      const value = `vapid t=${jwt}, k=${vapid.publicKey}`;
      headers.set(cacheKey, { value, renewAtMs: (exp - renewBefore) * 1000 });
      return value;
    },
    get signed() {
      return signed;
    },
  };
}

export function signJwt(claims: { aud: string; exp: number; sub: string }, key: crypto.KeyObject): string {
  const unsigned = `${JWT_HEADER}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
  // JWS wants the raw r||s signature, not DER.
  const signature = crypto.sign('sha256', Buffer.from(unsigned), { key, dsaEncoding: 'ieee-p1363' });
  return `${unsigned}.${signature.toString('base64url')}`;
}

/**
 * The raw 32-byte scalar plus the public point, as a JWK node:crypto can import. node:crypto
 * signs with whatever scalar it is given, so check first that it is the public key's private
 * half: otherwise every push service would answer 401/403 and say less about why.
 */
export function importPrivateKey(vapid: Pick<VapidCredentials, 'publicKey' | 'privateKey'>): crypto.KeyObject {
  const pub = Buffer.from(vapid.publicKey, 'base64url');
  if (pub.length !== 65 || pub[0] !== 4) throw new Error('VAPID public key must be a 65-byte uncompressed P-256 point');
  const ecdh = crypto.createECDH('prime256v1');
  try {
    ecdh.setPrivateKey(Buffer.from(vapid.privateKey, 'base64url'));
  } catch {
    throw new Error('VAPID private key is not a valid P-256 private key');
  }
  if (!ecdh.getPublicKey().equals(pub)) throw new Error('VAPID private key does not belong to the public key');
  return crypto.createPrivateKey({
    format: 'jwk',
    key: {
      kty: 'EC',
      crv: 'P-256',
      x: pub.subarray(1, 33).toString('base64url'),
      y: pub.subarray(33, 65).toString('base64url'),
      d: vapid.privateKey,
    },
  });
}
