/**
 * VAPID key material (RFC 8292): P-256 key pairs in the base64url forms browsers and web-push use
 * (65-byte uncompressed public point, 32-byte private scalar), conversion from PEM and JSON, and
 * the rule for a valid subject.
 */
import crypto from 'node:crypto';
import { fail } from '../errors.js';

export interface VapidKeyPair {
  publicKey: string;
  privateKey: string;
}

export function generateKeyPair(): VapidKeyPair {
  const ecdh = crypto.createECDH('prime256v1');
  ecdh.generateKeys();
  return {
    publicKey: ecdh.getPublicKey().toString('base64url'),
    privateKey: padTo32(ecdh.getPrivateKey()).toString('base64url'),
  };
}

/** Throws unless the private key is a valid P-256 scalar whose public point is `publicKey`. */
export function assertKeyPairMatches(pair: VapidKeyPair, source = 'key pair'): void {
  const pub = decodeBase64Url(pair.publicKey, source, 'publicKey');
  const priv = decodeBase64Url(pair.privateKey, source, 'privateKey');
  if (pub.length !== 65 || pub[0] !== 4) {
    throw fail('invalid_input', `must be a 65-byte uncompressed P-256 point (base64url), got ${pub.length} bytes`, { at: source, field: 'publicKey' });
  }
  // Shorter is the same scalar with its leading zero bytes dropped (what Node's getPrivateKey() and
  // older web-push versions print for about one key in 256); the public key check below still applies.
  if (priv.length === 0 || priv.length > 32) {
    throw fail('invalid_input', `must be 32 bytes (base64url), got ${priv.length} bytes`, { at: source, field: 'privateKey' });
  }
  let derived: Buffer;
  try {
    const ecdh = crypto.createECDH('prime256v1');
    ecdh.setPrivateKey(padTo32(priv));
    derived = ecdh.getPublicKey();
  } catch {
    throw fail('invalid_input', 'is not a valid P-256 private key', { at: source, field: 'privateKey' });
  }
  if (!derived.equals(pub)) {
    throw fail('invalid_input', 'does not belong to publicKey', { at: source, field: 'privateKey' });
  }
}

/**
 * The private key in the form signing needs: base64url of exactly 32 bytes (a shorter one, leading
 * zero bytes dropped, is padded back). Anything that does not decode is returned as it is, for
 * assertKeyPairMatches to name.
 */
export function paddedPrivateKey(privateKey: string): string {
  const bytes = base64UrlBytes(privateKey);
  return bytes && bytes.length > 0 && bytes.length < 32 ? padTo32(bytes).toString('base64url') : privateKey;
}

/** Key pair from a PEM private key (PKCS#8 or SEC1 "EC PRIVATE KEY"); the public key is derived. */
export function keyPairFromPem(pem: string, source = 'PEM'): VapidKeyPair {
  let key: crypto.KeyObject;
  try {
    key = crypto.createPrivateKey(pem);
  } catch {
    throw fail('invalid_input', 'not a PEM private key', { at: source });
  }
  const jwk = key.export({ format: 'jwk' });
  if (jwk.kty !== 'EC' || jwk.crv !== 'P-256' || !jwk.d || !jwk.x || !jwk.y) {
    throw fail('invalid_input', 'the key must be an EC P-256 key (VAPID uses ES256)', { at: source });
  }
  const publicKey = Buffer.concat([Buffer.from([4]), Buffer.from(jwk.x, 'base64url'), Buffer.from(jwk.y, 'base64url')]);
  return { publicKey: publicKey.toString('base64url'), privateKey: Buffer.from(jwk.d, 'base64url').toString('base64url') };
}

export function keyPairToPem(pair: VapidKeyPair): { privateKeyPem: string; publicKeyPem: string } {
  const pub = Buffer.from(pair.publicKey, 'base64url');
  const jwk = {
    kty: 'EC',
    crv: 'P-256',
    x: pub.subarray(1, 33).toString('base64url'),
    y: pub.subarray(33, 65).toString('base64url'),
    d: pair.privateKey,
  };
  const privateKey = crypto.createPrivateKey({ key: jwk, format: 'jwk' });
  return {
    privateKeyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    publicKeyPem: crypto.createPublicKey(privateKey).export({ format: 'pem', type: 'spki' }).toString(),
  };
}

/** The subject rule is a push-service fact, kept with the wire so the configuration can check it too. */
export { validateSubject } from '../push/vapid-subject.js';

function decodeBase64Url(value: string, at: string, field: string): Buffer {
  const bytes = base64UrlBytes(value);
  if (!bytes) throw fail('invalid_input', 'not base64url', { at, field });
  return bytes;
}

/** base64url or base64 (with or without padding) as bytes; undefined when it is neither. */
function base64UrlBytes(value: string): Buffer | undefined {
  if (typeof value !== 'string' || !/^[A-Za-z0-9_\-+/]+=*$/.test(value.trim())) return undefined;
  return Buffer.from(value.trim().replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, ''), 'base64url');
}

function padTo32(buf: Buffer): Buffer {
  return buf.length >= 32 ? buf : Buffer.concat([Buffer.alloc(32 - buf.length), buf]);
}
