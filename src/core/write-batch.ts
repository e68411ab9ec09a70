/**
 * Group commit for a busy receiver: writes that arrive in the same event-loop turn run in one
 * IMMEDIATE transaction, each in its own savepoint (better-sqlite3 nests transaction functions as
 * savepoints), so one failing write rolls back alone and the rest commit together. A caller's
 * promise settles only after the commit, so "201 Created" still means "in the database". One
 * commit per batch instead of one per request is most of the receiver's throughput.
 */
import type { Context } from './context.js';

export interface WriteBatcher {
  /** Runs `write` inside the next batch's transaction; resolves with its result after the commit. */
  run<T>(write: () => T): Promise<T>;
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

interface Queued {
  write: () => unknown;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

export function createWriteBatcher(ctx: Context, options: { maxBatch?: number } = {}): WriteBatcher {
  const maxBatch = options.maxBatch ?? 256;
  let queue: Queued[] = [];
  let scheduled = false;
  // Made once: building a transaction function costs more than running one.
  const inSavepoint = ctx.db.transaction((write: () => unknown) => write());
  const commitBatch = ctx.db.transaction((batch: Queued[], outcomes: Outcome[]) => {
    for (const item of batch) {
      try {
        // Nested inside the batch, this is a savepoint: a failure undoes only this write.
        outcomes.push({ ok: true, value: inSavepoint(item.write) });
      } catch (error) {
        outcomes.push({ ok: false, error });
      }
    }
  });

  const flush = () => {
    scheduled = false;
    const batch = queue.slice(0, maxBatch);
    queue = queue.slice(batch.length);
    if (queue.length) schedule();
    const outcomes: Outcome[] = [];
    try {
      commitBatch.immediate(batch, outcomes);
    } catch (error) {
      // The commit itself failed: nothing of this batch is stored.
      for (const item of batch) item.reject(error);
      return;
    }
    batch.forEach((item, i) => {
      const outcome = outcomes[i]!;
      if (outcome.ok) item.resolve(outcome.value);
      else item.reject(outcome.error);
    });
  };

  function schedule() {
    if (scheduled) return;
    scheduled = true;
    setImmediate(flush);
  }

  return {
    run<T>(write: () => T): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        queue.push({ write, resolve: resolve as (value: unknown) => void, reject });
        schedule();
      });
    },
  };
}
