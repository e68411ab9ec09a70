/**
 * `pushctl send` end to end: the CLI as a subprocess, a real SQLite file, and the push-service
 * stand-in over real sockets, which verifies VAPID and decrypts every message.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { BIN, openDb, runCli, runJson, startCli, tempDir } from './support/cli.js';
import { startPushService, type PushService, type ServiceSubscription } from './support/push-service.js';
import { hasTmux, killSession, killTerminals, tmux, waitForScreen } from './support/terminal.js';
import { skipWithout } from './support/commands.js';
import { describeOnSqlite, ON_POSTGRES, routeToBackend } from './support/backend.js';

/** The store setting a shell command in `dir` needs (on PostgreSQL, the database standing for its pushctl.db). */
const storeEnv = (dir: string) => (ON_POSTGRES ? `PUSHCTL_DB='${routeToBackend([], {}, dir).env.PUSHCTL_DB}' ` : '');
import { mountTinyFs, type TinyFs } from './support/tiny-fs.js';

interface Summary {
  id: number;
  status: string;
  counts: { total: number; sent: number; gone: number; failed: number; pending: number; capped: number };
  error: string | null;
  stoppedReason?: string;
}

let svc: PushService;
let dir: string;
let env: Record<string, string>;
let publicKey: string;

beforeAll(async () => {
  svc = await startPushService();
});
afterAll(async () => {
  killTerminals();
  await svc.close();
});

beforeEach(async () => {
  dir = tempDir('pushctl-send-');
  env = { PUSHCTL_ENDPOINT_ORIGINS: svc.origin };
  svc.clearBehaviour();
  svc.resetCounts();
  svc.received.length = 0;
  svc.answers.length = 0;
  const key = await runJson<{ publicKey: string }>(['keys', 'generate', '--subject', 'mailto:ops@example.org'], { cwd: dir, env });
  publicKey = key.publicKey;
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Subscribes `count` browsers at the stand-in and imports them (into categories, when given). */
async function subscribe(count: number, categories: string[] = []): Promise<ServiceSubscription[]> {
  const subs = count > 50 ? svc.createSubscriptions(count, publicKey, { shareKeys: true }) : Array.from({ length: count }, () => svc.createSubscription(publicKey));
  const file = path.join(dir, `subs-${Date.now()}-${Math.random()}.ndjson`);
  fs.writeFileSync(file, subs.map((s) => JSON.stringify({ endpoint: s.endpoint, keys: s.keys })).join('\n') + '\n');
  for (const name of categories) {
    const exists = await runCli(['categories', 'show', name], { cwd: dir, env });
    if (exists.code !== 0) await runJson(['categories', 'add', name], { cwd: dir, env });
  }
  const result = await runCli(['subscriptions', 'import', file, ...categories.flatMap((c) => ['--category', c])], { cwd: dir, env });
  expect(result.code, result.stderr).toBe(0);
  return subs;
}

function storeIds(endpoints: string[]): number[] {
  const db = openDb(path.join(dir, 'pushctl.db'));
  try {
    return endpoints.map((e) => (db.prepare('SELECT id FROM subscriptions WHERE endpoint = ?').get(e) as { id: number }).id);
  } finally {
    db.close();
  }
}

function storeCount(sql: string, ...params: unknown[]): number {
  const db = openDb(path.join(dir, 'pushctl.db'));
  try {
    return (db.prepare(sql).get(...params) as { n: number }).n;
  } finally {
    db.close();
  }
}

async function send(args: string[]): Promise<{ code: number | null; summary: Summary | undefined; stderr: string }> {
  const result = await runCli(['send', ...args, '--json'], { cwd: dir, env });
  let summary: Summary | undefined;
  try {
    summary = JSON.parse(result.stdout) as Summary;
  } catch {
    summary = undefined;
  }
  return { code: result.code, summary, stderr: result.stderr };
}

describe('pushctl send', () => {
  it('delivers the exact payload, encrypted and VAPID-signed, with TTL, Urgency and Topic', async () => {
    const subs = await subscribe(3);
    const { code, summary, stderr } = await send(['--all', '--title', 'Hello ☃', '--body', 'First push', '--url', 'https://example.com/a', '--tag', 'greeting', '--data', '{"orderId":42}', '--ttl', '90m', '--urgency', 'high', '--topic', 'greeting-1']);
    expect(code, stderr).toBe(0);
    expect(summary!.status).toBe('sent');
    expect(summary!.counts).toEqual({ total: 3, sent: 3, gone: 0, failed: 0, pending: 0, capped: 0 });
    expect(svc.received).toHaveLength(3);
    expect(new Set(svc.received.map((r) => r.subscriptionId))).toEqual(new Set(subs.map((s) => s.id)));
    for (const push of svc.received) {
      expect(JSON.parse(push.payload!)).toEqual({ track: expect.stringMatching(/^[A-Za-z0-9_-]{22}$/), title: 'Hello ☃', body: 'First push', url: 'https://example.com/a', tag: 'greeting', data: { orderId: 42 } });
      expect(push.headers).toMatchObject({ ttl: '5400', urgency: 'high', topic: 'greeting-1', contentEncoding: 'aes128gcm' });
      expect(push.claims.aud).toBe(svc.origin);
      expect(push.claims.sub).toBe('mailto:ops@example.org');
    }
    // The ledger says the same as the stand-in.
    expect(storeCount(`SELECT count(*) AS n FROM deliveries WHERE notification_id = ? AND state = 'sent'`, summary!.id)).toBe(3);
  });

  it('--verbose names the encryption in use: the native addon whenever the build made it', async () => {
    await subscribe(1);
    const { code, stderr } = await send(['--all', '--title', 'x', '--verbose']);
    expect(code, stderr).toBe(0);
    // The CLI runs from a bundle in dist/cjs/; the addon is in dist/native/ (CI requires it built: rfc8291.test.ts).
    const built = fs.existsSync(path.join(path.dirname(BIN), '../dist/native/ecdh.node'));
    expect(stderr).toContain(built ? "encryption: the system's libcrypto" : 'encryption: node:crypto');
  });

  it('sends a raw payload from a file unchanged, and sets a per-notification Topic by default', async () => {
    await subscribe(1);
    const payload = '{"type":"sync","items":[1,2,3]}';
    fs.writeFileSync(path.join(dir, 'payload.json'), payload);
    const { code, summary } = await send(['--all', '--payload', '@payload.json']);
    expect(code).toBe(0);
    expect(svc.received[0]!.payload).toBe(payload);
    expect(svc.received[0]!.headers.topic).toBe(`pushctl-${summary!.id}`);
  });

  it('targets categories (one copy for a subscriber in two) and single subscriptions', async () => {
    const news = await subscribe(2, ['news']);
    const both = await subscribe(1, ['news', 'offers']);
    const offers = await subscribe(2, ['offers']);
    await subscribe(2); // in no category
    let result = await send(['--category', 'news', '--category', 'offers', '--title', 'Sale']);
    expect(result.code, result.stderr).toBe(0);
    const ids = svc.received.map((r) => r.subscriptionId).sort();
    expect(ids).toEqual([...news, ...both, ...offers].map((s) => s.id).sort());

    svc.received.length = 0;
    result = await send(['--category', 'offers', '--title', 'Only offers']);
    expect(svc.received.map((r) => r.subscriptionId).sort()).toEqual([...both, ...offers].map((s) => s.id).sort());

    svc.received.length = 0;
    const [id] = storeIds([news[1]!.endpoint]);
    result = await send(['--subscription', String(id), '--title', 'Just you']);
    expect(result.code).toBe(0);
    expect(svc.received.map((r) => r.subscriptionId)).toEqual([news[1]!.id]);

    svc.received.length = 0;
    result = await send(['--subscription', offers[0]!.endpoint, '--title', 'By endpoint']);
    expect(svc.received.map((r) => r.subscriptionId)).toEqual([offers[0]!.id]);

    // An endpoint pasted in another spelling of the same URL finds it, as `subscriptions show` does.
    svc.received.length = 0;
    const pasted = offers[1]!.endpoint.replace(/^http:\/\/127\.0\.0\.1/, 'HTTP://127.0.0.1');
    expect(pasted).not.toBe(offers[1]!.endpoint);
    result = await send(['--subscription', pasted, '--title', 'Pasted']);
    expect(result.code, result.stderr).toBe(0);
    expect(svc.received.map((r) => r.subscriptionId)).toEqual([offers[1]!.id]);
  });

  it('after a key rotation, signs each subscription with the key it was made under', async () => {
    const old = await subscribe(2);
    const rotated = await runJson<{ publicKey: string }>(['keys', 'generate', '--force', '--subject', 'mailto:ops@example.org'], { cwd: dir, env });
    expect(rotated.publicKey).not.toBe(publicKey);
    publicKey = rotated.publicKey;
    const fresh = await subscribe(2);
    const { code, summary, stderr } = await send(['--all', '--title', 'after rotation']);
    expect(code, stderr).toBe(0);
    expect(summary!.counts).toMatchObject({ total: 4, sent: 4, failed: 0 });
    // The stand-in accepts a push only when the JWT verifies under the subscription's own
    // applicationServerKey and `k` names it; check which key signed what, too.
    const keyOf = (id: string) => /k=([A-Za-z0-9_-]+)/.exec(svc.received.find((r) => r.subscriptionId === id)!.headers.authorization!)![1];
    for (const sub of [...old, ...fresh]) expect(keyOf(sub.id)).toBe(sub.applicationServerKey);
    expect(new Set([...old, ...fresh].map((s) => s.applicationServerKey)).size).toBe(2);
  });

  it('stops with everyone pending when the signing key is missing, and resume finishes once it is back', async () => {
    // A private key as Node's getPrivateKey() prints it: one in 256 is 31 bytes (a leading zero
    // dropped), which signs as well; this test once failed on such a key, so it now always uses one.
    let ecdh: crypto.ECDH;
    do {
      ecdh = crypto.createECDH('prime256v1');
      ecdh.generateKeys();
    } while (ecdh.getPrivateKey().length === 32);
    const envKeys = { PUSHCTL_VAPID_PUBLIC_KEY: ecdh.getPublicKey().toString('base64url'), PUSHCTL_VAPID_PRIVATE_KEY: ecdh.getPrivateKey().toString('base64url') };
    publicKey = envKeys.PUSHCTL_VAPID_PUBLIC_KEY;
    env = { ...env, ...envKeys };
    const subs = await subscribe(3);
    // A cron job that does not see the environment the keys live in.
    env = { PUSHCTL_ENDPOINT_ORIGINS: svc.origin };
    const { code, summary } = await send(['--all', '--title', 'needs the key']);
    expect(code).toBe(1);
    expect(summary!.status).toBe('failed');
    expect(summary!.error).toMatch(/PUSHCTL_VAPID_PRIVATE_KEY/);
    expect(summary!.counts).toMatchObject({ total: 3, sent: 0, failed: 0, pending: 3 });
    expect(svc.requestCount).toBe(0);
    env = { ...env, ...envKeys };
    const resumed = await runCli(['notifications', 'resume', String(summary!.id), '--json'], { cwd: dir, env });
    expect(resumed.code, resumed.stderr).toBe(0);
    expect((JSON.parse(resumed.stdout) as Summary).counts).toMatchObject({ sent: 3, pending: 0 });
    expect(new Set(svc.received.map((r) => r.subscriptionId))).toEqual(new Set(subs.map((s) => s.id)));
  });

  // The default design depends on the core count (pipelines only with more than two cores), so
  // both are run here end to end, whatever machine the suite is on.
  it.each([
    ['pipeline threads', '2'],
    ['this thread with an encryption helper', '0'],
  ])('sends through %s: every subscriber once, per-recipient payloads, gone pruned', async (_name, threads) => {
    const subs = await subscribe(120);
    svc.behave({ status: 410, subscriptions: [subs[7]!.id] });
    // PUSHCTL_SEND_THREADS_FROM=0: the helper thread starts for a send this small too.
    const result = await runCli(['send', '--all', '--title', 'Both ways', '--json'], { cwd: dir, env: { ...env, PUSHCTL_SEND_THREADS: threads, PUSHCTL_SEND_THREADS_FROM: '0' } });
    expect(result.code, result.stderr).toBe(0);
    expect((JSON.parse(result.stdout) as Summary).counts).toMatchObject({ total: 120, sent: 119, gone: 1, failed: 0, pending: 0 });
    const delivered = svc.received.map((r) => r.subscriptionId);
    expect(delivered).toHaveLength(119);
    expect(new Set(delivered).size).toBe(119);
    const tokens = new Set(svc.received.map((r) => (JSON.parse(r.payload!) as { track: string }).track));
    expect(tokens.size).toBe(119);
    expect(storeCount('SELECT count(*) AS n FROM subscriptions')).toBe(119);
  });

  // Worker threads refuse some of node's flags (V8 heap and compiler flags apply to a whole
  // process): a send run under one still starts its threads, without them.
  it.each([
    ['pipeline threads', '2'],
    ['this thread with an encryption helper', '0'],
  ])('sends through %s when node runs with a flag worker threads refuse', async (_name, threads) => {
    await subscribe(60);
    const result = await runCli(['send', '--all', '--title', 'Flags', '--json'], {
      cwd: dir,
      env: { ...env, PUSHCTL_SEND_THREADS: threads, PUSHCTL_SEND_THREADS_FROM: '0' },
      nodeArgs: ['--max-semi-space-size=16', '--no-lazy-feedback-allocation'],
    });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toBe('');
    expect((JSON.parse(result.stdout) as Summary).counts).toMatchObject({ total: 60, sent: 60, failed: 0, pending: 0 });
    expect(new Set(svc.received.map((r) => r.subscriptionId)).size).toBe(60);
  });

  it('deletes subscriptions the push service says are gone (410, 404)', async () => {
    const subs = await subscribe(4);
    svc.behave({ status: 410, subscriptions: [subs[0]!.id] });
    svc.behave({ status: 404, subscriptions: [subs[1]!.id] });
    const { code, summary } = await send(['--all', '--title', 'x']);
    expect(code).toBe(0);
    expect(summary!.counts).toMatchObject({ total: 4, sent: 2, gone: 2, failed: 0, pending: 0 });
    expect(storeCount('SELECT count(*) AS n FROM subscriptions')).toBe(2);
    expect(storeCount('SELECT count(*) AS n FROM subscriptions WHERE endpoint IN (?, ?)', subs[0]!.endpoint, subs[1]!.endpoint)).toBe(0);
  });

  it('retries 429 (honouring Retry-After) and 500, then delivers', async () => {
    const subs = await subscribe(3);
    svc.behave({ status: 429, retryAfter: '1', subscriptions: [subs[0]!.id], first: 1 });
    svc.behave({ status: 500, subscriptions: [subs[1]!.id], first: 2 });
    const { code, summary } = await send(['--all', '--title', 'retry me']);
    expect(code).toBe(0);
    expect(summary!.counts).toMatchObject({ sent: 3, failed: 0, pending: 0 });
    const to = (id: string) => svc.answers.filter((a) => a.subscriptionId === id).map((a) => a.status);
    expect(to(subs[0]!.id)).toEqual([429, 201]);
    expect(to(subs[1]!.id)).toEqual([500, 500, 201]);
    const retried = svc.answers.filter((a) => a.subscriptionId === subs[0]!.id);
    expect(retried[1]!.at - retried[0]!.at).toBeGreaterThanOrEqual(1000);
  });

  it('gives up on a delivery that keeps failing after the bounded attempts, and exits 1', async () => {
    const subs = await subscribe(2);
    svc.behave({ status: 503, subscriptions: [subs[0]!.id] });
    const { code, summary } = await send(['--all', '--title', 'x']);
    expect(code).toBe(1);
    expect(summary!.status).toBe('partial');
    expect(summary!.counts).toMatchObject({ sent: 1, failed: 1, pending: 0 });
    expect(svc.answers.filter((a) => a.subscriptionId === subs[0]!.id)).toHaveLength(5);
    expect(storeCount('SELECT count(*) AS n FROM subscriptions')).toBe(2);
  }, 120_000);

  it('stops on 413 and keeps every subscriber', async () => {
    await subscribe(5);
    svc.behave({ status: 413 });
    const { code, summary } = await send(['--all', '--title', 'x', '--concurrency', '1']);
    expect(code).toBe(1);
    expect(summary!.status).toBe('failed');
    expect(summary!.error).toMatch(/413/);
    expect(svc.requestCount).toBe(1);
    expect(storeCount('SELECT count(*) AS n FROM subscriptions')).toBe(5);
  });

  it('stops after a streak of 403s from one push service, deleting nobody', async () => {
    await subscribe(40);
    svc.behave({ status: 403 });
    const { code, summary } = await send(['--all', '--title', 'x', '--concurrency', '2']);
    expect(code).toBe(1);
    expect(summary!.status).toBe('failed');
    expect(summary!.error).toMatch(/VAPID key/);
    expect(svc.requestCount).toBeLessThanOrEqual(5 + 2);
    expect(summary!.counts.pending).toBeGreaterThan(0);
    expect(storeCount('SELECT count(*) AS n FROM subscriptions')).toBe(40);
  });

  it('refuses an oversize payload before any request', async () => {
    await subscribe(2);
    const result = await runCli(['send', '--all', '--title', 't', '--body', 'x'.repeat(4000)], { cwd: dir, env });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/3993 bytes/);
    expect(result.stderr).not.toMatch(/\n\s+at /);
    expect(svc.requestCount).toBe(0);
    expect(storeCount('SELECT count(*) AS n FROM notifications')).toBe(0);
  });

  it('never posts to an endpoint whose origin the configuration no longer allows', async () => {
    await subscribe(3);
    const result = await runCli(['send', '--all', '--title', 'x', '--json'], { cwd: dir, env: { PUSHCTL_ENDPOINT_ORIGINS: 'http://127.0.0.1:9' } });
    expect(result.code).toBe(1);
    const summary = JSON.parse(result.stdout) as Summary;
    expect(summary.counts).toMatchObject({ total: 3, sent: 0, failed: 3 });
    expect(svc.requestCount).toBe(0);
    expect(storeCount('SELECT count(*) AS n FROM subscriptions')).toBe(3);
    const reasons = openDb(path.join(dir, 'pushctl.db')).prepare('SELECT DISTINCT error FROM deliveries').all() as { error: string }[];
    expect(reasons.map((r) => r.error).join()).toMatch(/not sent: 127.0.0.1 is a loopback/);
  });

  it('dry run counts recipients and sends nothing', async () => {
    await subscribe(3, ['news']);
    await subscribe(1);
    const result = await runJson<{ recipients: number; payloadBytes: number; dryRun: boolean }>(['send', '--category', 'news', '--title', 'T', '--dry-run'], { cwd: dir, env });
    expect(result).toMatchObject({ dryRun: true, recipients: 3, payloadBytes: Buffer.byteLength('{"title":"T"}') });
    expect(svc.requestCount).toBe(0);
    expect(storeCount('SELECT count(*) AS n FROM notifications')).toBe(0);
  });

  it('rejects bad flags with exit 2 and a message naming the flag', async () => {
    await subscribe(1);
    const cases: [string[], RegExp][] = [
      [['--title', 'x'], /--all, --category/],
      [['--all', '--category', 'news', '--title', 'x'], /not several/],
      [['--all'], /title or a body/],
      [['--all', '--title', 'x', '--ttl', 'soon'], /--ttl/],
      [['--all', '--title', 'x', '--urgency', 'urgent'], /urgency/],
      [['--all', '--title', 'x', '--data', '{oops'], /--data/],
      [['--all', '--title', 'x', '--topic', 'has spaces'], /topic/],
      [['--category', 'nope', '--title', 'x'], /"nope" does not exist/],
      [['--subscription', '999', '--title', 'x'], /"999" does not exist/],
      [['--all', '--title', 'x', '--concurrency', '0'], /--concurrency/],
    ];
    for (const [args, message] of cases) {
      const result = await runCli(['send', ...args], { cwd: dir, env });
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.stderr).toMatch(message);
    }
    expect(svc.requestCount).toBe(0);
  });

  it('finishes a send killed with SIGKILL: everyone gets it, repeats at most the requests in flight', async () => {
    const subs = await subscribe(2000);
    const concurrency = 8;
    const { child, done } = startCli(['send', '--all', '--title', 'crash test', '--concurrency', String(concurrency)], { cwd: dir, env });
    while (svc.requestCount < 400) await new Promise((r) => setTimeout(r, 5));
    child.kill('SIGKILL');
    await done;
    const delivered = new Set(svc.received.map((r) => r.subscriptionId));
    expect(delivered.size).toBeLessThan(2000);
    const id = storeCount('SELECT max(id) AS n FROM notifications');
    const resumed = await runCli(['notifications', 'resume', String(id), '--json'], { cwd: dir, env });
    expect(resumed.code, resumed.stderr).toBe(0);
    const summary = JSON.parse(resumed.stdout) as Summary;
    expect(summary.status).toBe('sent');
    expect(summary.counts).toMatchObject({ total: 2000, sent: 2000, pending: 0 });
    const perSubscriber = new Map<string, number>();
    for (const push of svc.received) perSubscriber.set(push.subscriptionId, (perSubscriber.get(push.subscriptionId) ?? 0) + 1);
    expect(new Set(perSubscriber.keys())).toEqual(new Set(subs.map((s) => s.id)));
    const duplicates = svc.received.length - perSubscriber.size;
    expect(duplicates).toBeLessThanOrEqual(concurrency);
  }, 120_000);

  describe.skipIf(skipWithout(hasTmux))('in a terminal (tmux)', () => {
    function start(name: string): string {
      const session = `${name}-${Date.now()}`;
      tmux('new-session', '-d', '-s', session, '-x', '150', '-y', '30',
        `cd '${dir}' && ${storeEnv(dir)}PUSHCTL_ENDPOINT_ORIGINS='${svc.origin}' NO_COLOR=1 '${process.execPath}' '${BIN}' send --all --title 'Hello there'; echo "EXIT=$?"; sleep 30`);
      return session;
    }

    it('asks before sending to many subscribers: "no" sends and records nothing', async () => {
      await subscribe(12);
      const session = start('decline');
      try {
        await waitForScreen(session, /Send to 12 subscribers\?/);
        tmux('send-keys', '-t', session, 'n', 'Enter');
        const screen = await waitForScreen(session, /EXIT=\d+/);
        expect(screen).toMatch(/nothing sent/);
        expect(screen).toMatch(/EXIT=0/);
      } finally {
        killSession(session);
      }
      expect(svc.requestCount).toBe(0);
      expect(storeCount('SELECT count(*) AS n FROM notifications')).toBe(0);
    });

    it('"yes" sends, and the summary table shows the counts', async () => {
      await subscribe(12);
      const session = start('accept');
      try {
        await waitForScreen(session, /Send to 12 subscribers\?/);
        tmux('send-keys', '-t', session, 'y', 'Enter');
        const screen = await waitForScreen(session, /EXIT=\d+/);
        expect(screen).toMatch(/EXIT=0/);
        expect(screen).toMatch(/│ 1\s+│ sent\s+│ 12\s+│ 12\s+│ 0\s+│ 0\s+│ 0\s+│/);
      } finally {
        killSession(session);
      }
      expect(svc.received).toHaveLength(12);
    });
  });
});

describe('send --subscription-json (a test push to a subscription that is not stored)', () => {
  it('delivers to the given subscription, records the send, and does not add the subscriber', async () => {
    const sub = svc.createSubscription(publicKey);
    const json = JSON.stringify({ endpoint: sub.endpoint, keys: sub.keys });
    const inline = await runCli(['send', '--subscription-json', json, '--json'], { cwd: dir, env });
    expect(inline.code, inline.stderr).toBe(0);
    expect(JSON.parse(inline.stdout)).toMatchObject({ id: expect.any(Number), delivered: true, outcome: 'delivered', status: 201 });
    expect(JSON.parse(svc.received[0]!.payload!)).toEqual({ title: 'Push Test v1' });

    const file = path.join(dir, 'sub.json');
    fs.writeFileSync(file, json);
    const fromFile = await runCli(['send', '--subscription-json', `@${file}`, '--title', 'Hello', '--body', 'from a file'], { cwd: dir, env });
    expect(fromFile.code, fromFile.stderr).toBe(0);
    expect(fromFile.stdout).toMatch(/delivered \(the push service answered 201\); recorded as notification \d+; the subscription is not stored/);
    const fromStdin = await runCli(['send', '--subscription-json', '-', '--payload', '{"kind":"ping"}'], { cwd: dir, env, input: json });
    expect(fromStdin.code, fromStdin.stderr).toBe(0);
    expect(svc.received.map((r) => JSON.parse(r.payload!))).toEqual([{ title: 'Push Test v1' }, { title: 'Hello', body: 'from a file' }, { kind: 'ping' }]);

    expect(storeCount('SELECT count(*) AS n FROM subscriptions')).toBe(0);
    const listed = await runJson<{ status: string; target: unknown; counts: Summary['counts'] }[]>(['notifications', 'list'], { cwd: dir, env });
    expect(listed).toHaveLength(3);
    expect(listed[0]).toMatchObject({ status: 'sent', target: { endpoint: sub.endpoint }, counts: { total: 1, sent: 1, failed: 0 } });
    const human = await runCli(['notifications', 'list'], { cwd: dir, env });
    expect(human.stdout).toContain('unstored');
  });

  it('refuses a bad subscription or a refused endpoint before sending; reports a push service refusal with exit 1', async () => {
    const sub = svc.createSubscription(publicKey);
    const bad: [string, RegExp][] = [
      ['{"endpoint": ', /--subscription-json: not valid JSON/],
      [JSON.stringify({ endpoint: 'https://10.0.0.1/push/x', keys: sub.keys }), /--subscription-json: endpoint: 10\.0\.0\.1 is a private address/],
      [JSON.stringify({ endpoint: sub.endpoint }), /--subscription-json: keys: is missing/],
    ];
    for (const [json, message] of bad) {
      const result = await runCli(['send', '--subscription-json', json], { cwd: dir, env });
      expect(result.code, json).toBe(2);
      expect(result.stderr).toMatch(message);
    }
    const both = await runCli(['send', '--all', '--subscription-json', JSON.stringify({ endpoint: sub.endpoint, keys: sub.keys })], { cwd: dir, env });
    expect(both.code).toBe(2);
    expect(svc.requestCount).toBe(0);
    expect(storeCount('SELECT count(*) AS n FROM notifications')).toBe(0);

    svc.behave({ status: 403, body: 'key mismatch', first: 1 });
    const refused = await runCli(['send', '--subscription-json', JSON.stringify({ endpoint: sub.endpoint, keys: sub.keys }), '--json'], { cwd: dir, env });
    expect(refused.code).toBe(1);
    expect(JSON.parse(refused.stdout)).toMatchObject({ delivered: false, outcome: 'rejected', status: 403, message: expect.stringContaining('the push service answered 403') });
    const [row] = await runJson<{ status: string; error: string }[]>(['notifications', 'list'], { cwd: dir, env });
    expect(row).toMatchObject({ status: 'failed', error: expect.stringContaining('403') });
  });
});

// A SQLite file on a full file system (PostgreSQL's own disk is the server's business).
describeOnSqlite('send on a full disk (a real tmpfs)', () => {
  const tiny = mountTinyFs(1024);
  afterAll(() => {
    if ('dir' in tiny) tiny.unmount();
  });

  it.skipIf('unavailable' in tiny)('stops with a message that says the disk is full and how many deliveries were committed, exit 1', async () => {
    const db = path.join((tiny as TinyFs).dir, 'pushctl.db');
    env = { ...env, PUSHCTL_DB: db };
    publicKey = (await runJson<{ publicKey: string }>(['keys', 'generate', '--subject', 'mailto:ops@example.org'], { cwd: dir, env })).publicKey;
    await subscribe(40);
    // No room even to open the store (its WAL index): SQLite says only "disk I/O error".
    (tiny as TinyFs).fill(0);
    const unopened = await runCli(['send', '--all', '--title', 'Hi'], { cwd: dir, env });
    expect(unopened.code).toBe(1);
    expect(unopened.stderr).toMatch(/^error: database .*pushctl\.db: cannot open: the disk is full \(\d+ KiB free\); free some space/);
    expect(svc.requestCount).toBe(0);
    (tiny as TinyFs).free();
    (tiny as TinyFs).fill(160 * 1024);
    const result = await runCli(['send', '--all', '--title', 'Hi', '--concurrency', '1'], { cwd: dir, env });
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    const match = /^error: the disk is full: notification (\d+) stopped with (\d+) deliver(?:y|ies) committed \((\d+) sent, 0 gone, 0 failed\) and (\d+) pending\. Free some space, then finish it with "pushctl notifications resume \1"/.exec(result.stderr);
    expect(match, result.stderr).not.toBeNull();
    expect(result.stderr).not.toMatch(/internal error|SQLITE|\n\s+at /);
    const [id, committed, sent, pending] = match!.slice(1).map(Number) as [number, number, number, number];
    const ledger = () => {
      const conn = openDb(db);
      try {
        return Object.fromEntries((conn.prepare('SELECT state, count(*) AS n FROM deliveries WHERE notification_id = ? GROUP BY state').all(id) as { state: string; n: number }[]).map((r) => [r.state, r.n]));
      } finally {
        conn.close();
      }
    };
    // What the message says is what the store holds; some answers were committed before the disk filled.
    expect(ledger()).toEqual({ sent, pending });
    expect(committed).toBe(sent);
    expect(sent).toBeGreaterThan(0);
    expect(pending).toBe(40 - sent);
    // Concurrency 1: at most the one request in flight when it stopped went out unrecorded.
    expect(svc.received.length - sent).toBeGreaterThanOrEqual(0);
    expect(svc.received.length - sent).toBeLessThanOrEqual(1);

    (tiny as TinyFs).free();
    const resumed = await runCli(['notifications', 'resume', String(id)], { cwd: dir, env });
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(ledger()).toEqual({ sent: 40 });
    expect(new Set(svc.received.map((r) => r.subscriptionId)).size).toBe(40);
  });
});
