/**
 * Finding subscriptions as operators and clients name them: by id, or by endpoint URL as pasted
 * (stored endpoints are in URL's canonical form, so a pasted one is normalised before giving up).
 * The one lookup behind `subscriptions show/remove`, category assignment and `send --subscription`,
 * and the count: light on imports, so `pushctl subscriptions count` loads little.
 */
import { fail } from '../errors.js';
import type { StoreOps, SubscriptionRow } from '../store/store.js';
import type { Context } from './context.js';
import { canonicalEndpoint } from '../endpoint-form.js';

/** The row named by id or endpoint (only an endpoint when `endpointOnly`), or undefined. */
export async function findSubscriptionRow(ops: StoreOps, idOrEndpoint: string | number, endpointOnly = false): Promise<SubscriptionRow | undefined> {
  const text = String(idOrEndpoint).trim();
  if (/^\d+$/.test(text)) return endpointOnly ? undefined : ops.subscriptionById(Number(text));
  const row = await ops.subscriptionByEndpoint(text);
  if (row) return row;
  // Stored endpoints are in canonical form (endpoint-form.ts); accept what an operator pastes.
  const canonical = canonicalEndpoint(text);
  return canonical === undefined || canonical === text ? undefined : ops.subscriptionByEndpoint(canonical);
}

/** Ids (each once, in order) of the subscriptions named; the names that match none, separately. */
export async function resolveSubscriptionRefs(ctx: Context, refs: readonly (string | number)[]): Promise<{ ids: number[]; unknown: string[] }> {
  const ids = new Set<number>();
  const unknown: string[] = [];
  for (const ref of refs) {
    const row = await findSubscriptionRow(ctx.store, ref);
    if (row) ids.add(row.id);
    else unknown.push(String(ref).trim());
  }
  return { ids: [...ids], unknown };
}

export async function countSubscriptions(ctx: Context, opts: { category?: string | undefined } = {}): Promise<number> {
  return ctx.store.countSubscriptions(await categoryFilter(ctx, opts.category));
}

/** The id of the category a listing or count is limited to; a not-found error for an unknown name. */
export async function categoryFilter(ctx: Context, name: string | undefined): Promise<number | undefined> {
  if (name === undefined) return undefined;
  const row = await ctx.store.categoryByName(name);
  if (!row) throw fail('category_not_found', `category "${name}" does not exist`, { field: 'category', details: { category: name } });
  return row.id;
}
