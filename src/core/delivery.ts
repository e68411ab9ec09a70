/**
 * Fan-out of one notification: fixes its recipients, sends what is pending with bounded
 * concurrency, claiming the pending deliveries a chunk at a time under a lease so that other
 * processes on any host (`dispatch --watch`) can join the send and take a share (joinSend),
 * retries each delivery on its own clock (a retry goes out when its backoff is over, not after
 * the slowest request of the previous round), and commits every answer to the ledger
 * before its slot starts another request, so a send killed at any moment is resumed by the next
 * owner of the lease and repeats at most the requests that were in flight. A retry that could
 * only happen after the message's TTL has run out is recorded as failed (expired) at once.
 */
import crypto from 'node:crypto';
import os from 'node:os';
import { fail } from '../errors.js';
import { RETRY_AFTER_CAP_MS } from '../push/classify.js';
import type { PushOutcome, PushSender } from '../push/types.js';
import type { DeliveryState, DeliveryUpdate, PendingDelivery } from '../store/store.js';
import type { Context } from './context.js';
import { ClaimedChunks } from './chunk-claims.js';
import { applyFrequencyCaps } from './frequency-cap.js';
import { activeSigningKey, signingKeyById, type SigningKey } from './keys.js';
import { applyQuietHours, deferredDeliveries } from './quiet-hours.js';
import type { NotificationCounts, Target, Urgency } from './notification-spec.js';
import { getNotification, targetQuery, toView, type NotificationView } from './notifications.js';
import { DeliveryPayloads } from './tracking.js';
import { groupCommit } from './write-batch.js';

export const DEFAULT_LEASE_MS = 60_000;
/** 400/401/403 in a row from one push service before the send stops (a key problem, not subscribers). */
export const REJECTION_STREAK_LIMIT = 5;
/** Deliveries claimed at once: a few times the requests in flight, small enough for others to share a send. */
const CHUNK_SIZE = 250;
/** How often a lead with nothing of its own left looks whether the others' chunks are done. */
const SHARED_POLL_MS = 250;
const BACKOFF_CAP_MS = 60_000;
/** A retry due later than this is left to the next run (dispatch or resume), not waited for here. */
export const MAX_WAIT_MS = 120_000;
/** How soon a cancel from another process stops new requests. */
const STATUS_CHECK_MS = 100;

export interface DeliverOptions {
  /** Who holds the lease (see newOwnerId). */
  owner: string;
  concurrency?: number | undefined;
  leaseMs?: number | undefined;
  /** The caller already holds the lease (dispatcher claim, or created with leaseFor). */
  alreadyLeased?: boolean | undefined;
  sender?: PushSender | undefined;
  onProgress?: ((counts: NotificationCounts) => void) | undefined;
  /** Aborting stops after the requests in flight; the notification stays resumable. */
  signal?: AbortSignal | undefined;
}

export interface DeliverySummary extends NotificationView {
  stoppedReason?: string | undefined;
  /** Deliveries left pending because their retry is due later than this run waits; and when the first is due. */
  deferred?: DeferredDeliveries | undefined;
}

/** What one process that joined a send did: its own share, not the notification's counts. */
export interface JoinSummary {
  id: number;
  counts: { sent: number; gone: number; failed: number; retried: number };
  stoppedReason?: string | undefined;
}

export type JoinOptions = Pick<DeliverOptions, 'owner' | 'concurrency' | 'leaseMs' | 'sender' | 'signal'>;

/**
 * Takes a share of a send another process leads: claims chunks of its due deliveries, sends and
 * records them, until nothing is left to claim; leaves fixing recipients, retries due later and
 * the notification's status to the lead (or, if the lead dies, to whoever takes its lease over).
 */
export async function joinSend(ctx: Context, id: number, options: JoinOptions): Promise<JoinSummary> {
  const run = new DeliveryRun(ctx, id, options, options.leaseMs ?? DEFAULT_LEASE_MS, 'join');
  try {
    return await run.join();
  } finally {
    await run.dispose();
  }
}

export interface DeferredDeliveries {
  deliveries: number;
  /** ISO 8601 */
  dueAt: string;
}

export function newOwnerId(): string {
  return `${os.hostname()}:${process.pid}:${crypto.randomBytes(4).toString('hex')}`;
}

export async function deliverNotification(ctx: Context, id: number, options: DeliverOptions): Promise<DeliverySummary> {
  const leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
  const { owner } = options;
  if (!options.alreadyLeased && !(await acquireLease(ctx, id, owner, leaseMs))) {
    const row = await ctx.store.notificationById(id);
    if (!row) throw fail('notification_not_found', `notification ${id} does not exist`, { details: { id } });
    if (row.status !== 'scheduled' && row.status !== 'sending') {
      throw fail('notification_state', `notification ${id} is ${row.status}; nothing to send`, { details: { id, status: row.status } });
    }
    const until = row.lease_expires_at ? new Date(row.lease_expires_at).toISOString() : 'soon';
    throw fail('notification_leased', `notification ${id} is being sent by ${row.lease_owner} (lease until ${until}); try again after that`, { details: { id } });
  }
  const run = new DeliveryRun(ctx, id, options, leaseMs, 'lead');
  try {
    return await run.execute();
  } finally {
    await run.dispose();
  }
}

/**
 * The push sender for this installation. With cores to spare: whole pipelines (encrypt, sign,
 * post) on worker threads, this thread keeping the ledger. On two cores or fewer, this thread
 * posts with encryption shared with a helper thread: measured there (docs/performance.md), it
 * finished 20,000 sends about 1.3x sooner than one pipeline thread, whose main thread sat idle
 * beside it. The wire refuses, at the last moment, any endpoint the configured origin policy no
 * longer allows (defence in depth against stored bad endpoints). `single` (one push) always sends
 * from here; PUSHCTL_SEND_THREADS=N picks N pipeline threads (0: none), a measurement knob.
 */
export async function createSenderFor(ctx: Context, concurrency: number, options: { single?: boolean } = {}): Promise<PushSender> {
  const { endpointPolicyFromConfig, originRefusal } = await import('./endpoint-policy.js');
  const common = {
    concurrency,
    requestTimeoutMs: ctx.config.push.timeoutSeconds * 1000,
    endpointRefusal: originRefusal(endpointPolicyFromConfig(ctx.config)),
  };
  const threads = process.env.PUSHCTL_SEND_THREADS === undefined ? undefined : Number(process.env.PUSHCTL_SEND_THREADS);
  const pipelines = threads === undefined || !Number.isFinite(threads) ? os.availableParallelism() > 2 : threads > 0;
  // One push is not worth a thread's start-up (~100 ms): it goes out from here.
  if (!pipelines || options.single) {
    const { createPushSender } = await import('../push/sender.js');
    return createPushSender(common);
  }
  const { createPipelineSender } = await import('../push/pipeline.js');
  return createPipelineSender({ ...common, threads: threads !== undefined && Number.isFinite(threads) && threads > 0 ? threads : undefined });
}

/** A sender made on first use, so a run that finds nothing to send starts no pools or threads. */
export function lazySender(create: () => Promise<PushSender>): PushSender {
  let real: Promise<PushSender> | undefined;
  return {
    send: async (target, payload, options, vapid) => (await (real ??= create())).send(target, payload, options, vapid),
    close: async () => {
      if (real) await (await real).close();
    },
    // Work is coming: start the real sender now, sized to it.
    expect: (requests) => {
      void (real ??= create()).then((sender) => sender.expect?.(requests));
    },
  };
}

/**
 * Takes the lease when it is free or expired, or when its owner is a process on this host that no
 * longer exists (killed mid-send): then `resume` need not wait for the lease to run out.
 */
export async function acquireLease(ctx: Context, id: number, owner: string, leaseMs: number): Promise<boolean> {
  if (await ctx.store.tryAcquireLease(id, owner, ctx.now(), leaseMs)) return true;
  const holder = await ctx.store.leaseHolder(id);
  if (holder.owner === null || !ownerIsDead(holder.owner) || !(await ctx.store.takeOverLease(id, holder.owner, owner, ctx.now(), leaseMs))) return false;
  // The dead lead's chunks carry its lease's end (an even one; joiners' are odd): due again now,
  // not when that lease would have run out.
  if (holder.expiresAt !== null && holder.expiresAt % 2 === 0) await ctx.store.releaseClaims(id, holder.expiresAt, ctx.now());
  return true;
}

/** Owner ids are host:pid:nonce (newOwnerId); only a process on this host can be checked. */
export function ownerIsDead(owner: string): boolean {
  const [host, pidText] = owner.split(':');
  const pid = Number(pidText);
  if (host !== os.hostname() || !Number.isInteger(pid) || pid <= 0 || pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/** Why a run ends before every recipient has an answer. */
type Stop =
  | { kind: 'failed'; reason: string } // a key problem or a wrong message: status failed
  | { kind: 'deferred'; reason: string } // retries due too late to wait for: stays sending
  | { kind: 'cancelled' }
  | { kind: 'deleted' }
  | { kind: 'interrupted' } // the caller's signal (Ctrl-C)
  | { kind: 'lease-lost' };

class DeliveryRun {
  private readonly keys = new Map<number, SigningKey>();
  private readonly rejectionStreak = new Map<string, number>();
  private readonly counts: NotificationCounts;
  private sender: PushSender | undefined;
  /** Payloads with each recipient's tracking token, issued a page at a time as sweeps read the ledger. */
  private payload: DeliveryPayloads | undefined;
  private ownSender = false;
  private renewTimer: NodeJS.Timeout | undefined;
  /** Why the run stops early, once decided (the first reason wins). */
  private stopped: Stop | undefined;
  /** The notification as it was when the run began: what a summary shows if it is deleted meanwhile. */
  private before: NotificationView | undefined;
  private lastStatusCheck = 0;
  /** The status read in progress, if any (reads run beside the sending, never in its way). */
  private statusCheck: Promise<void> | undefined;
  private readonly write: (update: DeliveryUpdate) => Promise<void>;
  /** When the message's TTL runs out, counted from the send's start: no retry is worth scheduling after it. */
  private expiresAt = Infinity;
  private ttlMs = 0;
  private deferred: DeferredDeliveries | undefined;
  /** Resolves the current pause early: a request finished. */
  private wake: (() => void) | undefined;
  /**
   * A request finished since the last pause began. A request may finish while the loop awaits the
   * store (not in a pause, so `wake` is unset): the next pause must then return at once, or it
   * would wait for a wake-up that already happened.
   */
  private woken = false;
  /** Deliveries claimed and not yet answered (what this process holds of the send). */
  private readonly claims: ClaimedChunks;
  /** This process's own answers (a joiner reports them; the lead's counts come from the ledger). */
  private readonly share = { sent: 0, gone: 0, failed: 0, retried: 0 };

  constructor(
    private readonly ctx: Context,
    private readonly id: number,
    private readonly options: DeliverOptions,
    private readonly leaseMs: number,
    /** The lead holds the notification's lease and finishes it; a joiner only takes chunks. */
    private readonly role: 'lead' | 'join',
  ) {
    // The lead's chunks carry its notification lease's end (renew() moves both together).
    this.claims = new ClaimedChunks(ctx, id, leaseMs, role === 'lead' ? 0 : 1);
    this.write = groupCommit(async (batch: DeliveryUpdate[]) => {
      await ctx.store.recordDeliveries(batch);
      return batch.map(() => ({ ok: true as const, value: undefined }));
    });
    this.counts = { total: 0, sent: 0, gone: 0, failed: 0, pending: 0, capped: 0 };
  }

  async execute(): Promise<DeliverySummary> {
    const { ctx, id } = this;
    const row = (await ctx.store.notificationById(id))!;
    this.before = await toView(ctx, row);
    if (row.status === 'cancelled') return this.finish();
    // Threads start and load while the recipient list is fixed (a long statement on a big audience).
    const starting = this.options.sender ? undefined : this.createSender();
    if (starting) this.sender = await starting;
    await ctx.store.fixRecipients(id, targetQuery(JSON.parse(row.target) as Target), ctx.now());
    await applyFrequencyCaps(ctx, row);
    await applyQuietHours(ctx, row);
    Object.assign(this.counts, await ctx.store.deliveryCounts(id));
    this.options.onProgress?.({ ...this.counts });
    const startedAt = (await ctx.store.notificationById(id))?.started_at ?? ctx.now();
    this.ttlMs = row.ttl * 1000;
    this.expiresAt = startedAt + this.ttlMs;

    // A known lease end before the first claim: the chunks carry it.
    await this.renew();
    this.renewTimer = setInterval(() => void this.renew(), Math.max(Math.floor(this.leaseMs / 3), 50));
    this.renewTimer.unref();

    const payload = await DeliveryPayloads.load(ctx, id, row.payload);
    this.payload = payload;
    const pushOptions = { ttl: row.ttl, urgency: (row.urgency ?? undefined) as Urgency | undefined, topic: row.topic ?? undefined };
    if (this.counts.pending > 0 && !this.shouldStop()) {
      this.sender ??= this.options.sender;
      this.sender?.expect?.(this.counts.pending);
      await this.deliverPending(payload, pushOptions);
    }
    return this.finish();
  }

  /** A joiner's run: the lead has fixed the recipients and begun; this takes chunks until none is left. */
  async join(): Promise<JoinSummary> {
    const { ctx, id } = this;
    const row = await ctx.store.notificationById(id);
    if (!row || row.status !== 'sending' || row.started_at === null) return { id, counts: { ...this.share } };
    this.ttlMs = row.ttl * 1000;
    this.expiresAt = row.started_at + this.ttlMs;
    this.renewTimer = setInterval(() => void this.renew(), Math.max(Math.floor(this.leaseMs / 3), 50));
    this.renewTimer.unref();
    const payload = await DeliveryPayloads.load(ctx, id, row.payload);
    this.payload = payload;
    this.sender = this.options.sender ?? (await this.createSender());
    const pushOptions = { ttl: row.ttl, urgency: (row.urgency ?? undefined) as Urgency | undefined, topic: row.topic ?? undefined };
    await this.deliverPending(payload, pushOptions);
    const stopped = this.stopped;
    const stoppedReason = stopped === undefined ? undefined : 'reason' in stopped ? stopped.reason : stopped.kind;
    return { id, counts: { ...this.share }, stoppedReason };
  }

  async dispose(): Promise<void> {
    if (this.renewTimer) clearInterval(this.renewTimer);
    await this.statusCheck;
    if (this.ownSender && this.sender) void this.sender.close();
  }

  private async createSender(): Promise<PushSender> {
    this.ownSender = true;
    return createSenderFor(this.ctx, this.concurrency);
  }

  private get concurrency(): number {
    return Math.max(1, this.options.concurrency ?? this.ctx.config.push.concurrency);
  }

  /**
   * Keeps up to `concurrency` requests in flight until nothing is pending, or what is left is due
   * later than MAX_WAIT_MS (deferred to the next run). Due deliveries are found by sweeping the
   * ledger in subscription order; a new sweep starts as soon as a retry comes due, so each
   * delivery's retry waits for its own backoff only, never for a whole round of requests.
   */
  private async deliverPending(payload: DeliveryPayloads, pushOptions: PushOptionsOf): Promise<void> {
    const inFlight = new Set<number>();
    let failure: { error: unknown } | undefined;
    let sweep = this.newSweep();
    const start = (d: PendingDelivery) => {
      inFlight.add(d.subscription_id);
      this.deliverOne(d, payload, pushOptions)
        .catch((error: unknown) => {
          failure ??= { error };
        })
        .finally(() => {
          inFlight.delete(d.subscription_id);
          this.woken = true;
          this.wake?.();
        });
    };
    while (!failure) {
      this.checkStatusEvery(STATUS_CHECK_MS);
      if (this.shouldStop()) break;
      let due: PendingDelivery | undefined;
      while (inFlight.size < this.concurrency && !this.shouldStop() && (due = this.takeDue(sweep, inFlight) ?? (await this.nextDue(sweep, inFlight)))) start(due);
      if (this.shouldStop()) break;
      if (inFlight.size >= this.concurrency || !sweep.done) {
        await this.pause(Infinity);
        continue;
      }
      // A joiner's share ends when nothing is left to claim: retries due later are the lead's.
      if (this.role === 'join' && inFlight.size === 0) break;
      const now = this.ctx.now();
      if (inFlight.size > 0) {
        // Requests still out: start a new sweep when a retry recorded since this sweep began comes
        // due (or the lease of a chunk whose worker died runs out).
        const next = await this.ctx.store.earliestRetryAfter(this.id, sweep.startedAt);
        if (next !== null && next <= now) sweep = this.newSweep();
        else await this.pause(next === null ? Infinity : next - now);
        continue;
      }
      const { pending, earliest } = await this.ctx.store.nextRetryAt(this.id);
      if (pending === 0) break;
      const wait = Math.max((earliest ?? 0) - now, 0);
      if (wait > MAX_WAIT_MS) {
        this.deferred = { deliveries: pending, dueAt: new Date(earliest!).toISOString() };
        const why = (await deferredDeliveries(this.ctx, this.id)).count === pending ? 'quiet hours' : 'the push service asked to retry later';
        this.stopped ??= {
          kind: 'deferred',
          reason: `${pending} ${pending === 1 ? 'delivery is' : 'deliveries are'} deferred: ${why}; the first is due at ${this.deferred.dueAt}`,
        };
        break;
      }
      if (wait > 0) {
        // Pending rows may be other workers' chunks in flight: look again soon, and show their progress.
        Object.assign(this.counts, await this.ctx.store.deliveryCounts(this.id));
        this.options.onProgress?.({ ...this.counts });
        await this.pause(Math.min(wait, SHARED_POLL_MS));
      }
      sweep = this.newSweep();
    }
    while (inFlight.size > 0) await this.pause(Infinity);
    // Claimed but never started (a stop, an interrupt): due again now, for the others.
    if (this.claims.size) await this.claims.release().catch(() => undefined);
    if (failure) throw failure.error;
  }

  private newSweep(): Sweep {
    return { startedAt: this.ctx.now(), page: [], index: 0, done: false };
  }

  /** The next due delivery of the page in hand that is not already in flight (no store call: the common case, per message). */
  private takeDue(sweep: Sweep, inFlight: Set<number>): PendingDelivery | undefined {
    while (sweep.index < sweep.page.length) {
      const d = sweep.page[sweep.index++]!;
      if (!inFlight.has(d.subscription_id)) return d;
    }
    return undefined;
  }

  /** The next due pending delivery of this sweep that is not already in flight, claiming chunks as needed. */
  private async nextDue(sweep: Sweep, inFlight: Set<number>): Promise<PendingDelivery | undefined> {
    for (;;) {
      const d = this.takeDue(sweep, inFlight);
      if (d) return d;
      if (sweep.done) return undefined;
      this.checkStatusEvery(STATUS_CHECK_MS);
      // A claimed chunk is leased to this run: no one answers its rows meanwhile, and rows this run
      // answered since are not due again until their retry time (no stale page to skip).
      const page = await this.claims.claim(CHUNK_SIZE);
      if (!page.length) {
        sweep.done = true;
        return undefined;
      }
      await this.payload?.forPage(page.map((p) => p.subscription_id));
      sweep.page = page;
      sweep.index = 0;
    }
  }

  /**
   * Waits up to `ms`, less when a request finishes. A timed wait looks at the status every 250 ms
   * so a cancel ends it; an endless one (requests in flight) ends with the next of them, or after
   * 250 ms at the latest: a request that finished while the caller was awaiting the store woke
   * nobody, and a wait on nothing but a promise would let the process exit (an empty event loop).
   */
  private async pause(ms: number): Promise<void> {
    const timed = Number.isFinite(ms);
    if (this.woken) {
      this.woken = false;
      return;
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, Math.max(0, Math.min(ms, 250)));
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
    this.wake = undefined;
    this.woken = false;
    if (timed && ms >= 250) await this.checkStatus();
  }

  private async deliverOne(d: PendingDelivery, payload: DeliveryPayloads, pushOptions: PushOptionsOf): Promise<void> {
    const now = () => this.ctx.now();
    if (d.endpoint === null || d.p256dh === null || d.auth === null) {
      // Removed (unsubscribed or pruned) since the recipient list was fixed.
      await this.record(d, { kind: 'gone', message: 'subscription removed before delivery' }, now());
      return;
    }
    if (d.expired) {
      // Expired since the list was fixed: the browser dropped it; 'gone' deletes it as a 410 would.
      await this.record(d, { kind: 'gone', message: 'subscription expired (its expirationTime has passed)' }, now());
      return;
    }
    let key: SigningKey;
    try {
      key = await this.keyFor(d.key_id);
    } catch (error) {
      // A configuration problem (say, keys kept in environment variables this process lacks), not
      // this subscriber's: stop with everyone still pending, so a resume finishes once it is fixed.
      this.stop(`cannot sign pushes: ${(error as Error).message}`);
      return;
    }
    let outcome: PushOutcome;
    const started = performance.now();
    try {
      outcome = await this.sender!.send({ endpoint: d.endpoint, p256dh: d.p256dh, auth: d.auth }, await payload.payloadFor(d.subscription_id), pushOptions, key);
    } catch (error) {
      outcome = { kind: 'failed', message: (error as Error).message };
    }
    this.ctx.deliveryObserver?.pushResponse(d.endpoint, outcome.status, (performance.now() - started) / 1000);
    // The origin matters only to the 400/401/403 streak; no URL parse per message otherwise.
    const tracksStreak = outcome.kind === 'rejected' || (outcome.kind === 'delivered' && this.rejectionStreak.size > 0);
    await this.record(d, outcome, now(), tracksStreak ? originOf(d.endpoint) : undefined);
  }

  /**
   * Records one answer. Answers that arrive in the same event-loop turn are committed together,
   * and the worker waits for that commit before it starts another request: what a crash can
   * repeat stays bounded by the requests in flight, without a transaction per message.
   */
  private record(d: PendingDelivery, outcome: PushOutcome, now: number, origin?: string): Promise<void> {
    const attempts = d.attempts + 1;
    let state: DeliveryState;
    let nextAttemptAt: number | null = null;
    let error = outcome.message ?? null;
    switch (outcome.kind) {
      case 'delivered':
        state = 'sent';
        break;
      case 'gone':
        state = 'gone';
        break;
      case 'retry': {
        if (attempts >= this.ctx.config.push.maxAttempts) {
          state = 'failed';
          break;
        }
        // At least 1 ms, so a retry is always later than the sweep that recorded it.
        const wait = Math.max(backoff(attempts, outcome.retryAfterMs, this.ctx.config.push.retryDelaySeconds * 1000), 1);
        if (now + wait > this.expiresAt) {
          // The push service would drop it by then anyway: say so now rather than wait for nothing.
          state = 'failed';
          error = this.expiryReason(wait, outcome, now);
        } else {
          state = 'pending';
          nextAttemptAt = Math.ceil(now + wait); // whole ms: the ledger keeps integers (bigint on PostgreSQL)
        }
        break;
      }
      case 'too-large':
        state = 'failed';
        this.stop(`the push service answered 413 (payload too large) for subscription ${d.subscription_id}; the message is wrong, not the subscribers: shorten it and send again`);
        break;
      case 'rejected':
      default:
        state = 'failed';
        break;
    }
    if (origin) this.trackRejections(origin, outcome);
    this.ctx.deliveryObserver?.deliveryRecorded(state === 'pending' ? 'retried' : state, d.endpoint);
    const committed = this.write({
      notificationId: this.id,
      subscriptionId: d.subscription_id,
      state,
      statusCode: outcome.status ?? null,
      error: state === 'sent' ? null : error,
      nextAttemptAt,
      now,
    });
    return committed.then(() => {
      this.claims.answered(d.subscription_id);
      if (state === 'pending') this.share.retried += 1;
      else this.share[state] += 1;
      if (state !== 'pending') {
        this.counts.pending -= 1;
        this.counts[state] += 1;
        this.options.onProgress?.({ ...this.counts });
      }
    });
  }

  /** Why a retry was given up before it was made: e.g. `expired: push service asked to wait 27.8 h, TTL is 24 h`. */
  private expiryReason(wait: number, outcome: PushOutcome, now: number): string {
    const ttl = describeWait(this.ttlMs);
    const elapsed = now - (this.expiresAt - this.ttlMs);
    const passed = elapsed >= 1000 && elapsed >= this.ttlMs / 100 ? ` and ${describeWait(elapsed)} of it has passed` : '';
    const asked = outcome.retryAfterMs;
    const why =
      asked !== undefined && asked >= wait
        ? `push service asked to wait ${asked >= RETRY_AFTER_CAP_MS ? 'at least ' : ''}${describeWait(asked)}, TTL is ${ttl}${passed}`
        : `the next attempt would be in ${describeWait(wait)}, after the TTL (${ttl}${passed}) runs out`;
    return `expired: ${why}${outcome.message ? ` (${outcome.message})` : ''}`;
  }

  /** 400/401/403 in a row from one push service mean a key problem: stop before touching more subscribers. */
  private trackRejections(origin: string, outcome: PushOutcome): void {
    if (outcome.kind === 'rejected') {
      const streak = (this.rejectionStreak.get(origin) ?? 0) + 1;
      this.rejectionStreak.set(origin, streak);
      if (streak >= REJECTION_STREAK_LIMIT) {
        this.stop(
          `${origin} rejected ${streak} pushes in a row (HTTP ${outcome.status ?? '4xx'}${outcome.message ? `: ${outcome.message}` : ''}). ` +
            'This almost always means the VAPID key does not match the one these subscriptions were made with, or the subject/JWT is refused. ' +
            'Check the active VAPID public key against the applicationServerKey your page uses. No subscriber was deleted; the rest stay pending.',
        );
      }
    } else if (outcome.kind === 'delivered') {
      this.rejectionStreak.set(origin, 0);
    }
  }

  private async keyFor(keyId: number | null): Promise<SigningKey> {
    const cacheKey = keyId ?? 0;
    let key = this.keys.get(cacheKey);
    if (!key) {
      key = keyId === null ? await activeSigningKey(this.ctx) : await signingKeyById(this.ctx, keyId);
      this.keys.set(cacheKey, key);
    }
    return key;
  }

  /** Stops the whole send as failed (a key problem, a wrong message), unless it already stops. */
  private stop(reason: string): void {
    this.stopped ??= { kind: 'failed', reason };
  }

  private shouldStop(): boolean {
    if (!this.stopped && this.options.signal?.aborted) this.stopped = { kind: 'interrupted' };
    return this.stopped !== undefined;
  }

  /** At most one status read per interval: a cancel is seen within it, and costs nothing per message. */
  private checkStatusEvery(intervalMs: number): void {
    const now = Date.now();
    if (this.statusCheck || now - this.lastStatusCheck < intervalMs) return;
    this.lastStatusCheck = now;
    // Beside the sending, not in its way: the answer is seen by the next shouldStop.
    this.statusCheck = this.checkStatus()
      .catch(() => undefined) // an unreachable store shows in the ledger writes; the next check tries again
      .finally(() => (this.statusCheck = undefined));
  }

  /** Picks up a cancel issued by another process (`notifications cancel`). */
  private async checkStatus(): Promise<void> {
    const row = await this.ctx.store.notificationById(this.id);
    if (!row) this.stopped = { kind: 'deleted' };
    else if (row.status === 'cancelled') this.stopped ??= { kind: 'cancelled' };
  }

  private async renew(): Promise<void> {
    try {
      const until = this.claims.leaseEndFrom(this.ctx.now());
      // The lead's notification lease ends when its chunks' leases do (see chunk-claims.ts).
      if (this.role === 'lead' && !(await this.ctx.store.renewLease(this.id, this.options.owner, until - this.leaseMs, this.leaseMs))) {
        this.stopped = { kind: 'lease-lost' };
        return;
      }
      await this.claims.renew(until);
    } catch {
      // The store is unreachable for now: the next renewal (a third of the lease later) tries again.
    }
  }

  private async finish(): Promise<DeliverySummary> {
    const { ctx, id } = this;
    const stopped = this.stopped;
    const row = await ctx.store.notificationById(id);
    if (!row) {
      // Deleted while sending (deleting cancels first): nothing is left to update.
      return { ...this.before!, status: 'cancelled', counts: { ...this.counts }, stoppedReason: 'deleted' };
    }
    // Someone else owns it now; leave their status alone.
    if (stopped?.kind === 'lease-lost') return { ...(await getNotification(ctx, id)), stoppedReason: 'lease lost to another process' };
    const counts = await ctx.store.deliveryCounts(id);
    const now = ctx.now();
    await ctx.store.storeCounts(id, counts);
    let stoppedReason: string | undefined;
    if (row.status === 'cancelled') {
      stoppedReason = 'cancelled';
    } else if (stopped?.kind === 'interrupted') {
      stoppedReason = 'interrupted';
    } else if (stopped?.kind === 'failed') {
      await ctx.store.setStatus(id, 'failed', { error: stopped.reason, finished_at: now });
      stoppedReason = stopped.reason;
    } else if (counts.pending > 0) {
      // Deferred retries: stays 'sending' with the lease released, so dispatch or resume finishes it.
      stoppedReason = stopped?.kind === 'deferred' ? stopped.reason : undefined;
      await ctx.store.setStatus(id, 'sending', { error: stoppedReason ?? null });
    } else {
      const status = counts.failed === 0 ? 'sent' : counts.sent > 0 ? 'partial' : 'failed';
      await ctx.store.setStatus(id, status, { finished_at: now });
      stoppedReason = stopped?.kind === 'deferred' ? stopped.reason : undefined;
    }
    await ctx.store.releaseLease(id, this.options.owner);
    return { ...(await getNotification(ctx, id)), stoppedReason, deferred: this.deferred };
  }
}

type PushOptionsOf = { ttl: number; urgency: Urgency | undefined; topic: string | undefined };

/** One walk over the due pending deliveries, a claimed chunk at a time. */
interface Sweep {
  startedAt: number;
  page: PendingDelivery[];
  index: number;
  done: boolean;
}

/** Exponential backoff with jitter from `baseMs`; a push service's Retry-After wins when it asks for longer. */
export function backoff(attempt: number, retryAfterMs?: number, baseMs = 1_000): number {
  const exp = Math.min(BACKOFF_CAP_MS, baseMs * 2 ** (attempt - 1));
  const jittered = exp / 2 + Math.random() * (exp / 2);
  return Math.max(jittered, retryAfterMs ?? 0);
}

/** A wait or a TTL the way a person reads it: 4 s, 2.5 min, 27.8 h, 30 d. */
export function describeWait(ms: number): string {
  const [value, unit] = ms < 60_000 ? [ms / 1000, 's'] : ms < 3_600_000 ? [ms / 60_000, 'min'] : ms < 48 * 3_600_000 ? [ms / 3_600_000, 'h'] : [ms / 86_400_000, 'd'];
  return `${Number(value.toFixed(1))} ${unit}`;
}

function originOf(endpoint: string): string {
  try {
    return new URL(endpoint).origin;
  } catch {
    return endpoint;
  }
}
