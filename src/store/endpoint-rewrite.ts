/**
 * Migration 8's data step: endpoints stored before pushctl compared them in one spelling
 * (endpoint-form.ts) are rewritten into it. Windows' push service hands out endpoints with
 * lower-case escapes ("...?token=AgUA...%2fK0K8%2b..."), stored as they came; a browser posting
 * the same subscription again arrives in the canonical spelling and, unmatched, became a second
 * row: two pushes per send to one browser. Where both spellings are stored, the row written last
 * is the browser's current state (keys, categories, settings) and stays, under the canonical
 * endpoint; the other row is removed as `subscriptions remove` would (its memberships and
 * engagement go with it; its ledger rows stay, as for any removed subscription).
 * This file decides; each backend's half runs it (sqlite/ and postgres/endpoint-rewrite.ts) with
 * SQL of its own, kept with the migration rather than among the store's named statements: a
 * migration must keep doing what it did when those statements change.
 */
import { canonicalEndpoint } from '../endpoint-form.js';

export interface StoredEndpoint {
  id: number;
  endpoint: string;
  updated_at: number;
}

/** Rows are read this many at a time, in id order (a store may hold millions). */
export const REWRITE_PAGE = 1000;

/** A page's changes: rows to remove first, then rows to store under a new endpoint. */
export interface RewritePlan {
  drop: number[];
  rename: { id: number; endpoint: string }[];
}

/** The canonical spelling of a stored endpoint, or undefined when it is canonical already (or not a URL). */
export function rewrittenEndpoint(row: StoredEndpoint): string | undefined {
  const endpoint = canonicalEndpoint(row.endpoint);
  return endpoint === undefined || endpoint === row.endpoint ? undefined : endpoint;
}

/**
 * The changes for a page of rows, given the rows stored under their canonical spellings (`twins`,
 * by endpoint). Where both spellings are stored, the row written last wins (on a tie the higher id,
 * the re-posted one).
 */
export function rewritePlan(rows: readonly StoredEndpoint[], twins: ReadonlyMap<string, StoredEndpoint>): RewritePlan {
  const plan: RewritePlan = { drop: [], rename: [] };
  const current = new Map(twins);
  for (const row of rows) {
    const endpoint = rewrittenEndpoint(row);
    if (endpoint === undefined) continue;
    const twin = current.get(endpoint);
    const rowWins = !twin || row.updated_at > twin.updated_at || (row.updated_at === twin.updated_at && row.id > twin.id);
    if (!rowWins) {
      plan.drop.push(row.id);
      continue;
    }
    if (twin) {
      plan.drop.push(twin.id);
      plan.rename = plan.rename.filter((r) => r.id !== twin.id); // two old spellings in one page
    }
    plan.rename.push({ id: row.id, endpoint });
    current.set(endpoint, { ...row, endpoint });
  }
  return plan;
}

/** The canonical spellings a page's rows would move to (the twins to look up). */
export function rewriteTargets(rows: readonly StoredEndpoint[]): string[] {
  return [...new Set(rows.map(rewrittenEndpoint).filter((e): e is string => e !== undefined))];
}
