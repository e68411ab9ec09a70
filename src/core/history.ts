/**
 * Keeping the ledger small: the per-delivery rows of finished notifications older than a cut-off
 * are dropped, one notification per transaction (other writers wait for one notification's rows,
 * never for the whole history). Each notification keeps its counts on its own row.
 */
import { fail } from '../errors.js';
import type { Context } from './context.js';

export interface HistoryPruneResult {
  /** notifications whose delivery rows were (or would be) dropped */
  notifications: number;
  /** delivery rows dropped (or that would be) */
  deliveries: number;
  olderThan: string;
  dryRun: boolean;
}

const BATCH = 100;

/** `notifications prune --older-than 90d` and dispatch's `push.keepHistoryFor`. */
export async function pruneHistory(ctx: Context, opts: { olderThanMs: number; dryRun?: boolean | undefined }): Promise<HistoryPruneResult> {
  if (!Number.isFinite(opts.olderThanMs) || opts.olderThanMs <= 0) throw fail('invalid_input', 'must be a duration above 0, e.g. 90d', { field: 'olderThan' });
  const before = ctx.now() - opts.olderThanMs;
  const olderThan = new Date(before).toISOString();
  if (opts.dryRun) return { ...(await ctx.store.prunableHistory(before)), olderThan, dryRun: true };
  let notifications = 0;
  let deliveries = 0;
  for (;;) {
    const ids = await ctx.store.prunableHistoryIds(before, BATCH);
    if (!ids.length) break;
    for (const id of ids) {
      deliveries += await ctx.store.pruneLedger(id, ctx.now());
      notifications++;
    }
  }
  return { notifications, deliveries, olderThan, dryRun: false };
}
