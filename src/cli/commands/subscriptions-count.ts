/**
 * `pushctl subscriptions count`'s body, apart from its declaration in subscriptions.ts: the fast
 * path (fast-path.ts) runs the same body without loading commander or the rest of the group.
 */
import { countSubscriptions } from '../../core/subscription-lookup.js';
import type { ActionBase } from '../run.js';

export interface CountFlags {
  category?: string;
}

export async function countAction({ options, context }: ActionBase<CountFlags>): Promise<void> {
  process.stdout.write(`${await countSubscriptions(await context(), { category: options.category })}\n`);
}
