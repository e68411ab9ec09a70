/**
 * The push-service stand-in can fail: each rule it claims to check is broken on purpose here and
 * must be refused, next to a control request that is accepted. Requests are hand-built (JWTs
 * signed here with node:crypto, bodies encrypted by web-push), so the checks do not lean on the
 * sender under test. web-push's own sendNotification is accepted too (the benchmark relies on it).
 */
import crypto from 'node:crypto';
import https from 'node:https';
import webpush from 'web-push';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPair } from '../src/core/vapid-keys.js';
import { importPrivateKey, signJwt } from '../src/push/vapid.js';
import { startPushService, verifyVapidRequest, type PushService, type ServiceSubscription } from './support/push-service.js';

const vapid = { ...generateKeyPair(), subject: 'mailto:ops@example.com' };
const privateKey = importPrivateKey(vapid);

let push: PushService;
let sub: ServiceSubscription;
beforeAll(async () => {
  push = await startPushService();
  sub = push.createSubscription(vapid.publicKey);
});
afterAll(() => push.close());

const hour = 3600;
const nowSeconds = () => Math.floor(Date.now() / 1000);

function jwt(claims: Partial<{ aud: string; exp: number; sub: string }> = {}, key = privateKey): string {
  return signJwt({ aud: push.origin, exp: nowSeconds() + 12 * hour, sub: 'mailto:ops@example.com', ...claims }, key);
}

function encrypted(payload: string | Buffer, subscription = sub): Buffer {
  const details = webpush.generateRequestDetails(subscription, payload, { vapidDetails: null as unknown as undefined, TTL: 60 });
  return details.body;
}

async function post(options: { authorization?: string; headers?: Record<string, string>; body?: Buffer; endpoint?: string } = {}) {
  const headers: Record<string, string> = {
    ttl: '60',
    'content-encoding': 'aes128gcm',
    'content-type': 'application/octet-stream',
    authorization: options.authorization ?? `vapid t=${jwt()}, k=${vapid.publicKey}`,
    ...options.headers,
  };
  for (const [name, value] of Object.entries(headers)) if (value === '') delete headers[name];
  const response = await request(options.endpoint ?? sub.endpoint, { method: 'POST', headers, body: options.body ?? encrypted('hello') });
  return { status: response.statusCode, text: await response.body.text() };
}

describe('the stand-in accepts a correct request', () => {
  it('201, and records the decrypted payload', async () => {
    const before = push.received.length;
    const answer = await post({ body: encrypted('control') });
    expect(answer.status).toBe(201);
    expect(push.received.slice(before).map((r) => r.payload)).toEqual(['control']);
  });

  it("accepts web-push's own sendNotification over TLS", async () => {
    const secure = await startPushService({ tls: true });
    try {
      const s = secure.createSubscription(vapid.publicKey);
      const agent = new https.Agent({ keepAlive: true, ca: secure.ca });
      const result = await webpush.sendNotification(s, 'from web-push', { vapidDetails: vapid, TTL: 60, agent });
      agent.destroy();
      expect(result.statusCode).toBe(201);
      expect(secure.received[0]!.payload).toBe('from web-push');
    } finally {
      await secure.close();
    }
  });
});

describe('the stand-in refuses', () => {
  const cases: Array<[string, () => Parameters<typeof post>[0], number, RegExp]> = [
    ['no Authorization', () => ({ headers: { authorization: '' } }), 401, /no Authorization/],
    ['another scheme', () => ({ authorization: `WebPush ${jwt()}` }), 401, /not "vapid"/],
    ['a bad signature (signed by another key, k claims ours)', () => ({ authorization: `vapid t=${jwt({}, importPrivateKey(generateKeyPair()))}, k=${vapid.publicKey}` }), 401, /signature/],
    ['a tampered claim', () => {
      const [h, , s] = jwt().split('.');
      const forged = Buffer.from(JSON.stringify({ aud: push.origin, exp: nowSeconds() + 20 * hour, sub: 'mailto:x@example.com' })).toString('base64url');
      return { authorization: `vapid t=${h}.${forged}.${s}, k=${vapid.publicKey}` };
    }, 401, /signature/],
    ['the wrong aud', () => ({ authorization: `vapid t=${jwt({ aud: 'https://fcm.googleapis.com' })}, k=${vapid.publicKey}` }), 401, /aud/],
    ['an aud with a path', () => ({ authorization: `vapid t=${jwt({ aud: `${push.origin}/push` })}, k=${vapid.publicKey}` }), 401, /aud/],
    ['an expired JWT', () => ({ authorization: `vapid t=${jwt({ exp: nowSeconds() - 10 })}, k=${vapid.publicKey}` }), 401, /expired/],
    ['exp more than 24 h away', () => ({ authorization: `vapid t=${jwt({ exp: nowSeconds() + 24 * hour + 120 })}, k=${vapid.publicKey}` }), 401, /24 hours/],
    ['a localhost http sub', () => ({ authorization: `vapid t=${jwt({ sub: 'http://localhost' })}, k=${vapid.publicKey}` }), 401, /sub/],
    ['k that is not the subscription key', () => {
      const other = { ...generateKeyPair(), subject: vapid.subject };
      return { authorization: `vapid t=${jwt({}, importPrivateKey(other))}, k=${other.publicKey}` };
    }, 403, /applicationServerKey/],
    ['a missing TTL', () => ({ headers: { ttl: '' } }), 400, /TTL/],
    ['a negative TTL', () => ({ headers: { ttl: '-1' } }), 400, /TTL/],
    ['Content-Encoding aesgcm', () => ({ headers: { 'content-encoding': 'aesgcm' } }), 415, /aes128gcm/],
    ['a body over 4096 bytes', () => ({ body: Buffer.concat([encrypted('x'), Buffer.alloc(4096)]) }), 413, /4096/],
    ['a body that does not decrypt (one bit flipped)', () => {
      const body = encrypted('flip me');
      body[body.length - 20]! ^= 1;
      return { body };
    }, 400, /decrypt/],
    ['a body encrypted for another subscription', () => ({ body: encrypted('not yours', push.createSubscription(vapid.publicKey)) }), 400, /decrypt/],
    ['an unknown endpoint', () => ({ endpoint: `${push.origin}/push/nobody` }), 404, /no such subscription/],
  ];

  for (const [name, build, status, reason] of cases) {
    it(name, async () => {
      const before = push.received.length;
      const answer = await post(build());
      expect(answer.status).toBe(status);
      expect(answer.text).toMatch(reason);
      expect(push.received.length).toBe(before);
      expect(push.answers.at(-1)).toMatchObject({ status });
    });
  }
});

describe('verifyVapidRequest on its own', () => {
  const endpoint = 'https://updates.push.example/wpush/v2/abc';
  const origin = 'https://updates.push.example';
  const header = (claims: Partial<{ aud: string; exp: number; sub: string }>) => ({
    authorization: `vapid t=${signJwt({ aud: origin, exp: nowSeconds() + hour, sub: 'https://example.com/contact', ...claims }, privateKey)}, k=${vapid.publicKey}`,
  });

  it('accepts a good header and returns its claims', () => {
    const verdict = verifyVapidRequest(header({}), endpoint, vapid.publicKey);
    expect(verdict).toMatchObject({ ok: true, claims: { aud: origin, sub: 'https://example.com/contact' } });
  });

  it('judges exp against the clock it is given', () => {
    const h = header({ exp: nowSeconds() + hour });
    expect(verifyVapidRequest(h, endpoint, vapid.publicKey, Date.now() + 2 * hour * 1000)).toMatchObject({ ok: false, status: 401 });
    expect(verifyVapidRequest(h, endpoint, vapid.publicKey, Date.now() - 24 * hour * 1000)).toMatchObject({ ok: false, reason: /24 hours/ });
  });

  it('refuses a key other than the applicationServerKey with 403', () => {
    const other = crypto.createECDH('prime256v1');
    other.generateKeys();
    expect(verifyVapidRequest(header({}), endpoint, other.getPublicKey().toString('base64url'))).toMatchObject({ ok: false, status: 403 });
  });
});

describe('behaviour rules', () => {
  it('answers the first N requests as told, then normally', async () => {
    push.behave({ status: 500, first: 2 });
    expect((await post()).status).toBe(500);
    expect((await post()).status).toBe(500);
    expect((await post()).status).toBe(201);
    push.clearBehaviour();
  });

  it('429 carries Retry-After', async () => {
    push.behave({ status: 429, retryAfter: '30', first: 1 });
    const response = await request(sub.endpoint, { method: 'POST', headers: { ttl: '60' }, body: 'x' });
    await response.body.dump();
    expect(response.statusCode).toBe(429);
    expect(response.headers['retry-after']).toBe('30');
  });
});
