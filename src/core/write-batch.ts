/**
 * Group commit: work that arrives in the same event-loop turn is written in one transaction, and
 * each caller's promise settles only after that commit. The receiver uses it so "201 Created"
 * still means "in the database" at one commit per batch instead of one per request; a send uses
 * it for the ledger, so a worker waits for its answer to be committed before its next request
 * (a crash repeats at most the requests in flight) without a transaction per message.
 */
import type { Transaction } from '../store/store.js';
import type { Context } from './context.js';

export type Outcome<R> = { ok: true; value: R } | { ok: false; error: unknown };

/**
 * Queues items and hands each event-loop turn's items (at most `maxBatch`) to `commit` together.
 * `commit` resolves with one outcome per item, or rejects: then nothing of the batch is stored
 * and every item's promise rejects with that error. One commit runs at a time; items arriving
 * meanwhile make the next batch.
 */
export function groupCommit<I, R>(commit: (batch: I[]) => Promise<Outcome<R>[]>, maxBatch = Infinity): (item: I) => Promise<R> {
  let queue: { item: I; resolve: (value: R) => void; reject: (error: unknown) => void }[] = [];
  let scheduled = false;
  let committing = false;

  const flush = async () => {
    scheduled = false;
    committing = true;
    const batch = queue.slice(0, maxBatch);
    queue = queue.slice(batch.length);
    try {
      const outcomes = await commit(batch.map((queued) => queued.item));
      batch.forEach((queued, i) => {
        const outcome = outcomes[i]!;
        if (outcome.ok) queued.resolve(outcome.value);
        else queued.reject(outcome.error);
      });
    } catch (error) {
      for (const queued of batch) queued.reject(error);
    } finally {
      committing = false;
      if (queue.length) schedule();
    }
  };

  function schedule() {
    if (scheduled || committing) return;
    scheduled = true;
    setImmediate(() => void flush());
  }

  return (item: I) =>
    new Promise<R>((resolve, reject) => {
      queue.push({ item, resolve, reject });
      schedule();
    });
}

export interface WriteBatcher {
  /**
   * Runs `write` inside the next batch's transaction; resolves with its result after the commit.
   * `orderKey` (say, the endpoint written): a batch runs its writes in ascending key order, so two
   * processes writing the same rows in one batch each lock them in the same order. Arrival order
   * would let two replicas deadlock (PostgreSQL then fails one write after a second).
   */
  run<T>(write: (tx: Transaction) => Promise<T>, orderKey?: string): Promise<T>;
}

/**
 * Each write in its own savepoint, so one failing write rolls back alone and the rest of its
 * batch commits.
 */
export function createWriteBatcher(ctx: Context, options: { maxBatch?: number } = {}): WriteBatcher {
  type Write = { write: (tx: Transaction) => Promise<unknown>; orderKey: string };
  const enqueue = groupCommit(
    (batch: Write[]) =>
      ctx.store.transaction(async (tx) => {
        const outcomes: Outcome<unknown>[] = new Array<Outcome<unknown>>(batch.length);
        // Stable: writes with equal keys (the same endpoint twice) keep their arrival order.
        const order = batch.map((_, i) => i).sort((a, b) => (batch[a]!.orderKey < batch[b]!.orderKey ? -1 : batch[a]!.orderKey > batch[b]!.orderKey ? 1 : 0));
        for (const i of order) {
          try {
            outcomes[i] = { ok: true, value: await tx.savepoint(batch[i]!.write) };
          } catch (error) {
            outcomes[i] = { ok: false, error };
          }
        }
        return outcomes;
      }),
    options.maxBatch ?? 256,
  );
  return { run: <T>(write: (tx: Transaction) => Promise<T>, orderKey = '') => enqueue({ write, orderKey }) as Promise<T> };
}
