/**
 * Group commit: work that arrives in the same event-loop turn is written in one transaction, and
 * each caller's promise settles only after that commit. The receiver uses it so "201 Created"
 * still means "in the database" at one commit per batch instead of one per request; a send uses
 * it for the ledger, so a worker waits for its answer to be committed before its next request
 * (a crash repeats at most the requests in flight) without a transaction per message.
 */
import type { Context } from './context.js';

export type Outcome<R> = { ok: true; value: R } | { ok: false; error: unknown };

/**
 * Queues items and hands each event-loop turn's items (at most `maxBatch`) to `commit` together.
 * `commit` returns one outcome per item, or throws: then nothing of the batch is stored and every
 * item's promise rejects with that error.
 */
export function groupCommit<I, R>(commit: (batch: I[]) => Outcome<R>[], maxBatch = Infinity): (item: I) => Promise<R> {
  let queue: { item: I; resolve: (value: R) => void; reject: (error: unknown) => void }[] = [];
  let scheduled = false;

  const flush = () => {
    scheduled = false;
    const batch = queue.slice(0, maxBatch);
    queue = queue.slice(batch.length);
    if (queue.length) schedule();
    let outcomes: Outcome<R>[];
    try {
      outcomes = commit(batch.map((queued) => queued.item));
    } catch (error) {
      for (const queued of batch) queued.reject(error);
      return;
    }
    batch.forEach((queued, i) => {
      const outcome = outcomes[i]!;
      if (outcome.ok) queued.resolve(outcome.value);
      else queued.reject(outcome.error);
    });
  };

  function schedule() {
    if (scheduled) return;
    scheduled = true;
    setImmediate(flush);
  }

  return (item: I) =>
    new Promise<R>((resolve, reject) => {
      queue.push({ item, resolve, reject });
      schedule();
    });
}

export interface WriteBatcher {
  /** Runs `write` inside the next batch's transaction; resolves with its result after the commit. */
  run<T>(write: () => T): Promise<T>;
}

/**
 * Each write in its own savepoint (better-sqlite3 nests transaction functions as savepoints), so
 * one failing write rolls back alone and the rest of its batch commits.
 */
export function createWriteBatcher(ctx: Context, options: { maxBatch?: number } = {}): WriteBatcher {
  // Made once: building a transaction function costs more than running one.
  const inSavepoint = ctx.db.transaction((write: () => unknown) => write());
  const commitBatch = ctx.db.transaction((batch: (() => unknown)[]) =>
    batch.map((write): Outcome<unknown> => {
      try {
        // Nested inside the batch, this is a savepoint: a failure undoes only this write.
        return { ok: true, value: inSavepoint(write) };
      } catch (error) {
        return { ok: false, error };
      }
    }),
  );
  const enqueue = groupCommit((batch: (() => unknown)[]) => commitBatch.immediate(batch), options.maxBatch ?? 256);
  return { run: <T>(write: () => T) => enqueue(write) as Promise<T> };
}
