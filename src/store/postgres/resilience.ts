/**
 * Riding out a PostgreSQL restart or failover: which errors mean "the server went away" (rather
 * than "the statement is wrong"), and a retry loop with exponential backoff and full jitter,
 * bounded by the store's budget. Past the budget the caller gets `store_unavailable` (HTTP 503,
 * exit 1): serve answers that while the database is down, workers wait minutes instead.
 *
 * Whether a failed step may run again is the caller's call: a connection that never opened sent
 * nothing (always safe); a statement whose connection died mid-flight may or may not have been
 * applied, so only a step that is harmless to repeat is re-run.
 */
import { fail, PushctlError } from '../../errors.js';

/** SQLSTATEs of a server shutting down, crashing or starting up, and the connection classes. */
const TRANSIENT_CODES = new Set(['57P01', '57P02', '57P03', 'ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'ENOENT']);
/** node-postgres words a lost or unopened connection in plain messages, without a code. */
const TRANSIENT_MESSAGES = /Connection terminated|not queryable|timeout exceeded when trying to connect|^timeout expired$|the database system is (starting up|shutting down|in recovery mode)/;

/** True when `error` says the connection failed or the server went away (not that the SQL was wrong). */
export function isTransient(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && (TRANSIENT_CODES.has(code) || code.startsWith('08'))) return true;
  if (TRANSIENT_MESSAGES.test(error.message)) return true;
  // AggregateError (a host name resolving to several addresses, all refused).
  const inner = (error as { errors?: unknown[] }).errors;
  return Array.isArray(inner) && inner.length > 0 && inner.every(isTransient);
}

/**
 * True when the server aborted the transaction because another one conflicted with it (a
 * deadlock, or a serialisation failure): nothing of it was applied, and running it again is
 * the documented remedy.
 */
export function isConflictAbort(error: unknown): boolean {
  const code = error instanceof Error ? (error as { code?: unknown }).code : undefined;
  return code === '40P01' || code === '40001';
}

/** How long a store keeps retrying a lost database before giving up, by the kind of process. */
export interface RetryPolicy {
  /** Total time one operation may spend retrying (0: fail at the first error). */
  retryForMs: number;
  /** First backoff step; each step doubles up to `maxDelayMs` (full jitter). */
  baseDelayMs?: number | undefined;
  maxDelayMs?: number | undefined;
}

/** What a failed attempt was: nothing sent yet (safe to repeat), or sent and maybe applied. */
export class NotSent extends Error {
  constructor(override readonly cause: unknown) {
    super((cause as Error)?.message ?? String(cause));
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class Retrier {
  private readonly base: number;
  private readonly max: number;

  constructor(
    readonly policy: RetryPolicy,
    /** Printable location (no password) for messages. */
    private readonly location: string,
  ) {
    this.base = policy.baseDelayMs ?? 50;
    this.max = policy.maxDelayMs ?? 2_000;
  }

  /**
   * Runs `attempt` until it succeeds, fails for a reason that is not transient, or the budget is
   * spent. A transient failure or a conflict abort wrapped in NotSent is always retried; a bare
   * transient failure (the statement may have been applied) only when `repeatable`.
   */
  async run<T>(attempt: () => Promise<T>, repeatable: boolean, giveUp: (cause: unknown) => Error = (cause) => this.unavailable(cause)): Promise<T> {
    const deadline = Date.now() + this.policy.retryForMs;
    for (let step = 0; ; step++) {
      try {
        return await attempt();
      } catch (raw) {
        const notSent = raw instanceof NotSent;
        const error = notSent ? raw.cause : raw;
        // A transaction the server rolled back for a conflict runs again; past the budget its own
        // error stands (the "busy" of the error catalogue), the database did answer.
        const conflict = notSent && isConflictAbort(error);
        if (!isTransient(error) && !conflict) throw error;
        if (!notSent && !repeatable) throw this.unknownOutcome(error);
        const left = deadline - Date.now();
        if (left <= 0) throw conflict ? error : giveUp(error);
        // Full jitter: replicas that lost the server together do not come back in lockstep.
        const cap = Math.min(this.max, this.base * 2 ** Math.min(step, 16));
        await sleep(Math.min(left, Math.max(1, Math.random() * cap)));
      }
    }
  }

  unavailable(cause: unknown): PushctlError {
    const seconds = Math.round(this.policy.retryForMs / 100) / 10;
    const waited = this.policy.retryForMs > 0 ? ` (retried for ${seconds} s)` : '';
    return fail('store_unavailable', `the database ${this.location} is unavailable: ${describe(cause)}${waited}; try again shortly`, {
      worded: true,
      details: { database: this.location },
    });
  }

  /** A write whose connection died after it was sent: it may have been applied, so it is not repeated. */
  private unknownOutcome(cause: unknown): PushctlError {
    return fail('store_unavailable', `the connection to ${this.location} was lost during a write (${describe(cause)}); it may or may not have been applied; check, then try again`, {
      worded: true,
      details: { database: this.location, outcomeUnknown: true },
    });
  }
}

/** A connection error in a few words, with its code. */
export function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const code = (error as { code?: unknown }).code;
  const inner = (error as { errors?: Error[] }).errors;
  const message = error.message || (inner?.length ? inner.map((e) => e.message).join('; ') : 'connection failed');
  return typeof code === 'string' && !message.includes(code) ? `${message} (${code})` : message;
}
