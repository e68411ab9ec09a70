/**
 * Fan-out of one notification: fixes its recipients, sends what is pending with bounded
 * concurrency, retries what can be retried, and commits every answer to the ledger before the
 * worker starts another request, so a send killed at any moment is resumed by the next owner of
 * the lease and repeats at most the requests that were in flight.
 */
import crypto from 'node:crypto';
import os from 'node:os';
import { fail } from '../errors.js';
import type { PushOutcome, PushSender } from '../push/types.js';
import * as store from '../store/notifications.js';
import type { Context } from './context.js';
import { activeSigningKey, signingKeyById, type SigningKey } from './keys.js';
import type { NotificationCounts, Target, Urgency } from './notification-spec.js';
import { getNotification, targetQuery, toView, type NotificationView } from './notifications.js';
import { groupCommit } from './write-batch.js';

export const DEFAULT_LEASE_MS = 60_000;
/** Attempts per delivery before a retryable failure counts as failed. */
export const MAX_ATTEMPTS = 5;
/** 400/401/403 in a row from one push service before the send stops (a key problem, not subscribers). */
export const REJECTION_STREAK_LIMIT = 5;
const PAGE_SIZE = 500;
const BACKOFF_BASE_MS = 1_000;
const BACKOFF_CAP_MS = 60_000;
/** A Retry-After longer than this is honoured by the next run (dispatch), not by waiting here. */
const MAX_WAIT_MS = 120_000;
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
}

export function newOwnerId(): string {
  return `${os.hostname()}:${process.pid}:${crypto.randomBytes(4).toString('hex')}`;
}

export async function deliverNotification(ctx: Context, id: number, options: DeliverOptions): Promise<DeliverySummary> {
  const leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
  const { owner } = options;
  if (!options.alreadyLeased && !acquireLease(ctx, id, owner, leaseMs)) {
    const row = store.notificationById(ctx.db, id);
    if (!row) throw fail('notification_not_found', `notification ${id} does not exist`, { details: { id } });
    if (row.status !== 'scheduled' && row.status !== 'sending') {
      throw fail('notification_state', `notification ${id} is ${row.status}; nothing to send`, { details: { id, status: row.status } });
    }
    const until = row.lease_expires_at ? new Date(row.lease_expires_at).toISOString() : 'soon';
    throw fail('notification_leased', `notification ${id} is being sent by ${row.lease_owner} (lease until ${until}); try again after that`, { details: { id } });
  }
  const run = new DeliveryRun(ctx, id, options, leaseMs);
  try {
    return await run.execute();
  } finally {
    run.dispose();
  }
}

/**
 * The push sender for this installation: the wire refuses, at the last moment, any endpoint the
 * configured origin policy no longer allows (defence in depth against stored bad endpoints).
 */
export async function createSenderFor(ctx: Context, concurrency: number): Promise<PushSender> {
  const [{ createPushSender }, { endpointPolicyFromConfig, endpointRefusal }] = await Promise.all([import('../push/sender.js'), import('./endpoint-policy.js')]);
  const policy = endpointPolicyFromConfig(ctx.config);
  return createPushSender({ concurrency, endpointRefusal: (endpoint) => endpointRefusal(endpoint, policy) });
}

/** A sender made on first use, so a run that finds nothing to send starts no pools or threads. */
export function lazySender(create: () => Promise<PushSender>): PushSender {
  let real: Promise<PushSender> | undefined;
  return {
    send: async (target, payload, options, vapid) => (await (real ??= create())).send(target, payload, options, vapid),
    close: async () => {
      if (real) await (await real).close();
    },
  };
}

/**
 * Takes the lease when it is free or expired, or when its owner is a process on this host that no
 * longer exists (killed mid-send): then `resume` need not wait for the lease to run out.
 */
export function acquireLease(ctx: Context, id: number, owner: string, leaseMs: number): boolean {
  if (store.tryAcquireLease(ctx.db, id, owner, ctx.now(), leaseMs)) return true;
  const holder = store.leaseHolder(ctx.db, id).owner;
  return holder !== null && ownerIsDead(holder) && store.takeOverLease(ctx.db, id, holder, owner, ctx.now(), leaseMs);
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
  private ownSender = false;
  private renewTimer: NodeJS.Timeout | undefined;
  /** Why the run stops early, once decided (the first reason wins). */
  private stopped: Stop | undefined;
  /** The notification as it was when the run began: what a summary shows if it is deleted meanwhile. */
  private before: NotificationView | undefined;
  private lastStatusCheck = 0;
  private readonly write: (update: store.DeliveryUpdate) => Promise<void>;

  constructor(
    private readonly ctx: Context,
    private readonly id: number,
    private readonly options: DeliverOptions,
    private readonly leaseMs: number,
  ) {
    const ledger = store.prepareLedgerWriter(ctx.db);
    this.write = groupCommit((batch: store.DeliveryUpdate[]) => {
      ledger.recordMany(batch);
      return batch.map(() => ({ ok: true, value: undefined }));
    });
    this.counts = { total: 0, sent: 0, gone: 0, failed: 0, pending: 0 };
  }

  async execute(): Promise<DeliverySummary> {
    const { ctx, id } = this;
    const row = store.notificationById(ctx.db, id)!;
    this.before = toView(ctx, row);
    if (row.status === 'cancelled') return this.finish();
    store.fixRecipients(ctx.db, id, targetQuery(JSON.parse(row.target) as Target), ctx.now());
    Object.assign(this.counts, store.deliveryCounts(ctx.db, id));
    this.options.onProgress?.({ ...this.counts });

    this.renewTimer = setInterval(() => this.renew(), Math.max(Math.floor(this.leaseMs / 3), 50));
    this.renewTimer.unref();

    const payload = Buffer.from(row.payload, 'utf8');
    const pushOptions = { ttl: row.ttl, urgency: (row.urgency ?? undefined) as Urgency | undefined, topic: row.topic ?? undefined };
    if (this.counts.pending > 0) {
      this.sender = this.options.sender ?? (await this.createSender());
    }
    while (!this.shouldStop()) {
      await this.pass(payload, pushOptions);
      if (this.shouldStop()) break;
      const { pending, earliest } = store.nextRetryAt(ctx.db, id);
      if (pending === 0) break;
      const wait = Math.max((earliest ?? 0) - ctx.now(), 0);
      if (wait > MAX_WAIT_MS) {
        this.stopped = { kind: 'deferred', reason: `push services asked to retry ${pending} deliveries later than ${Math.round(MAX_WAIT_MS / 1000)} s; the dispatcher or a resume of notification ${id} will finish them` };
        break;
      }
      await this.sleep(wait);
    }
    return this.finish();
  }

  dispose(): void {
    if (this.renewTimer) clearInterval(this.renewTimer);
    if (this.ownSender && this.sender) void this.sender.close();
  }

  private async createSender(): Promise<PushSender> {
    this.ownSender = true;
    return createSenderFor(this.ctx, this.concurrency);
  }

  private get concurrency(): number {
    return Math.max(1, this.options.concurrency ?? this.ctx.config.push.concurrency);
  }

  /** One sweep over the due pending deliveries, `concurrency` requests at a time. */
  private async pass(payload: Buffer, pushOptions: { ttl: number; urgency: Urgency | undefined; topic: string | undefined }): Promise<void> {
    let page: store.PendingDelivery[] = [];
    let index = 0;
    let cursor = 0;
    let exhausted = false;
    const take = (): store.PendingDelivery | undefined => {
      this.checkStatusEvery(STATUS_CHECK_MS);
      if (this.shouldStop()) return undefined;
      if (index >= page.length) {
        if (exhausted) return undefined;
        page = store.pendingPage(this.ctx.db, this.id, cursor, this.ctx.now(), PAGE_SIZE);
        index = 0;
        if (!page.length) {
          exhausted = true;
          return undefined;
        }
        cursor = page[page.length - 1]!.subscription_id;
      }
      return page[index++];
    };
    const worker = async () => {
      for (let delivery = take(); delivery; delivery = take()) {
        await this.deliverOne(delivery, payload, pushOptions);
      }
    };
    await Promise.all(Array.from({ length: this.concurrency }, worker));
  }

  private async deliverOne(d: store.PendingDelivery, payload: Buffer, pushOptions: { ttl: number; urgency: Urgency | undefined; topic: string | undefined }): Promise<void> {
    const now = () => this.ctx.now();
    if (d.endpoint === null || d.p256dh === null || d.auth === null) {
      // Removed (unsubscribed or pruned) since the recipient list was fixed.
      await this.record(d, { kind: 'gone', message: 'subscription removed before delivery' }, now());
      return;
    }
    let key: SigningKey;
    try {
      key = this.keyFor(d.key_id);
    } catch (error) {
      // A configuration problem (say, keys kept in environment variables this process lacks), not
      // this subscriber's: stop with everyone still pending, so a resume finishes once it is fixed.
      this.stop(`cannot sign pushes: ${(error as Error).message}`);
      return;
    }
    let outcome: PushOutcome;
    const started = performance.now();
    try {
      outcome = await this.sender!.send({ endpoint: d.endpoint, p256dh: d.p256dh, auth: d.auth }, payload, pushOptions, key);
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
  private record(d: store.PendingDelivery, outcome: PushOutcome, now: number, origin?: string): Promise<void> {
    const attempts = d.attempts + 1;
    let state: store.DeliveryState;
    let nextAttemptAt: number | null = null;
    switch (outcome.kind) {
      case 'delivered':
        state = 'sent';
        break;
      case 'gone':
        state = 'gone';
        break;
      case 'retry':
        if (attempts >= MAX_ATTEMPTS) {
          state = 'failed';
        } else {
          state = 'pending';
          nextAttemptAt = now + backoff(attempts, outcome.retryAfterMs);
        }
        break;
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
      error: state === 'sent' ? null : (outcome.message ?? null),
      nextAttemptAt,
      now,
    });
    return committed.then(() => {
      if (state !== 'pending') {
        this.counts.pending -= 1;
        this.counts[state] += 1;
        this.options.onProgress?.({ ...this.counts });
      }
    });
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

  private keyFor(keyId: number | null): SigningKey {
    const cacheKey = keyId ?? 0;
    let key = this.keys.get(cacheKey);
    if (!key) {
      key = keyId === null ? activeSigningKey(this.ctx) : signingKeyById(this.ctx, keyId);
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
    if (now - this.lastStatusCheck < intervalMs) return;
    this.lastStatusCheck = now;
    this.checkStatus();
  }

  /** Picks up a cancel issued by another process (`notifications cancel`). */
  private checkStatus(): void {
    const row = store.notificationById(this.ctx.db, this.id);
    if (!row) this.stopped = { kind: 'deleted' };
    else if (row.status === 'cancelled') this.stopped ??= { kind: 'cancelled' };
  }

  private renew(): void {
    if (!store.renewLease(this.ctx.db, this.id, this.options.owner, this.ctx.now(), this.leaseMs)) this.stopped = { kind: 'lease-lost' };
  }

  private async sleep(ms: number): Promise<void> {
    const until = Date.now() + ms;
    while (Date.now() < until && !this.shouldStop()) {
      await new Promise((resolve) => setTimeout(resolve, Math.min(250, until - Date.now())));
      this.checkStatus();
    }
  }

  private finish(): DeliverySummary {
    const { ctx, id } = this;
    const stopped = this.stopped;
    const row = store.notificationById(ctx.db, id);
    if (!row) {
      // Deleted while sending (deleting cancels first): nothing is left to update.
      return { ...this.before!, status: 'cancelled', counts: { ...this.counts }, stoppedReason: 'deleted' };
    }
    // Someone else owns it now; leave their status alone.
    if (stopped?.kind === 'lease-lost') return { ...getNotification(ctx, id), stoppedReason: 'lease lost to another process' };
    const counts = store.deliveryCounts(ctx.db, id);
    const now = ctx.now();
    store.storeCounts(ctx.db, id, counts);
    let stoppedReason: string | undefined;
    if (row.status === 'cancelled') {
      stoppedReason = 'cancelled';
    } else if (stopped?.kind === 'interrupted') {
      stoppedReason = 'interrupted';
    } else if (stopped?.kind === 'failed') {
      store.setStatus(ctx.db, id, 'failed', { error: stopped.reason, finished_at: now });
      stoppedReason = stopped.reason;
    } else if (counts.pending > 0) {
      // Deferred retries: stays 'sending' with the lease released, so dispatch or resume finishes it.
      stoppedReason = stopped?.kind === 'deferred' ? stopped.reason : undefined;
      store.setStatus(ctx.db, id, 'sending', { error: stoppedReason ?? null });
    } else {
      const status = counts.failed === 0 ? 'sent' : counts.sent > 0 ? 'partial' : 'failed';
      store.setStatus(ctx.db, id, status, { finished_at: now });
      stoppedReason = stopped?.kind === 'deferred' ? stopped.reason : undefined;
    }
    store.releaseLease(ctx.db, id, this.options.owner);
    return { ...getNotification(ctx, id), stoppedReason };
  }
}

/** Exponential backoff with jitter; a push service's Retry-After wins when it asks for longer. */
export function backoff(attempt: number, retryAfterMs?: number): number {
  const exp = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** (attempt - 1));
  const jittered = exp / 2 + Math.random() * (exp / 2);
  return Math.max(jittered, retryAfterMs ?? 0);
}

function originOf(endpoint: string): string {
  try {
    return new URL(endpoint).origin;
  } catch {
    return endpoint;
  }
}
