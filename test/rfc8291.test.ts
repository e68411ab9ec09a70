/**
 * pushctl's RFC 8291 encryption (src/push/rfc8291.ts): byte for byte the RFC's own example
 * (Appendix A), readable by an independent implementation (http_ece, which web-push uses), a
 * fresh key pair and salt per message, and a plain error for keys a browser never sends.
 */
import crypto from 'node:crypto';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { nativeKeyAgreement, nodeKeyAgreement, type KeyAgreement } from '../src/push/native-ecdh.js';
import { encryptForSubscription, encryptWith, keyAgreementKind, MAX_RECORD_PLAINTEXT } from '../src/push/rfc8291.js';

const ece = createRequire(import.meta.url)('http_ece') as {
  decrypt(body: Buffer, params: { version: string; privateKey: crypto.ECDH; authSecret: Buffer }): Buffer;
};
const b64 = (text: string) => Buffer.from(text, 'base64url');

// RFC 8291 Appendix A.
const RFC = {
  plaintext: 'When I grow up, I want to be a watermelon',
  asPrivate: 'yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw',
  uaPublic: 'BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4',
  uaPrivate: 'q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94',
  auth: 'BTBZMqHH6r4Tts7J_aSIgg',
  salt: 'DGv6ra1nlYgDCS1FRnbzlw',
  body:
    'DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_' +
    'yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN',
};

function browser() {
  const ecdh = crypto.createECDH('prime256v1');
  ecdh.generateKeys();
  const auth = crypto.randomBytes(16);
  return { ecdh, auth, p256dh: ecdh.getPublicKey('base64url'), authText: auth.toString('base64url') };
}

describe('RFC 8291 encryption', () => {
  it('reproduces the RFC 8291 Appendix A message exactly', () => {
    const as = crypto.createECDH('prime256v1');
    as.setPrivateKey(b64(RFC.asPrivate));
    const body = encryptWith({ uaPublic: b64(RFC.uaPublic), authSecret: b64(RFC.auth) }, Buffer.from(RFC.plaintext), {
      asPublic: as.getPublicKey(),
      sharedSecret: as.computeSecret(b64(RFC.uaPublic)),
      salt: b64(RFC.salt),
    });
    expect(body.toString('base64url')).toBe(RFC.body);
  });

});

const native = nativeKeyAgreement();
const agreements: Array<[string, KeyAgreement | undefined]> = [
  ['node:crypto', nodeKeyAgreement()],
  ["the system's libcrypto (native/ecdh.c)", native],
];

describe('the key agreement', () => {
  it("is the system's libcrypto when the build compiled it (in CI it must have), and a send uses it", () => {
    if (process.env.CI) expect(native, 'dist/native/ecdh.node did not build or load').toBeDefined();
    expect(keyAgreementKind()).toBe(native ? 'native' : 'node');
  });

  it.skipIf(!native)('native: a fresh key pair per call whose secret the subscriber computes too, and bad points refused', () => {
    const ua = browser();
    const seen = new Set<string>();
    for (let i = 0; i < 50; i++) {
      const { asPublic, sharedSecret } = native!.agree(ua.ecdh.getPublicKey());
      expect(asPublic.length).toBe(65);
      expect(sharedSecret.length).toBe(32);
      expect(ua.ecdh.computeSecret(asPublic).equals(sharedSecret)).toBe(true);
      seen.add(asPublic.toString('hex'));
    }
    expect(seen.size).toBe(50);
    const offCurve = Buffer.alloc(65, 7);
    offCurve[0] = 4;
    for (const bad of [offCurve, Buffer.alloc(65), ua.ecdh.getPublicKey().subarray(0, 64), ua.ecdh.getPublicKey(null, 'compressed')]) {
      expect(() => native!.agree(bad)).toThrow('Public key is not valid for specified curve');
    }
    expect(() => (native as unknown as { agree(x: unknown): unknown }).agree('not a buffer')).toThrow();
  });

  it.skipIf(!native)('native: the whole body in one call, with the salt given, that http_ece decrypts; bad input refused', () => {
    const ua = browser();
    const salt = crypto.randomBytes(16);
    const body = native!.encrypt!(ua.ecdh.getPublicKey(), ua.auth, salt, Buffer.from(RFC.plaintext));
    expect(body.subarray(0, 16).equals(salt)).toBe(true);
    expect(body.readUInt32BE(16)).toBe(4096);
    expect(body[20]).toBe(65);
    expect(ece.decrypt(body, { version: 'aes128gcm', privateKey: ua.ecdh, authSecret: ua.auth }).toString()).toBe(RFC.plaintext);
    const offCurve = Buffer.alloc(65, 7);
    offCurve[0] = 4;
    expect(() => native!.encrypt!(offCurve, ua.auth, salt, Buffer.from('x'))).toThrow('Public key is not valid for specified curve');
    expect(() => native!.encrypt!(ua.ecdh.getPublicKey(), ua.auth, salt.subarray(0, 8), Buffer.from('x'))).toThrow('encrypt: bad auth secret, salt or plaintext length');
    expect(() => native!.encrypt!(ua.ecdh.getPublicKey(), ua.auth, salt, Buffer.alloc(MAX_RECORD_PLAINTEXT + 1))).toThrow('encrypt: bad auth secret, salt or plaintext length');
    expect(() => (native!.encrypt as unknown as (...a: unknown[]) => Buffer)(ua.ecdh.getPublicKey(), 'auth', salt, Buffer.from('x'))).toThrow('the auth secret must be a Buffer');
  });
});

describe.each(agreements)('RFC 8291 encryption with %s', (_name, using) => {
  it.skipIf(!using)('what it sends, an independent implementation (http_ece) decrypts, for every length a push can carry', () => {
    const ua = browser();
    for (const length of [0, 1, 15, 16, 17, 100, 1000, 3000, 3993, MAX_RECORD_PLAINTEXT]) {
      const plaintext = crypto.randomBytes(length);
      const body = encryptForSubscription(ua.p256dh, ua.authText, plaintext, using);
      expect(body.length).toBe(86 + length + 17);
      expect(ece.decrypt(body, { version: 'aes128gcm', privateKey: ua.ecdh, authSecret: ua.auth }).equals(plaintext)).toBe(true);
    }
  });

  it.skipIf(!using)('uses a fresh key pair and salt for every message, also to the same subscriber', () => {
    const ua = browser();
    const bodies = Array.from({ length: 300 }, () => encryptForSubscription(ua.p256dh, ua.authText, Buffer.from('same'), using));
    const salts = new Set(bodies.map((b) => b.subarray(0, 16).toString('hex')));
    const senderKeys = new Set(bodies.map((b) => b.subarray(21, 86).toString('hex')));
    expect(salts.size).toBe(300);
    expect(senderKeys.size).toBe(300);
    for (const body of bodies.slice(-3)) expect(ece.decrypt(body, { version: 'aes128gcm', privateKey: ua.ecdh, authSecret: ua.auth }).toString()).toBe('same');
  });

  it.skipIf(!using)('refuses keys no browser sends, and a message too long for one record, with a plain message', () => {
    const ua = browser();
    expect(() => encryptForSubscription(ua.p256dh.slice(0, 40), ua.authText, Buffer.from('x'), using)).toThrow('The subscription p256dh value should be 65 bytes long, not 30.');
    expect(() => encryptForSubscription(ua.p256dh, 'c2hvcnQ', Buffer.from('x'), using)).toThrow('The subscription auth key should be at least 16 bytes long, not 5.');
    const offCurve = Buffer.alloc(65, 7);
    offCurve[0] = 4;
    expect(() => encryptForSubscription(offCurve.toString('base64url'), ua.authText, Buffer.from('x'), using)).toThrow('Public key is not valid for specified curve');
    expect(() => encryptForSubscription(ua.p256dh, ua.authText, Buffer.alloc(MAX_RECORD_PLAINTEXT + 1), using)).toThrow(`A push message holds at most ${MAX_RECORD_PLAINTEXT} bytes, not ${MAX_RECORD_PLAINTEXT + 1}.`);
  });
});
