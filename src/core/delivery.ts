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
import type { DeliveryState, DeliveryUpdate, PendingDelivery, TargetQuery } from '../store/store.js';
import type { Context } from './context.js';
import { ClaimedChunks } from './chunk-claims.js';
import { applyFrequencyCaps } from './frequency-cap.js';
import { activeSigningKey, signingKeyById, type SigningKey } from './keys.js';
import { applyQuietHours, deferredDeliveries } from './quiet-hours.js';
import type { NotificationCounts, Target, Urgency } from './notification-spec.js';
import { getNotification, targetQuery, toView, type NotificationView } from './notifications.js';
import { DeliveryPayloads } from './tracking.js';
import { groupCommit } from './write-batch.js';
import { applyLocalTime, localTimeWaits } from './local-time-sends.js';
import { StaleKeyWatch } from './stale-keys.js';
import { pacingOfRow, type Pacing } from './throttle.js';
import type { PacedDelivery } from '../store/store.js';

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
/** How long a dispatcher helps with another process's throttled send before it looks for its own due work again. */
const HELP_FOR_MS = 15_000;
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
  /**
   * Help with a throttled send another process holds: take paced chunks of its due deliveries
   * until none is left to take, without its lease, status or finishing (dispatch does this).
   */
  helper?: boolean | undefined;
  /** A helper stops taking chunks after this long (default 15 s), so its worker gets back to its own due work. */
  helpForMs?: number | undefined;
}

export interface DeliverySummary extends NotificationView {
  stoppedReason?: string | undefined;
  /** Deliveries left pending because their retry is due later than this run waits; and when the first is due. */
  deferred?: DeferredDeliveries | undefined;
  /** Deliveries waiting for their subscribers' local time (--local-time): normal, not a failure; and when the first is due. */
  waiting?: DeferredDeliveries | undefined;
  /** Throttled sends: deliveries this process reached too late for their slot and gave back for a later one. */
  lateGiveBacks?: number | undefined;
  /** A helper's run: how many of the send's deliveries this process sent. */
  helpedSent?: number | undefined;
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
  if (options.helper) {
    const helping = new DeliveryRun(ctx, id, options, leaseMs, 'join');
    try {
      return await helping.help();
    } finally {
      await helping.dispose();
    }
  }
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
 * from here; PUSHCTL_SEND_THREADS=N picks N pipeline threads (0: none), a measurement knob, as is
 * PUSHCTL_SEND_THREADS_FROM=N (the helper starts for sends of N deliveries or more; default 8,000).
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
  if (!pipelines || options.single) {
    const { createPushSender } = await import('../push/sender.js');
    // One push is not worth a thread's start-up (~100 ms): it is encrypted and sent from here
    // (in serve, a thread started and stopped per request otherwise).
    if (options.single) return createPushSender({ ...common, encryptionThreads: 0 });
    const threadsFrom = Number(process.env.PUSHCTL_SEND_THREADS_FROM);
    return createPushSender({ ...common, threadsFromRequests: process.env.PUSHCTL_SEND_THREADS_FROM && Number.isFinite(threadsFrom) ? threadsFrom : undefined });
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
    ready: async () => {
      await (await (real ??= create())).ready?.();
    },
    preconnect: (endpoints, inFlight) => {
      void (real ??= create()).then((sender) => sender.preconnect?.(endpoints, inFlight));
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
  | { kind: 'waiting'; reason: string } // deliveries waiting for their local time (--local-time): stays sending, not an error
  | { kind: 'cancelled' }
  | { kind: 'deleted' }
  | { kind: 'interrupted' } // the caller's signal (Ctrl-C)
  | { kind: 'lease-lost' };

class DeliveryRun {
  private readonly keys = new Map<number, SigningKey>();
  private readonly rejectionStreak = new Map<string, number>();
  private readonly counts: NotificationCounts;
  private sender: PushSender | undefined;
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
    const target = targetQuery(JSON.parse(row.target) as Target);
    if (row.started_at === null) await this.connectAhead(target, pacingOfRow(row));
    await ctx.store.fixRecipients(id, target, ctx.now());
    await applyFrequencyCaps(ctx, row);
    await applyLocalTime(ctx, row);
    await applyQuietHours(ctx, row);
    this.pacing = pacingOfRow(row);
    Object.assign(this.counts, await ctx.store.deliveryCounts(id));
    this.options.onProgress?.({ ...this.counts });
    const startedAt = (await ctx.store.notificationById(id))?.started_at ?? ctx.now();
    this.ttlMs = row.ttl * 1000;
    // A local-time send reaches each zone up to 26 h after it started: count a run's retries from when the run began.
    this.expiresAt = (row.local_time ? Math.max(startedAt, ctx.now()) : startedAt) + this.ttlMs;

    // A known lease end before the first claim: the chunks carry it.
    await this.renew();
    this.renewTimer = setInterval(() => void this.renew(), Math.max(Math.floor(this.leaseMs / 3), 50));
    this.renewTimer.unref();

    const payload = await DeliveryPayloads.load(ctx, id, row.payload);
    const pushOptions = { ttl: row.ttl, urgency: (row.urgency ?? undefined) as Urgency | undefined, topic: row.topic ?? undefined };
    if (this.counts.pending > 0 && !this.shouldStop()) {
      this.sender ??= this.options.sender;
      this.sender?.expect?.(this.counts.pending);
      await this.deliverPending(payload, pushOptions);
    }
    await this.markStaleKeys();
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

  /**
   * Connections to the push services of the send's first recipients open now, while the list is
   * fixed, so the first requests need not wait for TCP and TLS handshakes (a round trip or two
   * each). PUSHCTL_PRECONNECT=0 turns it off (a measurement knob, as in bench:latency).
   */
  private async connectAhead(target: TargetQuery, pacing: Pacing | null): Promise<void> {
    const sender = this.sender ?? this.options.sender;
    if (!sender?.preconnect || process.env.PUSHCTL_PRECONNECT === '0') return;
    // A throttled send has few requests out at once: those a tenth of a second of its rate starts.
    const inFlight = pacing ? Math.min(this.concurrency, Math.ceil(100 / pacing.intervalMs) + 1) : this.concurrency;
    sender.preconnect(await this.ctx.store.recipientEndpoints(target, this.ctx.now(), CHUNK_SIZE), inFlight);
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
    if (this.pacing) return this.deliverPaced(this.pacing, payload, pushOptions);
    const inFlight = new Set<number>();
    let failure: { error: unknown } | undefined;
    let sweep = this.newSweep();
    const start = (d: PendingDelivery) => this.track(inFlight, d.subscription_id, this.deliverOne(d, payload, pushOptions), (error) => (failure ??= { error }));
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
        await this.deferRest(pending, earliest!);
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

  /**
   * What is left is due later than this run waits: deliveries waiting for their local time (all
   * of them: normal, the send waits), or quiet hours and push services' Retry-After (deferred).
   */
  private async deferRest(pending: number, earliest: number): Promise<void> {
    const dueAt = new Date(earliest).toISOString();
    const deliveries = `${pending} ${pending === 1 ? 'delivery' : 'deliveries'}`;
    if ((await localTimeWaits(this.ctx, this.id)).count === pending) {
      this.waiting = { deliveries: pending, dueAt };
      this.stopped ??= { kind: 'waiting', reason: `${deliveries} ${pending === 1 ? 'waits' : 'wait'} for the local time in their zones; the next at ${dueAt}` };
      return;
    }
    this.deferred = { deliveries: pending, dueAt };
    const why = (await deferredDeliveries(this.ctx, this.id)).count === pending ? 'quiet hours' : 'the push service asked to retry later';
    this.stopped ??= { kind: 'deferred', reason: `${deliveries} ${pending === 1 ? 'is' : 'are'} deferred: ${why}; the first is due at ${dueAt}` };
  }

  /** Keeps a delivery in `inFlight` while its work runs, and wakes the loop when it ends. */
  private track(inFlight: Set<number>, subscriptionId: number, work: Promise<unknown>, onError: (error: unknown) => void): void {
    inFlight.add(subscriptionId);
    work.catch(onError).finally(() => {
      inFlight.delete(subscriptionId);
      // A flag as well as the call: the loop may be awaiting the store, not pausing, right now.
      this.woken = true;
      this.wake?.();
    });
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

  /** Sends one delivery and records the answer; with `notAfter` (a throttle slot's limit), returns false without sending when later than that. */
  private async deliverOne(d: PendingDelivery, payload: DeliveryPayloads, pushOptions: PushOptionsOf, notAfter = Infinity): Promise<boolean> {
    const now = () => this.ctx.now();
    if (d.endpoint === null || d.p256dh === null || d.auth === null) {
      // Removed (unsubscribed or pruned) since the recipient list was fixed.
      await this.record(d, { kind: 'gone', message: 'subscription removed before delivery' }, now());
      return true;
    }
    if (d.expired) {
      // Expired since the list was fixed: the browser dropped it; 'gone' deletes it as a 410 would.
      await this.record(d, { kind: 'gone', message: 'subscription expired (its expirationTime has passed)' }, now());
      return true;
    }
    if (d.attempts > 0 && now() > this.expiresAt) {
      // A retry reached only after the TTL ran out (a late or missed dispatch run): the push
      // service would hold the message for a fresh TTL and show stale news; expire it instead.
      await this.record(d, { kind: 'failed', message: this.lateRetryReason(now()) }, now());
      return true;
    }
    let key: SigningKey;
    try {
      key = await this.keyFor(d.key_id);
    } catch (error) {
      // A configuration problem (say, keys kept in environment variables this process lacks), not
      // this subscriber's: stop with everyone still pending, so a resume finishes once it is fixed.
      this.stop(`cannot sign pushes: ${(error as Error).message}`);
      return true;
    }
    const body = await payload.payloadFor(d.subscription_id);
    // A throttled delivery past its slot's limit waits for a later slot; checked here, and again by
    // the sender after encryption, just before the request is written (notAfter, wall clock).
    if (now() > notAfter) return false;
    const options = notAfter === Infinity ? pushOptions : { ...pushOptions, notAfter: Date.now() + (notAfter - now()) };
    let outcome: PushOutcome;
    const started = performance.now();
    try {
      outcome = await this.sender!.send({ endpoint: d.endpoint, p256dh: d.p256dh, auth: d.auth }, body, options, key);
    } catch (error) {
      outcome = { kind: 'failed', message: (error as Error).message };
    }
    if (outcome.kind === 'late') return false;
    this.staleKeys.seen(d.endpoint, d.subscription_id, outcome);
    this.ctx.deliveryObserver?.pushResponse(d.endpoint, outcome.status, (performance.now() - started) / 1000);
    // The origin matters only to the 400/401/403 streak; no URL parse per message otherwise.
    const tracksStreak = outcome.kind === 'rejected' || (outcome.kind === 'delivered' && this.rejectionStreak.size > 0);
    await this.record(d, outcome, now(), tracksStreak ? originOf(d.endpoint) : undefined);
    return true;
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

  /** Why a retry reached after the TTL is not made: e.g. `expired: TTL is 10 min and 11.7 min have passed since the send started; this retry came too late`. */
  private lateRetryReason(now: number): string {
    const elapsed = now - (this.expiresAt - this.ttlMs);
    return `expired: TTL is ${describeWait(this.ttlMs)} and ${describeWait(elapsed)} have passed since the send started; this retry came too late`;
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
      stoppedReason = stopped?.kind === 'deferred' || stopped?.kind === 'waiting' ? stopped.reason : undefined;
      await ctx.store.setStatus(id, 'sending', { error: stoppedReason ?? null });
    } else {
      const status = counts.failed === 0 ? 'sent' : counts.sent > 0 ? 'partial' : 'failed';
      await ctx.store.setStatus(id, status, { finished_at: now });
      stoppedReason = stopped?.kind === 'deferred' ? stopped.reason : undefined;
    }
    await ctx.store.releaseLease(id, this.options.owner);
    return { ...(await getNotification(ctx, id)), stoppedReason, deferred: this.deferred, waiting: this.waiting, ...(this.lateGiveBacks ? { lateGiveBacks: this.lateGiveBacks } : {}) };
  }

  // ---- delivery control (issue 14): throttled sends, helpers, stale keys ----
  /** The send's throttle (--rate), read when the run starts; null: unthrottled. */
  private pacing: Pacing | null = null;
  private waiting: DeferredDeliveries | undefined;
  private readonly staleKeys = new StaleKeyWatch();
  /** Deliveries given back because this process reached their slot too late (a measure of timer lag). */
  private lateGiveBacks = 0;

  /**
   * Throttled sending: claims due deliveries with their start slots (store claimPaced: one pace
   * cursor, whichever process claims), starts each at its slot, and gives back any it reaches
   * too late (see throttle.ts). Waits for retries and others' claims like the unthrottled loop;
   * as a helper, returns when nothing is left to take.
   */
  private async deliverPaced(pacing: Pacing, payload: DeliveryPayloads, pushOptions: PushOptionsOf, helper?: { until: number }): Promise<void> {
    const control = this.ctx.store;
    // The sender is made before any slot is taken, so the first requests leave on time.
    await this.sender?.ready?.();
    const inFlight = new Set<number>();
    let failure: { error: unknown } | undefined;
    let blockedUntil = 0;
    const launch = (d: PacedDelivery) => this.track(inFlight, d.subscription_id, this.startAtSlot(d, pacing, payload, pushOptions), (error) => (failure ??= { error }));
    while (!failure) {
      this.checkStatusEvery(STATUS_CHECK_MS);
      if (this.shouldStop()) break;
      const now = this.ctx.now();
      if (helper && now >= helper.until) break;
      const free = this.concurrency - inFlight.size;
      if (free > 0 && now >= blockedUntil) {
        const claim = { notificationId: this.id, now, intervalMs: pacing.intervalMs, horizonMs: pacing.horizonMs, leaseMs: this.leaseMs, limit: free };
        const { rows, pacedUntil } = await control.claimPaced(claim);
        if (rows.length) {
          for (const d of rows) launch(d);
          continue;
        }
        // Others hold the slots up to the cursor: come back when it is within reach.
        if (pacedUntil > now + pacing.horizonMs) blockedUntil = pacedUntil - pacing.horizonMs;
      }
      if (inFlight.size > 0 || now < blockedUntil) {
        await this.pause(Math.max(1, Math.min(inFlight.size ? 250 : Infinity, now < blockedUntil ? blockedUntil - now : Infinity)));
        continue;
      }
      // Nothing to take now and nothing of ours out: done, or waiting for retries and others' chunks.
      if (helper) break;
      const { pending, earliest } = await control.nextRetryAt(this.id);
      if (pending === 0) break;
      const wait = Math.max((earliest ?? 0) - this.ctx.now(), 0);
      if (wait > MAX_WAIT_MS) {
        await this.deferRest(pending, earliest!);
        break;
      }
      await this.pause(Math.max(1, Math.min(wait, 250)));
    }
    while (inFlight.size > 0) await this.pause(Infinity);
    if (failure) throw failure.error;
  }

  /** Waits for the delivery's slot and sends it, or gives it back when too late (or stopping). */
  private async startAtSlot(d: PacedDelivery, pacing: Pacing, payload: DeliveryPayloads, pushOptions: PushOptionsOf): Promise<void> {
    const wait = d.slot_at - this.ctx.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    const sent = !this.shouldStop() && (await this.deliverOne(d, payload, pushOptions, d.slot_at + pacing.lateMs));
    if (!sent && !this.shouldStop()) this.lateGiveBacks += 1;
    if (!sent) await this.ctx.store.giveBackClaims(this.id, [d.subscription_id], this.ctx.now());
  }

  /** A helper's run (deliverNotification with `helper`): paced chunks of a send someone else holds. */
  async help(): Promise<DeliverySummary> {
    const { ctx, id } = this;
    const row = await ctx.store.notificationById(id);
    if (!row) throw fail('notification_not_found', `notification ${id} does not exist`, { details: { id } });
    const pacing = pacingOfRow(row);
    if (!pacing || row.status !== 'sending' || row.started_at === null) {
      return { ...(await toView(ctx, row)), stoppedReason: 'nothing to help with' };
    }
    this.sender = this.options.sender ?? (await this.createSender());
    const payload = await DeliveryPayloads.load(ctx, id, row.payload);
    this.ttlMs = row.ttl * 1000;
    this.expiresAt = row.started_at + this.ttlMs;
    Object.assign(this.counts, await ctx.store.deliveryCounts(id));
    const sentBefore = this.counts.sent;
    const helper = { until: ctx.now() + (this.options.helpForMs ?? HELP_FOR_MS) };
    await this.deliverPaced(pacing, payload, { ttl: row.ttl, urgency: (row.urgency ?? undefined) as Urgency | undefined, topic: row.topic ?? undefined }, helper);
    await this.markStaleKeys();
    const stopped = this.stopped;
    if (stopped?.kind === 'failed') await ctx.store.setStatus(id, 'failed', { error: stopped.reason, finished_at: ctx.now() });
    return { ...(await getNotification(ctx, id)), stoppedReason: stopped?.kind === 'failed' ? stopped.reason : stopped?.kind, lateGiveBacks: this.lateGiveBacks, helpedSent: this.counts.sent - sentBefore };
  }

  /** Marks what this run saw refused for its VAPID key (see stale-keys.ts). */
  private async markStaleKeys(): Promise<void> {
    const ids = this.staleKeys.stale();
    if (ids.length) await this.ctx.store.markStaleKeys(ids, this.ctx.now());
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
