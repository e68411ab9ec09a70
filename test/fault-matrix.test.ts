/**
 * Every fault a push service can throw at a send ends in bounded time, with the right exit code
 * and counts, and deletes only what 404/410 say is gone. `pushctl send` runs as a subprocess
 * against the stand-in push service (real sockets, VAPID checked, bodies decrypted), with short
 * timeouts set in the installation's config file. Each bound on a send's duration is a multiple of
 * those settings (request deadlines, attempts, retry delays), measured by the send itself
 * (`elapsedMs`), so a slow machine does not change what is asserted.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPushService, type Behaviour, type BehaviourRule, type PushService } from './support/push-service.js';
import { installation, type Installation } from './support/scheduling.js';

/** push.timeoutSeconds, push.maxAttempts and push.retryDelaySeconds for this file. */
const TIMEOUT_MS = 2_000;
const ATTEMPTS = 3;
const RETRY_DELAY_MS = 200;

/** One request deadline. */
const deadlines = (n: number) => n * TIMEOUT_MS;
/** The longest the backoff between `attempts` attempts can add up to (it doubles, jitter only shortens it). */
const backoffs = (attempts = ATTEMPTS) => Array.from({ length: attempts - 1 }, (_, k) => RETRY_DELAY_MS * 2 ** k).reduce((a, b) => a + b, 0);
/** Room for the work around the requests (SQLite, encryption, a busy machine): one and a half deadlines. */
const SLACK = deadlines(1.5);
/** The longest a send may take when each subscriber got `requests` requests: each may use its whole deadline. */
const bound = (requests: number) => deadlines(requests) + backoffs(requests) + SLACK;

/** A stand-in rule for the three subscribers of one send. */
type Rule = Behaviour & { first?: number };

interface Summary {
  id: number;
  status: string;
  counts: { total: number; sent: number; gone: number; failed: number; pending: number };
  elapsedMs: number;
  stoppedReason?: string;
  deferred?: { deliveries: number; dueAt: string };
}

let svc: PushService;
let inst: Installation;

beforeAll(async () => {
  svc = await startPushService();
  inst = await installation(svc, 'pushctl-faults-');
  fs.writeFileSync(
    path.join(inst.dir, 'push.config.json'),
    JSON.stringify({ push: { timeoutSeconds: TIMEOUT_MS / 1000, maxAttempts: ATTEMPTS, retryDelaySeconds: RETRY_DELAY_MS / 1000 } }),
  );
});
afterAll(async () => {
  inst.cleanup();
  await svc.close();
});

/** Three new subscribers, a fault for them, and a send to exactly them. */
async function sendThrough(rules: Rule[], extraArgs: string[] = []) {
  const subs = await inst.subscribe(3);
  const ids = subs.map((s) => s.id);
  for (const rule of rules) svc.behave({ ...rule, subscriptions: ids } satisfies BehaviourRule);
  const result = await inst.cli(['send', ...subs.flatMap((s) => ['--subscription', s.endpoint]), '--title', 'fault', '--json', ...extraArgs]);
  let summary: Summary;
  try {
    summary = JSON.parse(result.stdout) as Summary;
  } catch {
    throw new Error(`send printed no summary (exit ${result.code}): ${result.stderr}`);
  }
  const stored = inst.query<{ n: number }>(
    `SELECT count(*) AS n FROM subscriptions WHERE endpoint IN (${subs.map(() => '?').join(', ')})`,
    ...subs.map((s) => s.endpoint),
  )[0]!.n;
  const requests = ids.map((id) => svc.answers.filter((a) => a.subscriptionId === id).length);
  const deliveries = inst.query<{ state: string; error: string | null; next_attempt_at: number | null }>(
    'SELECT state, error, next_attempt_at FROM deliveries WHERE notification_id = ?',
    summary.id,
  );
  return { code: result.code, stderr: result.stderr, summary, pruned: subs.length - stored, requests, deliveries };
}

interface Fault {
  name: string;
  rules: Rule[];
  exit: number;
  status: string;
  counts: { sent: number; gone: number; failed: number; pending: number };
  /** Subscriptions deleted from the store: only ever for 404/410. */
  pruned: number;
  /** Requests each subscriber got; the send's duration is bounded by bound(requests). */
  requests: number;
  /** Every failed delivery's recorded reason. */
  error?: RegExp;
}

const allFailed = { sent: 0, gone: 0, failed: 3, pending: 0 };
const allSent = { sent: 3, gone: 0, failed: 0, pending: 0 };
const absurd = /^expired: push service asked to wait at least 30 d, TTL is 24 h \(429 Too Many Requests/;

const FAULTS: Fault[] = [
  { name: 'answers 201', rules: [], exit: 0, status: 'sent', counts: allSent, pruned: 0, requests: 1},
  { name: '201, then a body that trickles a byte at a time', rules: [{ status: 201, body: { trickleMs: TIMEOUT_MS / 10 } }], exit: 0, status: 'sent', counts: allSent, pruned: 0, requests: 1},
  { name: '201, then a body that never ends', rules: [{ status: 201, body: { endless: true } }], exit: 0, status: 'sent', counts: allSent, pruned: 0, requests: 1},
  { name: '400, then a body that trickles', rules: [{ status: 400, body: { trickleMs: TIMEOUT_MS / 10 } }], exit: 1, status: 'failed', counts: allFailed, pruned: 0, requests: 1, error: /^400 Bad Request: \.+$/ },
  { name: '400, then a body that never ends', rules: [{ status: 400, body: { endless: true } }], exit: 1, status: 'failed', counts: allFailed, pruned: 0, requests: 1, error: /^400 Bad Request: x{512}$/ },
  { name: 'never answers', rules: [{ stall: true }], exit: 1, status: 'failed', counts: allFailed, pruned: 0, requests: ATTEMPTS, error: /^response timeout: no answer within 2 s$/ },
  { name: 'resets every connection', rules: [{ reset: true }], exit: 1, status: 'failed', counts: allFailed, pruned: 0, requests: ATTEMPTS},
  { name: 'resets once, then answers', rules: [{ reset: true, first: 3 }], exit: 0, status: 'sent', counts: allSent, pruned: 0, requests: 2},
  { name: '500 every time', rules: [{ status: 500 }], exit: 1, status: 'failed', counts: allFailed, pruned: 0, requests: ATTEMPTS, error: /^500 Internal Server Error/ },
  { name: '404', rules: [{ status: 404 }], exit: 0, status: 'sent', counts: { sent: 0, gone: 3, failed: 0, pending: 0 }, pruned: 3, requests: 1},
  { name: '410', rules: [{ status: 410 }], exit: 0, status: 'sent', counts: { sent: 0, gone: 3, failed: 0, pending: 0 }, pruned: 3, requests: 1},
  { name: '413', rules: [{ status: 413 }], exit: 1, status: 'failed', counts: allFailed, pruned: 0, requests: 1},
  { name: '403', rules: [{ status: 403 }], exit: 1, status: 'failed', counts: allFailed, pruned: 0, requests: 1},
  { name: '429, Retry-After: 99999 (27.8 h, past the 24 h TTL)', rules: [{ status: 429, retryAfter: '99999' }], exit: 1, status: 'failed', counts: allFailed, pruned: 0, requests: 1, error: /^expired: push service asked to wait 27\.8 h, TTL is 24 h \(429 Too Many Requests/ },
  { name: '429, Retry-After: 99999999999999999', rules: [{ status: 429, retryAfter: '99999999999999999' }], exit: 1, status: 'failed', counts: allFailed, pruned: 0, requests: 1, error: absurd },
  { name: '429, Retry-After: 400 nines', rules: [{ status: 429, retryAfter: '9'.repeat(400) }], exit: 1, status: 'failed', counts: allFailed, pruned: 0, requests: 1, error: absurd },
  { name: '503, Retry-After: a date in year 9999', rules: [{ status: 503, retryAfter: 'Fri, 31 Dec 9999 23:59:59 GMT' }], exit: 1, status: 'failed', counts: allFailed, pruned: 0, requests: 1, error: /^expired: push service asked to wait at least 30 d, TTL is 24 h \(503 Service Unavailable/ },
  { name: '429, Retry-After unreadable (-1), twice, then 201', rules: [{ status: 429, retryAfter: '-1', first: 6 }], exit: 0, status: 'sent', counts: allSent, pruned: 0, requests: 3},
];

describe(`a send against a misbehaving push service (3 subscribers, timeout ${TIMEOUT_MS / 1000} s, ${ATTEMPTS} attempts, retry delay ${RETRY_DELAY_MS / 1000} s)`, () => {
  for (const fault of FAULTS) {
    it(`${fault.name}: exit ${fault.exit}, ${fault.status}, ${fault.pruned} pruned, within ${bound(fault.requests) / 1000} s`, async () => {
      svc.clearBehaviour();
      const run = await sendThrough(fault.rules);
      expect(run.code, run.stderr).toBe(fault.exit);
      expect(run.summary.status).toBe(fault.status);
      expect(run.summary.counts).toMatchObject(fault.counts);
      expect(run.pruned).toBe(fault.pruned);
      expect(run.requests).toEqual([fault.requests, fault.requests, fault.requests]);
      // No delivery is left with a retry time: everything finished in this run.
      expect(run.deliveries.map((d) => d.next_attempt_at)).toEqual([null, null, null]);
      if (fault.error) {
        for (const d of run.deliveries) expect(d.error).toMatch(fault.error);
      }
      expect(run.summary.elapsedMs).toBeLessThan(bound(fault.requests));
      console.log(`[measure] ${fault.name}: ${run.summary.elapsedMs} ms (bound ${bound(fault.requests)} ms)`);
    });
  }
});

describe('retries run on each delivery\'s own clock', () => {
  it('a retry waits for its own backoff, not for a slow request to another subscriber', async () => {
    svc.clearBehaviour();
    const subs = await inst.subscribe(3);
    const [slow, ...failing] = subs;
    svc.behave({ stall: true, first: 1, subscriptions: [slow!.id] });
    svc.behave({ status: 500, first: 2 * failing.length, subscriptions: failing.map((s) => s.id) });
    const result = await inst.cli(['send', ...subs.flatMap((s) => ['--subscription', s.endpoint]), '--title', 'clock', '--json']);
    expect(result.code, result.stderr).toBe(0);
    const summary = JSON.parse(result.stdout) as Summary;
    expect(summary.counts).toMatchObject({ sent: 3, failed: 0, pending: 0 });
    for (const sub of failing) {
      const at = svc.answers.filter((a) => a.subscriptionId === sub.id).map((a) => a.at);
      expect(at).toHaveLength(3);
      // Backoff k is at most RETRY_DELAY * 2^(k-1); half a deadline is room for the work in between.
      // Waiting for the stalled request would cost a whole deadline.
      expect(at[1]! - at[0]!).toBeLessThan(RETRY_DELAY_MS + deadlines(0.5));
      expect(at[2]! - at[1]!).toBeLessThan(2 * RETRY_DELAY_MS + deadlines(0.5));
    }
    expect(summary.elapsedMs).toBeLessThan(bound(1) + backoffs());
  });
});

describe('a Retry-After within the TTL defers the deliveries to a later run', () => {
  it('send, dispatch and resume report them and when they come due, and exit 1 until a run sends them', async () => {
    svc.clearBehaviour();
    const before = Date.now();
    const run = await sendThrough([{ status: 429, retryAfter: '300', first: 3 }]);
    expect(run.code, run.stderr).toBe(1);
    expect(run.summary).toMatchObject({ status: 'sending', counts: { total: 3, sent: 0, failed: 0, pending: 3 }, deferred: { deliveries: 3 } });
    const dueAt = Date.parse(run.summary.deferred!.dueAt);
    expect(dueAt).toBeGreaterThanOrEqual(before + 300_000);
    expect(dueAt).toBeLessThanOrEqual(Date.now() + 300_000);
    expect(run.summary.stoppedReason).toMatch(/3 deliveries are deferred.*first is due at/);
    const id = run.summary.id;
    const requests = svc.requestCount;

    const dispatch = await inst.cli(['dispatch', '--json']);
    expect(dispatch.code, dispatch.stderr).toBe(1);
    expect(JSON.parse(dispatch.stdout)).toMatchObject({ delivered: [], deferred: [{ id, deliveries: 3, dueAt: run.summary.deferred!.dueAt }] });
    const human = await inst.cli(['dispatch', '--quiet']);
    expect(human.code).toBe(1);
    expect(human.stdout).toContain(`3 deliveries deferred (notification ${id}), the first due ${run.summary.deferred!.dueAt}`);

    const resume = await inst.cli(['notifications', 'resume', String(id), '--json']);
    expect(resume.code, resume.stderr).toBe(1);
    expect(JSON.parse(resume.stdout)).toMatchObject({ status: 'sending', counts: { pending: 3 }, deferred: { deliveries: 3, dueAt: run.summary.deferred!.dueAt } });
    expect(svc.requestCount).toBe(requests); // nothing was due, nothing was sent

    // Once the retry time has come, the next run sends them and all is well.
    const later = { PUSHCTL_NOW: new Date(dueAt + 1_000).toISOString() };
    const due = await inst.cli(['dispatch', '--json'], later);
    expect(due.code, due.stderr).toBe(0);
    expect(JSON.parse(due.stdout)).toMatchObject({ delivered: [{ id, status: 'sent', counts: { sent: 3, pending: 0 } }], deferred: [] });
  });
});

describe('a deferred retry reached only after the TTL has run out', () => {
  it('is not sent: a late run marks it failed as expired, says why, and exits 1', async () => {
    svc.clearBehaviour();
    // Retry-After 300 s fits a 10-minute TTL, so the deliveries are deferred, not expired at once.
    const run = await sendThrough([{ status: 429, retryAfter: '300', first: 3 }], ['--ttl', '10m']);
    expect(run.code, run.stderr).toBe(1);
    expect(run.summary).toMatchObject({ counts: { total: 3, pending: 3 }, deferred: { deliveries: 3 } });
    const id = run.summary.id;
    const [started] = inst.query<{ started_at: number }>('SELECT started_at FROM notifications WHERE id = ?', id);
    const requests = svc.requestCount;

    // The cron job did not run until 11.7 minutes after the send started: past the TTL.
    const late = { PUSHCTL_NOW: new Date(started!.started_at + 700_000).toISOString() };
    const dispatch = await inst.cli(['dispatch', '--json'], late);
    expect(dispatch.code, dispatch.stderr).toBe(1);
    expect(JSON.parse(dispatch.stdout)).toMatchObject({ delivered: [{ id, status: 'failed', counts: { failed: 3, sent: 0, pending: 0 } }], deferred: [] });
    expect(svc.requestCount).toBe(requests); // nothing reached the push service
    const deliveries = inst.query<{ state: string; error: string }>('SELECT state, error FROM deliveries WHERE notification_id = ?', id);
    expect(deliveries).toHaveLength(3);
    for (const d of deliveries) {
      expect(d.state).toBe('failed');
      expect(d.error).toBe('expired: TTL is 10 min and 11.7 min have passed since the send started; this retry came too late');
    }
    // Expired is not gone: the subscribers stay.
    const stored = inst.query<{ n: number }>('SELECT count(*) AS n FROM subscriptions')[0]!.n;
    expect(stored).toBeGreaterThanOrEqual(3);
  });
});
