/**
 * The wire (src/push) against the push-service stand-in over real sockets: what arrives decrypts
 * to what was sent, VAPID verifies and is signed once per origin and key, headers arrive, every
 * kind of answer maps to the right outcome, stalls time out, and http and https both work.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPair } from '../src/core/vapid-keys.js';
import { assertPayloadFits } from '../src/core/message.js';
import { parseRetryAfter, RETRY_AFTER_CAP_MS } from '../src/push/classify.js';
import { createPipelineSender } from '../src/push/pipeline.js';
import { createPushSender } from '../src/push/sender.js';
import { MAX_PLAINTEXT_BYTES, type PushTarget, type VapidCredentials } from '../src/push/types.js';
import { createVapidSigner } from '../src/push/vapid.js';
import { ROOT } from './support/cli.js';
import { waitUntil } from './support/wait.js';
import { startPushService, testCertificate, verifyVapidRequest, type PushService, type ServiceSubscription } from './support/push-service.js';

const vapid: VapidCredentials = { ...generateKeyPair(), subject: 'mailto:ops@example.com' };
const options = { ttl: 3600 };

function target(subscription: ServiceSubscription): PushTarget {
  return { endpoint: subscription.endpoint, p256dh: subscription.keys.p256dh, auth: subscription.keys.auth };
}

const toClose: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  await Promise.all(toClose.splice(0).map((c) => c.close()));
});

async function service(opts: Parameters<typeof startPushService>[0] = {}): Promise<PushService> {
  const s = await startPushService(opts);
  toClose.push(s);
  return s;
}

function sender(opts: Partial<Parameters<typeof createPushSender>[0]> = {}) {
  const s = createPushSender({ concurrency: 4, ...opts });
  toClose.push(s);
  return s;
}

describe('delivery over http', () => {
  it('delivers a payload that decrypts to the input, with verified VAPID and the requested headers', async () => {
    const push = await service();
    const sub = push.createSubscription(vapid.publicKey);
    const payload = Buffer.from(JSON.stringify({ title: 'Hello', body: 'Grüße ✓' }));
    const outcome = await sender().send(target(sub), payload, { ttl: 600, urgency: 'high', topic: 'news-42' }, vapid);

    expect(outcome).toEqual({ kind: 'delivered', status: 201 });
    expect(push.received).toHaveLength(1);
    expect(push.received[0]!.httpVersion).toBe('1.1');
    const got = push.received[0]!;
    expect(got.subscriptionId).toBe(sub.id);
    expect(got.payload).toBe(payload.toString('utf8'));
    expect(got.headers).toMatchObject({ ttl: '600', urgency: 'high', topic: 'news-42', contentEncoding: 'aes128gcm' });
    expect(got.claims.aud).toBe(push.origin);
    expect(got.claims.sub).toBe(vapid.subject);
    // exp is about 12 h ahead: well inside the 24 h push services allow.
    const hoursAhead = (got.claims.exp * 1000 - Date.now()) / 3_600_000;
    expect(hoursAhead).toBeGreaterThan(11);
    expect(hoursAhead).toBeLessThanOrEqual(12);
    // The standalone verifier (shared with the Firefox stand-in) agrees.
    expect(verifyVapidRequest({ authorization: got.headers.authorization }, sub.endpoint, vapid.publicKey).ok).toBe(true);
  });

  it('encrypts on worker threads once they are up, and on the calling thread with none', async () => {
    const push = await service();
    const sub = push.createSubscription(vapid.publicKey);
    const threaded = sender({ encryptionThreads: 2 });
    // The first messages go out while the threads start; keep sending until they take over.
    for (let i = 0; i < 500 && threaded.encryptedOffThread < 5; i++) {
      expect((await threaded.send(target(sub), Buffer.from(`message ${i}`), options, vapid)).kind).toBe('delivered');
    }
    expect(threaded.encryptedOffThread).toBe(5);
    expect(push.received.map((r) => r.payload)).toEqual(push.received.map((_, i) => `message ${i}`));
    // A key web-push refuses is a failed outcome from a thread too.
    expect((await threaded.send({ ...target(sub), p256dh: 'AAAA' }, Buffer.from('x'), options, vapid)).kind).toBe('failed');

    const inline = sender({ encryptionThreads: 0 });
    expect((await inline.send(target(sub), Buffer.from('inline'), options, vapid)).kind).toBe('delivered');
    expect(inline.encryptedOffThread).toBe(0);
    expect(push.received.at(-1)!.payload).toBe('inline');
  });

  it('a send announced as small stays on the calling thread; a large one starts the threads at once', async () => {
    const push = await service();
    const sub = push.createSubscription(vapid.publicKey);
    const s = sender({ encryptionThreads: 1, threadsFromRequests: 1000 });
    s.expect!(999);
    for (let i = 0; i < 20; i++) expect((await s.send(target(sub), Buffer.from(`small ${i}`), options, vapid)).kind).toBe('delivered');
    expect(s.encryptedOffThread).toBe(0);
    // The same sender, told of a long send (a dispatcher's next notification), starts its thread.
    s.expect!(1000);
    for (let i = 0; i < 500 && s.encryptedOffThread < 3; i++) {
      expect((await s.send(target(sub), Buffer.from(`large ${i}`), options, vapid)).kind).toBe('delivered');
    }
    expect(s.encryptedOffThread).toBe(3);
    // Once started, the threads stay for smaller sends too.
    s.expect!(1);
    expect((await s.send(target(sub), Buffer.from('after'), options, vapid)).kind).toBe('delivered');
    expect(s.encryptedOffThread).toBe(4);
    expect(push.received.at(-1)!.payload).toBe('after');
  });

  it('sends Urgency normal and no Topic when none are given', async () => {
    const push = await service();
    const sub = push.createSubscription(vapid.publicKey);
    expect((await sender().send(target(sub), Buffer.from('x'), options, vapid)).kind).toBe('delivered');
    expect(push.received[0]!.headers).toMatchObject({ ttl: '3600', urgency: 'normal', topic: undefined });
  });

  it('carries the largest payload that fits (3993 bytes in a 4096-byte body) and refuses one byte more without sending', async () => {
    const push = await service();
    const sub = push.createSubscription(vapid.publicKey);
    const s = sender();
    const largest = Buffer.alloc(MAX_PLAINTEXT_BYTES, 'a');
    expect((await s.send(target(sub), largest, options, vapid)).kind).toBe('delivered');
    expect(push.received[0]!.bodyBytes).toBe(4096);
    expect(push.received[0]!.payload).toBe(largest.toString());

    const tooBig = await s.send(target(sub), Buffer.alloc(MAX_PLAINTEXT_BYTES + 1, 'a'), options, vapid);
    expect(tooBig.kind).toBe('too-large');
    expect(tooBig.message).toMatch(/3994 bytes/);
    expect(push.requestCount).toBe(1);
    // The same rule for text, before anything is stored: UTF-8 bytes, not characters (core/message.ts over limits.ts).
    expect(() => assertPayloadFits('é'.repeat(2000))).toThrow(/4000 bytes.*3993/);
  });

  it('signs one JWT per origin and key, and reuses it across requests', async () => {
    const one = await service();
    const two = await service();
    const otherKey: VapidCredentials = { ...generateKeyPair(), subject: vapid.subject };
    const s = sender();
    const subs = one.createSubscriptions(5, vapid.publicKey);
    await Promise.all(subs.map((sub) => s.send(target(sub), Buffer.from('a'), options, vapid)));
    expect(s.jwtSigned).toBe(1);
    expect(new Set(one.received.map((r) => r.headers.authorization)).size).toBe(1);

    const onTwo = two.createSubscription(vapid.publicKey);
    expect((await s.send(target(onTwo), Buffer.from('b'), options, vapid)).kind).toBe('delivered');
    expect(two.received[0]!.claims.aud).toBe(two.origin);
    expect(two.received[0]!.headers.authorization).not.toBe(one.received[0]!.headers.authorization);

    // A subscription made under another key is signed with that key.
    const underOther = one.createSubscription(otherKey.publicKey);
    expect((await s.send(target(underOther), Buffer.from('c'), options, otherKey)).kind).toBe('delivered');
    expect(one.received.at(-1)!.headers.authorization).toContain(`k=${otherKey.publicKey}`);
    expect(s.jwtSigned).toBe(3);
  });

  it('keeps at most `concurrency` connections per origin and reuses them', async () => {
    const push = await service();
    const s = sender({ concurrency: 3 });
    const subs = push.createSubscriptions(30, vapid.publicKey, { shareKeys: true });
    const outcomes = await Promise.all(subs.map((sub) => s.send(target(sub), Buffer.from('hi'), options, vapid)));
    expect(outcomes.every((o) => o.kind === 'delivered')).toBe(true);
    expect(push.connections).toBeLessThanOrEqual(3);
    expect(push.peakInFlight).toBeLessThanOrEqual(3);
    expect(push.received).toHaveLength(30);
  });
});

describe('what answers mean', () => {
  let push: PushService;
  let sub: ServiceSubscription;
  beforeAll(async () => {
    push = await startPushService();
    sub = push.createSubscription(vapid.publicKey);
  });
  afterAll(() => push.close());
  afterEach(() => push.clearBehaviour());

  const cases = [
    { status: 410, kind: 'gone' },
    { status: 404, kind: 'gone' },
    { status: 413, kind: 'too-large' },
    { status: 500, kind: 'retry' },
    { status: 503, kind: 'retry' },
    { status: 400, kind: 'rejected' },
    { status: 401, kind: 'rejected' },
    { status: 403, kind: 'rejected' },
  ] as const;
  for (const { status, kind } of cases) {
    it(`${status} -> ${kind}`, async () => {
      push.behave({ status, first: 1, body: `reason for ${status}` });
      const outcome = await sender().send(target(sub), Buffer.from('x'), options, vapid);
      expect(outcome.kind).toBe(kind);
      expect(outcome.status).toBe(status);
      expect(outcome.message).toContain(`reason for ${status}`);
    });
  }

  it('429 with Retry-After in seconds', async () => {
    push.behave({ status: 429, retryAfter: '7', first: 1 });
    const outcome = await sender().send(target(sub), Buffer.from('x'), options, vapid);
    expect(outcome).toMatchObject({ kind: 'retry', status: 429, retryAfterMs: 7000 });
  });

  it('503 with Retry-After as an HTTP date', async () => {
    const at = new Date(Date.now() + 120_000);
    push.behave({ status: 503, retryAfter: at.toUTCString(), first: 1 });
    const outcome = await sender().send(target(sub), Buffer.from('x'), options, vapid);
    expect(outcome.kind).toBe('retry');
    // The date has second precision and the request took some time.
    expect(outcome.retryAfterMs).toBeGreaterThan(100_000);
    expect(outcome.retryAfterMs).toBeLessThanOrEqual(120_000);
  });

  it('a subscription the service forgot is gone (410)', async () => {
    const doomed = push.createSubscription(vapid.publicKey);
    push.removeSubscription(doomed.id);
    expect(await sender().send(target(doomed), Buffer.from('x'), options, vapid)).toMatchObject({ kind: 'gone', status: 410 });
  });

  it('the rule hits only the chosen subscriptions', async () => {
    const other = push.createSubscription(vapid.publicKey);
    push.behave({ status: 410, subscriptions: [other.id] });
    const s = sender();
    expect((await s.send(target(sub), Buffer.from('x'), options, vapid)).kind).toBe('delivered');
    expect((await s.send(target(other), Buffer.from('x'), options, vapid)).kind).toBe('gone');
  });

  it('a stalled request times out as retry, and the connection is not reused for the next one', async () => {
    push.behave({ stall: true, first: 1 });
    const s = sender({ requestTimeoutMs: 300, concurrency: 1 });
    const stalled = await s.send(target(sub), Buffer.from('x'), options, vapid);
    expect(stalled).toMatchObject({ kind: 'retry', message: 'response timeout: no answer within 0.3 s' });
    expect(stalled.status).toBeUndefined();
    expect((await s.send(target(sub), Buffer.from('x'), options, vapid)).kind).toBe('delivered');
  });

  it('a VAPID key that is not the subscription key is rejected (403), not gone', async () => {
    const stranger: VapidCredentials = { ...generateKeyPair(), subject: vapid.subject };
    const outcome = await sender().send(target(sub), Buffer.from('x'), options, stranger);
    expect(outcome).toMatchObject({ kind: 'rejected', status: 403 });
    expect(outcome.message).toMatch(/applicationServerKey/);
  });

  describe('every request ends by its deadline, whatever the body does', () => {
    /** Sends once and says how long the answer took, in multiples of the request deadline. */
    async function timed(opts: Partial<Parameters<typeof createPushSender>[0]>) {
      const s = sender({ concurrency: 1, ...opts });
      const started = Date.now();
      const outcome = await s.send(target(sub), Buffer.from('x'), options, vapid);
      return { outcome, deadlines: (Date.now() - started) / (opts.requestTimeoutMs ?? 30_000), s };
    }

    it('a 201 whose body trickles a byte at a time is delivered at once, and the next request still goes through', async () => {
      push.behave({ status: 201, body: { trickleMs: 20 }, first: 1 });
      const { outcome, deadlines, s } = await timed({ requestTimeoutMs: 20_000 });
      expect(outcome).toEqual({ kind: 'delivered', status: 201 });
      expect(deadlines).toBeLessThan(0.5);
      expect((await s.send(target(sub), Buffer.from('y'), options, vapid)).kind).toBe('delivered');
      expect(push.received.at(-1)!.payload).toBe('y');
    });

    it('a 201 whose body never comes, or never ends, is delivered at once', async () => {
      push.behave({ status: 201, body: { trickleMs: 3_600_000 }, first: 1 });
      push.behave({ status: 201, body: { endless: true }, first: 1 });
      const silent = await timed({ requestTimeoutMs: 20_000 });
      expect(silent.outcome).toEqual({ kind: 'delivered', status: 201 });
      expect(silent.deadlines).toBeLessThan(0.5);
      const endless = await timed({ requestTimeoutMs: 20_000 });
      expect(endless.outcome).toEqual({ kind: 'delivered', status: 201 });
      expect(endless.deadlines).toBeLessThan(0.5);
    });

    it('a 400 whose body trickles ends at the request deadline with the status and what arrived', async () => {
      push.behave({ status: 400, body: { trickleMs: 20 }, first: 1 });
      const { outcome, deadlines } = await timed({ requestTimeoutMs: 1_000 });
      expect(outcome).toMatchObject({ kind: 'rejected', status: 400 });
      expect(outcome.message).toMatch(/^400 Bad Request: \.+$/);
      expect(deadlines).toBeLessThan(3);
    });

    it('a 400 with an endless body keeps only the excerpt and does not wait for the rest', async () => {
      push.behave({ status: 400, body: { endless: true }, first: 1 });
      const { outcome, deadlines, s } = await timed({ requestTimeoutMs: 20_000 });
      expect(outcome).toMatchObject({ kind: 'rejected', status: 400 });
      expect(outcome.message).toBe(`400 Bad Request: ${'x'.repeat(512)}`);
      expect(deadlines).toBeLessThan(0.5);
      expect((await s.send(target(sub), Buffer.from('after'), options, vapid)).kind).toBe('delivered');
    });

    it('a service that never answers is a retry after one deadline', async () => {
      push.behave({ stall: true, first: 1 });
      const { outcome, deadlines } = await timed({ requestTimeoutMs: 500 });
      expect(outcome).toMatchObject({ kind: 'retry', message: 'response timeout: no answer within 0.5 s' });
      expect(deadlines).toBeLessThan(3);
    });

    it('a connection reset before the answer is a retry', async () => {
      push.behave({ reset: true, first: 1 });
      const { outcome, s } = await timed({ requestTimeoutMs: 20_000 });
      expect(outcome.kind).toBe('retry');
      expect(outcome.status).toBeUndefined();
      expect(outcome.message).toMatch(/socket|ECONNRESET|closed/i);
      expect((await s.send(target(sub), Buffer.from('again'), options, vapid)).kind).toBe('delivered');
    });
  });
});

describe('network failures and bad input', () => {
  it('a refused connection is retry', async () => {
    const push = await startPushService();
    const sub = push.createSubscription(vapid.publicKey);
    await push.close();
    const outcome = await sender({ connectTimeoutMs: 1000 }).send(target(sub), Buffer.from('x'), options, vapid);
    expect(outcome.kind).toBe('retry');
    expect(outcome.message).toMatch(/ECONNREFUSED/);
  });

  it('a broken subscription key or endpoint is failed, never thrown', async () => {
    const push = await service();
    const sub = push.createSubscription(vapid.publicKey);
    const s = sender();
    expect((await s.send({ ...target(sub), p256dh: 'AAAA' }, Buffer.from('x'), options, vapid)).kind).toBe('failed');
    expect((await s.send({ ...target(sub), endpoint: 'not a url' }, Buffer.from('x'), options, vapid)).kind).toBe('failed');
    expect((await s.send({ ...target(sub), endpoint: 'ftp://example.com/x' }, Buffer.from('x'), options, vapid)).kind).toBe('failed');
    expect(push.requestCount).toBe(0);
  });

  it('a VAPID private key that cannot sign is rejected (a key problem), and nothing is sent', async () => {
    const push = await service();
    const sub = push.createSubscription(vapid.publicKey);
    const s = sender();
    const invalid = await s.send(target(sub), Buffer.from('x'), options, { ...vapid, privateKey: Buffer.alloc(32).toString('base64url') });
    expect(invalid.kind).toBe('rejected');
    expect(invalid.message).toMatch(/cannot sign the VAPID JWT.*not a valid P-256 private key/);
    const mismatched = await s.send(target(sub), Buffer.from('x'), options, { ...vapid, privateKey: generateKeyPair().privateKey });
    expect(mismatched.kind).toBe('rejected');
    expect(mismatched.message).toMatch(/does not belong to the public key/);
    expect(push.requestCount).toBe(0);
    // The right key still works with the same sender: nothing wrong was cached.
    expect((await s.send(target(sub), Buffer.from('x'), options, vapid)).kind).toBe('delivered');
  });

  it('asks the endpoint check before each request and sends nothing it refuses', async () => {
    const push = await service();
    const [allowed, refused] = push.createSubscriptions(2, vapid.publicKey);
    const s = sender({ endpointRefusal: (endpoint) => (endpoint === refused!.endpoint ? 'origin no longer allowed' : undefined) });
    expect((await s.send(target(allowed!), Buffer.from('x'), options, vapid)).kind).toBe('delivered');
    expect(await s.send(target(refused!), Buffer.from('x'), options, vapid)).toEqual({ kind: 'failed', message: 'not sent: origin no longer allowed' });
    expect(push.requestCount).toBe(1);
  });
});

describe('delivery over https', () => {
  it('delivers when given the service CA', async () => {
    const push = await service({ tls: true });
    expect(push.origin).toMatch(/^https:/);
    const sub = push.createSubscription(vapid.publicKey);
    const outcome = await sender({ ca: push.ca }).send(target(sub), Buffer.from('over tls'), options, vapid);
    expect(outcome.kind).toBe('delivered');
    expect(push.received[0]!.payload).toBe('over tls');
    expect(push.received[0]!.claims.aud).toBe(push.origin);
  });

  it('speaks HTTP/2 to a push service that offers it, answers included', async () => {
    const push = await service({ tls: true, http2: true });
    const subs = push.createSubscriptions(10, vapid.publicKey);
    const s = sender({ ca: push.ca, http2: true, concurrency: 4 });
    const outcomes = await Promise.all(subs.map((sub, i) => s.send(target(sub), Buffer.from(`h2 ${i}`), { ttl: 60, topic: 'h2' }, vapid)));
    expect(outcomes.every((o) => o.kind === 'delivered')).toBe(true);
    expect(push.received.map((r) => r.payload).sort()).toEqual(subs.map((_, i) => `h2 ${i}`).sort());
    expect(push.received[0]!.headers).toMatchObject({ ttl: '60', topic: 'h2', contentEncoding: 'aes128gcm' });
    expect(new Set(push.received.map((r) => r.httpVersion))).toEqual(new Set(['2.0']));
    push.behave({ status: 429, retryAfter: '3', first: 1 });
    expect(await s.send(target(subs[0]!), Buffer.from('x'), options, vapid)).toMatchObject({ kind: 'retry', status: 429, retryAfterMs: 3000 });
  });

  it('refuses an untrusted certificate as failed, naming the fix', async () => {
    const push = await service({ tls: true });
    const sub = push.createSubscription(vapid.publicKey);
    const outcome = await sender().send(target(sub), Buffer.from('x'), options, vapid);
    expect(outcome.kind).toBe('failed');
    expect(outcome.message).toMatch(/NODE_EXTRA_CA_CERTS/);
    expect(push.received).toHaveLength(0);
  });

  it('trusts a CA given through NODE_EXTRA_CA_CERTS (the built sender, in a child process)', async () => {
    const built = path.join(ROOT, 'dist/push/sender.js');
    if (!fs.existsSync(built)) throw new Error('run npm run build first: dist/push/sender.js is missing');
    const push = await service({ tls: true });
    const sub = push.createSubscription(vapid.publicKey);
    const script = `
      import { createPushSender } from ${JSON.stringify(built)};
      const s = createPushSender({ concurrency: 1 });
      const outcome = await s.send(${JSON.stringify(target(sub))}, Buffer.from('via env'), { ttl: 60 }, ${JSON.stringify(vapid)});
      await s.close();
      process.stdout.write(JSON.stringify(outcome));`;
    const { code, stdout, stderr } = await runModuleScript(script, { NODE_EXTRA_CA_CERTS: testCertificate().certFile });
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toEqual({ kind: 'delivered', status: 201 });
    expect(push.received[0]!.payload).toBe('via env');
  });
});

describe('connections opened ahead (preconnect)', () => {
  /** A failure here means the connections never opened: no need to wait two minutes to say so. */
  const CEILING_MS = 30_000;

  it('opens each push service its share of the connections before any request, and the first requests take them', async () => {
    const [a, b] = [await service({ tls: true }), await service({ tls: true })];
    const subsA = a.createSubscriptions(6, vapid.publicKey, { shareKeys: true });
    const subsB = b.createSubscriptions(2, vapid.publicKey, { shareKeys: true });
    const s = sender({ ca: a.ca, concurrency: 4 });
    // 6 of 8 recipients at A, 2 at B, 4 in flight: 3 connections to A and 1 to B (never more than recipients, at least 1).
    s.preconnect([...subsA, ...subsB].map((sub) => sub.endpoint).concat('not a url', 'mailto:x@example.com'));
    await waitUntil('3 connections at A and 1 at B', () => (a.connections === 3 && b.connections === 1 ? true : undefined), CEILING_MS, 10);
    expect(a.requestCount + b.requestCount).toBe(0);
    expect(s.openedAhead).toBe(4);
    const outcomes = await Promise.all([...subsA.slice(0, 3), subsB[0]!].map((sub, i) => s.send(target(sub), Buffer.from(`ahead ${i}`), options, vapid)));
    expect(outcomes.every((o) => o.kind === 'delivered')).toBe(true);
    // The requests went over the connections opened ahead: none was added.
    expect([a.connections, b.connections]).toEqual([3, 1]);
    expect(a.received.map((r) => r.payload).sort()).toEqual(['ahead 0', 'ahead 1', 'ahead 2']);
    // An origin already in use is left alone.
    s.preconnect(subsA.map((sub) => sub.endpoint));
    expect(s.openedAhead).toBe(4);
  });

  it('opens none where the configuration refuses to send; over HTTP/2 too', async () => {
    const [a, b] = [await service({ tls: true, http2: true }), await service({ tls: true })];
    const subsA = a.createSubscriptions(8, vapid.publicKey, { shareKeys: true });
    const subsB = b.createSubscriptions(8, vapid.publicKey, { shareKeys: true });
    const s = sender({ ca: a.ca, http2: true, concurrency: 4, endpointRefusal: (endpoint) => (endpoint.startsWith(b.origin) ? 'origin not allowed' : undefined) });
    s.preconnect([...subsA, ...subsB].map((sub) => sub.endpoint));
    // All 4 in flight go to A: B is refused, so it has no share.
    await waitUntil('4 connections at A', () => (a.connections === 4 ? true : undefined), CEILING_MS, 10);
    expect(s.openedAhead).toBe(4);
    expect(b.connections).toBe(0);
    const outcomes = await Promise.all(subsA.map((sub) => s.send(target(sub), Buffer.from('h2'), options, vapid)));
    expect(outcomes.every((o) => o.kind === 'delivered')).toBe(true);
    expect(a.connections).toBe(4);
    expect(new Set(a.received.map((r) => r.httpVersion))).toEqual(new Set(['2.0']));
  });

  it('replaces a connection the push service closed while it waited, and reports one that could not open as a request would', async () => {
    const push = await service({ tls: true });
    const subs = push.createSubscriptions(2, vapid.publicKey, { shareKeys: true });
    const s = sender({ ca: push.ca, concurrency: 2 });
    s.preconnect(subs.map((sub) => sub.endpoint));
    await waitUntil('2 connections', () => (push.openConnections === 2 ? true : undefined), CEILING_MS, 10);
    // An idle timeout at the push service: both are closed before any request.
    await push.endConnections();
    const outcomes = await Promise.all(subs.map((sub) => s.send(target(sub), Buffer.from('after close'), options, vapid)));
    expect(outcomes).toEqual([
      { kind: 'delivered', status: 201 },
      { kind: 'delivered', status: 201 },
    ]);
    expect(push.connections).toBe(4);

    // Nothing listens at this port: the connection opened ahead fails, and the request says why.
    const closed = await service({ tls: true });
    const sub = closed.createSubscription(vapid.publicKey);
    await closed.close();
    const t = sender({ ca: closed.ca, concurrency: 1 });
    t.preconnect([sub.endpoint]);
    expect(await t.send(target(sub), Buffer.from('x'), options, vapid)).toMatchObject({ kind: 'retry', message: expect.stringMatching(/ECONNREFUSED/) });
  });

  it('closes connections no request took when the sender closes', async () => {
    const push = await service({ tls: true });
    const subs = push.createSubscriptions(3, vapid.publicKey, { shareKeys: true });
    const s = createPushSender({ ca: push.ca, concurrency: 3 });
    s.preconnect(subs.map((sub) => sub.endpoint));
    await waitUntil('3 connections', () => (push.openConnections === 3 ? true : undefined), CEILING_MS, 10);
    await s.close();
    await waitUntil('no connection left open', () => (push.openConnections === 0 ? true : undefined), CEILING_MS, 10);
    expect(push.requestCount).toBe(0);
  });
});

describe('encryption threads', () => {
  it('start in a process run with --input-type=module (the worker must not inherit it)', async () => {
    const built = path.join(ROOT, 'dist/push/sender.js');
    const push = await service({});
    const sub = push.createSubscription(vapid.publicKey);
    const script = `
      import { createPushSender } from ${JSON.stringify(built)};
      const s = createPushSender({ concurrency: 1, encryptionThreads: 1 });
      const send = () => s.send(${JSON.stringify(target(sub))}, Buffer.from('threaded'), { ttl: 60 }, ${JSON.stringify(vapid)});
      await send();
      for (let i = 0; i < 50 && s.encryptedOffThread === 0; i++) {
        await new Promise((r) => setTimeout(r, 100));
        await send();
      }
      await s.close();
      process.stdout.write(String(s.encryptedOffThread));`;
    const { code, stdout, stderr } = await runModuleScript(script);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(Number(stdout)).toBeGreaterThan(0);
  });
});

/** Runs an ES module script in a fresh node process (as a user's program would load the built sender). */
async function runModuleScript(script: string, env: Record<string, string> = {}): Promise<{ code: unknown; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { env: { PATH: process.env.PATH, ...env } });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise((resolve) => child.on('close', resolve));
  return { code, stdout, stderr };
}

describe('pieces', () => {
  it('parses Retry-After as seconds or an HTTP date', () => {
    const now = Date.parse('2030-01-01T00:00:00Z');
    expect(parseRetryAfter('0', now)).toBe(0);
    expect(parseRetryAfter(' 120 ', now)).toBe(120_000);
    expect(parseRetryAfter('Tue, 01 Jan 2030 00:01:30 GMT', now)).toBe(90_000);
    expect(parseRetryAfter('Mon, 31 Dec 2029 23:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('-5', now)).toBeUndefined();
    expect(parseRetryAfter('1.5', now)).toBeUndefined();
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
  });

  it('keeps an absurd Retry-After finite and capped, never infinite or beyond a timestamp', () => {
    const now = Date.parse('2030-01-01T00:00:00Z');
    expect(parseRetryAfter('99999', now)).toBe(99_999_000); // 27.8 h: below the cap, kept as asked
    for (const absurd of ['99999999999999999', '9'.repeat(400), 'Fri, 31 Dec 9999 23:59:59 GMT', '2592001']) {
      const ms = parseRetryAfter(absurd, now);
      expect(Number.isFinite(ms), absurd).toBe(true);
      expect(ms, absurd).toBe(RETRY_AFTER_CAP_MS);
    }
    expect(RETRY_AFTER_CAP_MS).toBeGreaterThan(2_419_200_000); // longer than the longest TTL
  });

  it('renews the cached VAPID header about an hour before it expires', () => {
    let now = Date.parse('2030-01-01T00:00:00Z');
    const signer = createVapidSigner({ now: () => now });
    const first = signer.authorization('https://push.example', vapid);
    now += 10 * 3_600_000;
    expect(signer.authorization('https://push.example', vapid)).toBe(first);
    expect(signer.signed).toBe(1);
    now += 1 * 3_600_000 + 1000; // 11 h in: within the last hour of the 12 h token
    const renewed = signer.authorization('https://push.example', vapid);
    expect(renewed).not.toBe(first);
    expect(signer.signed).toBe(2);
    const verdict = verifyVapidRequest({ authorization: renewed }, 'https://push.example/x', vapid.publicKey, now);
    expect(verdict.ok && verdict.claims.exp).toBe(now / 1000 + 12 * 3600);
  });
});

describe('send pipelines on worker threads (the built dist/push/pipeline-worker.js)', () => {
  function pipeline(opts: Partial<Parameters<typeof createPipelineSender>[0]> = {}) {
    const s = createPipelineSender({ concurrency: 4, threads: 2, ...opts });
    toClose.push(s);
    return s;
  }

  it('encrypts each recipient its own payload, signs once per origin and key in each thread, and keeps the concurrency bound', async () => {
    const push = await service({ tls: true });
    const subs = push.createSubscriptions(40, vapid.publicKey);
    const s = pipeline({ ca: push.ca, concurrency: 6 });
    const outcomes = await Promise.all(subs.map((sub, i) => s.send(target(sub), Buffer.from(`for ${i}`), { ttl: 60, urgency: 'low', topic: 'pipe' }, vapid)));
    expect(outcomes).toEqual(subs.map(() => ({ kind: 'delivered', status: 201 })));
    expect(push.received.map((r) => [r.subscriptionId, r.payload]).sort()).toEqual(subs.map((sub, i) => [sub.id, `for ${i}`]).sort());
    expect(push.received[0]!.headers).toMatchObject({ ttl: '60', urgency: 'low', topic: 'pipe', contentEncoding: 'aes128gcm' });
    expect(push.peakInFlight).toBeLessThanOrEqual(6);
    expect(s.jwtSigned).toBeGreaterThanOrEqual(1);
    expect(s.jwtSigned).toBeLessThanOrEqual(2);
    expect(new Set(push.received.map((r) => r.claims.aud))).toEqual(new Set([push.origin]));
  });

  it('brings back every kind of answer from the threads: gone, retry with Retry-After, rejected, deadline, refusal', async () => {
    const push = await service();
    const [a, b, c, d, e] = push.createSubscriptions(5, vapid.publicKey);
    const s = pipeline({ concurrency: 1, requestTimeoutMs: 400, endpointRefusal: (endpoint) => (endpoint === e!.endpoint ? 'origin no longer allowed' : undefined) });
    push.behave({ status: 410, subscriptions: [a!.id], first: 1 });
    push.behave({ status: 429, retryAfter: '7', subscriptions: [b!.id], first: 1 });
    push.behave({ status: 403, subscriptions: [c!.id], first: 1 });
    push.behave({ stall: true, subscriptions: [d!.id], first: 1 });
    expect(await s.send(target(a!), Buffer.from('x'), options, vapid)).toMatchObject({ kind: 'gone', status: 410 });
    expect(await s.send(target(b!), Buffer.from('x'), options, vapid)).toMatchObject({ kind: 'retry', status: 429, retryAfterMs: 7000 });
    expect(await s.send(target(c!), Buffer.from('x'), options, vapid)).toMatchObject({ kind: 'rejected', status: 403 });
    expect(await s.send(target(d!), Buffer.from('x'), options, vapid)).toMatchObject({ kind: 'retry', message: 'response timeout: no answer within 0.4 s' });
    expect(await s.send(target(e!), Buffer.from('x'), options, vapid)).toEqual({ kind: 'failed', message: 'not sent: origin no longer allowed' });
    expect(await s.send({ ...target(a!), p256dh: 'AAAA' }, Buffer.from('x'), options, vapid)).toMatchObject({ kind: 'failed' });
    expect((await s.send(target(b!), Buffer.alloc(MAX_PLAINTEXT_BYTES + 1), options, vapid)).kind).toBe('too-large');
    expect(push.requestCount).toBe(4);
  });

  it('opens connections ahead in the threads, and the first requests take them', async () => {
    const push = await service({ tls: true });
    const subs = push.createSubscriptions(12, vapid.publicKey, { shareKeys: true });
    const s = pipeline({ ca: push.ca, concurrency: 3, threads: 1 });
    s.preconnect(subs.map((sub) => sub.endpoint));
    await waitUntil('3 connections', () => (push.connections === 3 ? true : undefined), 30_000, 10);
    expect(push.requestCount).toBe(0);
    const outcomes = await Promise.all(subs.map((sub) => s.send(target(sub), Buffer.from('x'), options, vapid)));
    expect(outcomes.every((o) => o.kind === 'delivered')).toBe(true);
    expect(push.connections).toBe(3);
    expect(s.openedAhead).toBe(3);
  });
});
