/**
 * Finding subscriptions as operators and clients name them: by id, or by endpoint URL as pasted
 * (stored endpoints are in URL's canonical form, so a pasted one is normalised before giving up).
 * The one lookup behind `subscriptions show/remove`, category assignment and `send --subscription`,
 * and the count: light on imports, so `pushctl subscriptions count` loads little.
 */
import { fail } from '../errors.js';
import { categoryByName } from '../store/categories.js';
import * as store from '../store/subscriptions.js';
import type { Context } from './context.js';
import { canonicalEndpoint } from './endpoint-policy.js';

/** The row named by id or endpoint (only an endpoint when `endpointOnly`), or undefined. */
export function findSubscriptionRow(ctx: Context, idOrEndpoint: string | number, endpointOnly = false): store.SubscriptionRow | undefined {
  const text = String(idOrEndpoint).trim();
  if (/^\d+$/.test(text)) return endpointOnly ? undefined : store.subscriptionById(ctx.db, Number(text));
  const row = store.subscriptionByEndpoint(ctx.db, text);
  if (row) return row;
  // Stored endpoints are in canonical form (endpoint-policy.ts); accept what an operator pastes.
  const canonical = canonicalEndpoint(text);
  return canonical === undefined || canonical === text ? undefined : store.subscriptionByEndpoint(ctx.db, canonical);
}

/** Ids (each once, in order) of the subscriptions named; the names that match none, separately. */
export function resolveSubscriptionRefs(ctx: Context, refs: readonly (string | number)[]): { ids: number[]; unknown: string[] } {
  const ids = new Set<number>();
  const unknown: string[] = [];
  for (const ref of refs) {
    const row = findSubscriptionRow(ctx, ref);
    if (row) ids.add(row.id);
    else unknown.push(String(ref).trim());
  }
  return { ids: [...ids], unknown };
}

export function countSubscriptions(ctx: Context, opts: { category?: string | undefined } = {}): number {
  return store.countSubscriptionRows(ctx.db, categoryFilter(ctx, opts.category));
}

/** The id of the category a listing or count is limited to; a not-found error for an unknown name. */
export function categoryFilter(ctx: Context, name: string | undefined): number | undefined {
  if (name === undefined) return undefined;
  const row = categoryByName(ctx.db, name);
  if (!row) throw fail('category_not_found', `category "${name}" does not exist`, { field: 'category', details: { category: name } });
  return row.id;
}
