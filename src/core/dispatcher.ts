/**
 * The dispatcher: what cron (or `dispatch --watch`) runs. Each pass materialises the due slots of
 * recurring rules, then claims due notifications one at a time (atomically, under a lease that the
 * delivery engine renews while it works), skips the ones that are too late to be worth sending,
 * and hands the rest to deliverNotification. Overlapping, crashed or late runs are safe because
 * the claim is atomic, the lease expires, and the delivery ledger says what is left to do.
 */
import { fail } from '../errors.js';
import type { PushSender } from '../push/types.js';
import type { Context } from './context.js';
import { createSenderFor, DEFAULT_LEASE_MS, deliverNotification, joinSend, lazySender, type DeliverySummary, type JoinSummary } from './delivery.js';
import type { NotificationCounts } from './notification-spec.js';
import { runDueMaintenance, type MaintenanceReport } from './maintenance.js';
import { materialiseDue } from './recurrence.js';
import { describeDuration } from './schedule-time.js';
import { localTimeWaits } from './local-time-sends.js';

export interface DispatchOptions {
  owner: string;
  leaseMs?: number | undefined;
  concurrency?: number | undefined;
  signal?: AbortSignal | undefined;
  sender?: PushSender | undefined;
  /** Called as each notification starts and ends, for logs and progress. */
  onEvent?: ((event: DispatchEvent) => void) | undefined;
  onProgress?: ((id: number, counts: NotificationCounts) => void) | undefined;
  /** Also take a share of sends other processes lead (dispatch --watch does). */
  join?: boolean | undefined;
}

export type DispatchEvent =
  | { type: 'materialised'; created: number[]; missed: number; finished: number[] }
  | { type: 'claimed'; id: number; resumed: boolean }
  | { type: 'skipped'; id: number; reason: string }
  | { type: 'delivered'; summary: DeliverySummary; elapsedMs: number }
  | { type: 'joined'; summary: JoinSummary; elapsedMs: number }
  | { type: 'error'; id: number; message: string }
  | { type: 'maintenance'; report: MaintenanceReport };

export interface DispatchResult {
  /** Notifications this run sent (or finished), with how each ended. */
  delivered: {
    id: number; status: string; counts: NotificationCounts; resumed: boolean; stoppedReason?: string | undefined; elapsedMs: number;
    /** what is left waits for subscribers' local time (--local-time): not a failure */
    waiting?: boolean | undefined;
  }[];
  skipped: { id: number; reason: string }[];
  errors: { id: number; message: string }[];
  occurrencesCreated: number;
  occurrencesMissed: number;
  rulesFinished: number;
  interrupted: boolean;
  /** The daily housekeeping, when this run was the one that did it (see maintenance.ts). */
  maintenance?: MaintenanceReport | undefined;
  /** Sends other processes lead that this run took a share of, with its share. */
  joined: (JoinSummary & { elapsedMs: number })[];
  /** Deliveries across the run. */
  totals: { sent: number; gone: number; failed: number; pending: number };
  /**
   * Sends left waiting, at the end of the run, for retries due later (push services' Retry-After
   * or backoff): how many deliveries and when the first comes due (ISO 8601). A later run sends them.
   */
  deferred: { id: number; deliveries: number; dueAt: string }[];
  /**
   * Local-time sends (--local-time) whose remaining deliveries wait for their zones' time: normal,
   * not a failure (exit 0); how many, and when the next comes due. A later run sends them.
   */
  waiting: { id: number; deliveries: number; dueAt: string }[];
  /** Throttled sends held by another process that this run helped with (paced chunks), and what it sent. */
  helped: { id: number; sent: number; lateGiveBacks: number }[];
}

/** Does everything that is due now, then returns. Sends nothing (and succeeds) when nothing is due. */
export async function dispatchOnce(ctx: Context, options: DispatchOptions): Promise<DispatchResult> {
  if (options.sender) return dispatchRun(ctx, options);
  // One sender (connection pools, encryption threads, cached VAPID JWTs) for the whole run,
  // made only if something is actually sent.
  const sender = lazySender(() => createSenderFor(ctx, options.concurrency ?? ctx.config.push.concurrency));
  try {
    return await dispatchRun(ctx, { ...options, sender });
  } finally {
    await sender.close();
  }
}

async function dispatchRun(ctx: Context, options: DispatchOptions): Promise<DispatchResult> {
  const leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
  const result: DispatchResult = {
    delivered: [],
    skipped: [],
    errors: [],
    occurrencesCreated: 0,
    occurrencesMissed: 0,
    rulesFinished: 0,
    interrupted: false,
    totals: { sent: 0, gone: 0, failed: 0, pending: 0 },
    deferred: [],
    waiting: [],
    helped: [],
    joined: [],
  };
  const handled: number[] = [];
  for (;;) {
    if (options.signal?.aborted) {
      result.interrupted = true;
      break;
    }
    // Rules first, on every turn: a long send must not make the next slot wait for the next run.
    const made = await materialiseDue(ctx);
    if (made.created.length || made.missed || made.finished.length) {
      result.occurrencesCreated += made.created.length;
      result.occurrencesMissed += made.missed;
      result.rulesFinished += made.finished.length;
      options.onEvent?.({ type: 'materialised', ...made });
    }

    const now = ctx.now();
    const row = await ctx.store.claimNext(options.owner, now, leaseMs, handled);
    if (!row) break;
    handled.push(row.id);

    const lateBy = now - (row.send_at ?? now);
    if (row.started_at === null && row.stale_after_ms !== null && lateBy > row.stale_after_ms) {
      const reason =
        `stale: due ${new Date(row.send_at!).toISOString()}, the dispatcher started ${describeDuration(lateBy)} late ` +
        `(allowed: ${describeDuration(row.stale_after_ms)}); skipped, not sent late`;
      if (await ctx.store.markSkipped(row.id, options.owner, reason, now)) {
        result.skipped.push({ id: row.id, reason });
        options.onEvent?.({ type: 'skipped', id: row.id, reason });
      }
      continue;
    }

    const resumed = row.started_at !== null;
    options.onEvent?.({ type: 'claimed', id: row.id, resumed });
    const started = Date.now();
    try {
      const summary = await deliverNotification(ctx, row.id, {
        owner: options.owner,
        alreadyLeased: true,
        leaseMs,
        concurrency: options.concurrency,
        sender: options.sender,
        signal: options.signal,
        onProgress: options.onProgress ? (counts) => options.onProgress!(row.id, counts) : undefined,
      });
      const elapsedMs = Date.now() - started;
      result.delivered.push({
        id: row.id, status: summary.status, counts: summary.counts, resumed, stoppedReason: summary.stoppedReason, elapsedMs,
        ...(summary.waiting && !summary.deferred ? { waiting: true } : {}),
      });
      for (const key of ['sent', 'gone', 'failed', 'pending'] as const) result.totals[key] += summary.counts[key];
      options.onEvent?.({ type: 'delivered', summary, elapsedMs });
      if (summary.stoppedReason === 'interrupted') result.interrupted = true;
    } catch (error) {
      // One broken notification must not stop the others. Its lease is kept until it expires, so
      // neither this watcher nor another dispatcher retries it more than once per lease length.
      const message = (error as Error).message;
      result.errors.push({ id: row.id, message });
      options.onEvent?.({ type: 'error', id: row.id, message });
    }
  }
  if (!options.signal?.aborted) await helpPacedSends(ctx, options, leaseMs, handled, result);
  if (options.join && !result.interrupted) await joinSends(ctx, options, leaseMs, result);
  for (const d of await ctx.store.deferredSends(ctx.now())) {
    const entry = { ...d, dueAt: new Date(d.dueAt).toISOString() };
    // Waiting for subscribers' local time is what a --local-time send does between zones.
    if ((await localTimeWaits(ctx, d.id)).count === d.deliveries) result.waiting.push(entry);
    else result.deferred.push(entry);
  }
  // After the sends: housekeeping never delays what is due.
  if (!result.interrupted) {
    const maintenance = await runDueMaintenance(ctx);
    if (maintenance) {
      result.maintenance = maintenance;
      options.onEvent?.({ type: 'maintenance', report: maintenance });
    }
  }
  return result;
}

/** How many sends in progress a pass looks at joining (each is joined until nothing is left to claim). */
const JOIN_AT_ONCE = 10;

/** Takes a share of each send in progress that another process leads and that has work due. */
async function joinSends(ctx: Context, options: DispatchOptions, leaseMs: number, result: DispatchResult): Promise<void> {
  const joined = new Set<number>();
  for (;;) {
    const ids = (await ctx.store.joinableSends(options.owner, ctx.now(), JOIN_AT_ONCE)).filter((id) => !joined.has(id));
    if (!ids.length) return;
    for (const id of ids) {
      if (options.signal?.aborted) {
        result.interrupted = true;
        return;
      }
      joined.add(id);
      const started = Date.now();
      try {
        const summary = await joinSend(ctx, id, { owner: options.owner, leaseMs, concurrency: options.concurrency, sender: options.sender, signal: options.signal });
        const elapsedMs = Date.now() - started;
        result.joined.push({ ...summary, elapsedMs });
        result.totals.sent += summary.counts.sent;
        result.totals.gone += summary.counts.gone;
        result.totals.failed += summary.counts.failed;
        options.onEvent?.({ type: 'joined', summary, elapsedMs });
        if (summary.stoppedReason === 'interrupted') result.interrupted = true;
      } catch (error) {
        const message = (error as Error).message;
        result.errors.push({ id, message });
        options.onEvent?.({ type: 'error', id, message });
      }
    }
  }
}

/**
 * True when the run did everything it found without failures, and nothing waits for a later
 * retry. Local-time sends still waiting for later zones are fine (status sending, nothing deferred).
 */
export function dispatchSucceeded(result: DispatchResult): boolean {
  if (result.errors.length || result.interrupted || result.deferred.length) return false;
  const waiting = new Set(result.waiting.map((w) => w.id));
  return result.delivered.every((d) => d.status === 'sent' || d.status === 'cancelled' || (d.status === 'sending' && (d.waiting || waiting.has(d.id))));
}

/**
 * Throttled sends another process holds: take paced chunks of their due deliveries too (each
 * start slot comes from the send's one pace cursor, so helping never exceeds its rate), until
 * nothing is left to take. The holder finishes the send.
 */
async function helpPacedSends(ctx: Context, options: DispatchOptions, leaseMs: number, handled: readonly number[], result: DispatchResult): Promise<void> {
  for (const id of await ctx.store.pacedSendsInProgress(ctx.now())) {
    if (options.signal?.aborted) return;
    if (handled.includes(id)) continue;
    try {
      const summary = await deliverNotification(ctx, id, { owner: options.owner, helper: true, leaseMs, concurrency: options.concurrency, sender: options.sender, signal: options.signal });
      result.helped.push({ id, sent: summary.helpedSent ?? 0, lateGiveBacks: summary.lateGiveBacks ?? 0 });
      result.totals.sent += summary.helpedSent ?? 0;
    } catch (error) {
      result.errors.push({ id, message: (error as Error).message });
    }
  }
}

export interface WatchOptions extends DispatchOptions {
  /** Longest sleep between full passes (default 15 s). */
  intervalMs?: number | undefined;
  /** How often to look at the store for work that appeared meanwhile (default 1 s). */
  peekMs?: number | undefined;
  onPass?: ((result: DispatchResult) => void) | undefined;
  onPassError?: ((error: Error) => void) | undefined;
}

/**
 * Keeps dispatching until the signal aborts: a pass whenever something is due or a send in
 * progress elsewhere can be joined, and a full pass at least every intervalMs. The store wakes it
 * when work appears in any process on any host (watchWork: NOTIFY on PostgreSQL, a poll on
 * SQLite); besides, one cheap look every peekMs catches what no wake-up announces (a scheduled
 * time coming round, a send whose lead has begun and can now be joined). Abort stops after the
 * requests in flight; the interrupted send stays resumable.
 */
export async function watch(ctx: Context, options: WatchOptions): Promise<void> {
  const intervalMs = options.intervalMs ?? 15_000;
  const peekMs = Math.min(options.peekMs ?? 1_000, intervalMs);
  const { signal } = options;
  const alarm = new Alarm();
  let stopWatching: (() => Promise<void>) | undefined;
  try {
    stopWatching = await ctx.store.watchWork(() => alarm.ring());
  } catch {
    // No wake-ups (the store is unreachable for now): the peeks still find the work.
  }
  try {
    while (!signal?.aborted) {
      alarm.reset();
      try {
        const result = await dispatchOnce(ctx, { ...options, join: true });
        options.onPass?.(result);
      } catch (error) {
        options.onPassError?.(error as Error);
      }
      const lastPass = Date.now();
      for (;;) {
        if (signal?.aborted) return;
        if (await alarm.wait(peekMs, signal)) break;
        if (signal?.aborted) return;
        if (Date.now() - lastPass >= intervalMs) break;
        if (await workDue(ctx, options.owner)) break;
      }
    }
  } finally {
    await stopWatching?.();
  }
}

/** Whether a pass would find something: a notification due, or a send elsewhere with work to share. */
async function workDue(ctx: Context, owner: string): Promise<boolean> {
  try {
    const next = await ctx.store.nextWorkAt();
    if (next !== null && next <= ctx.now()) return true;
    return (await ctx.store.joinableSends(owner, ctx.now(), 1)).length > 0;
  } catch {
    return false; // busy or unreachable: the interval pass will try again
  }
}

/** A wake-up that may come while nobody waits: kept until the next wait (or reset) takes it. */
class Alarm {
  private rung = false;
  private waiter: (() => void) | undefined;

  ring(): void {
    this.rung = true;
    this.waiter?.();
  }

  reset(): void {
    this.rung = false;
  }

  /** Waits up to `ms`; true when the alarm rang (before or during the wait). */
  wait(ms: number, signal: AbortSignal | undefined): Promise<boolean> {
    return new Promise((resolve) => {
      if (signal?.aborted || this.rung) return resolve(this.rung);
      const timer = setTimeout(() => done(false), ms);
      const onAbort = () => done(false);
      const done = (rang: boolean) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.waiter = undefined;
        resolve(rang);
      };
      this.waiter = () => done(true);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}

/**
 * Finishes an interrupted send now, in this process (`notifications resume`). A failed or partial
 * send that still has pending deliveries is reopened first (e.g. after a VAPID key was fixed).
 */
export async function resumeNotification(
  ctx: Context,
  id: number,
  options: { owner: string; leaseMs?: number; concurrency?: number | undefined; signal?: AbortSignal; onProgress?: (counts: NotificationCounts) => void },
): Promise<DeliverySummary> {
  const row = await ctx.store.notificationById(id);
  if (!row) throw fail('notification_not_found', `notification ${id} does not exist`, { details: { id } });
  if (row.cron) throw fail('notification_state', `notification ${id} is a recurring rule; the dispatcher sends its occurrences`, { details: { id } });
  if (row.status === 'scheduled') {
    throw fail('notification_state', `notification ${id} is scheduled for ${new Date(row.send_at ?? ctx.now()).toISOString()}; the dispatcher sends it when it is due`, { details: { id, status: row.status } });
  }
  if (row.status !== 'sending' && !(await ctx.store.reopenForResume(id))) {
    throw fail('notification_state', `notification ${id} is ${row.status}; nothing is left to resume`, { details: { id, status: row.status } });
  }
  return deliverNotification(ctx, id, { owner: options.owner, leaseMs: options.leaseMs, concurrency: options.concurrency, signal: options.signal, onProgress: options.onProgress });
}
