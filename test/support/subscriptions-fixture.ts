/** Browser-like PushSubscription JSON for tests: a real P-256 point and a random auth secret. */
import crypto from 'node:crypto';

export function fakeSubscription(endpoint = `https://fcm.googleapis.com/fcm/send/${crypto.randomBytes(12).toString('base64url')}`) {
  const ecdh = crypto.createECDH('prime256v1');
  ecdh.generateKeys();
  return {
    endpoint,
    expirationTime: null,
    keys: { p256dh: ecdh.getPublicKey().toString('base64url'), auth: crypto.randomBytes(16).toString('base64url') },
  };
}
