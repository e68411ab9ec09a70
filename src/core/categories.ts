/**
 * Categories visitors opt into ("news", "offers"), and which subscriptions belong to them.
 * Deleting a category removes only the memberships; the subscriptions stay.
 */
import { fail } from '../errors.js';
import { MAX_CATEGORY_NAME, MAX_DESCRIPTION_LENGTH } from '../limits.js';
import * as store from '../store/categories.js';
import { setCategoryCap } from '../store/frequency-caps.js';
import { setCategoryQuietHours } from '../store/quiet-hours.js';
import { parseFrequencyCap, parseQuietHours } from '../delivery-policy.js';
import type { Context } from './context.js';
import { resolveSubscriptionRefs } from './subscription-lookup.js';

export interface CategoryInfo {
  id: number;
  name: string;
  description: string | null;
  subscribers: number;
  /** frequency cap for notifications to this category, e.g. "3/day"; null: none */
  cap: string | null;
  /** quiet hours for notifications to this category, e.g. "21:00-09:00"; null: the config's */
  quietHours: string | null;
  createdAt: string;
}

const slug = new RegExp(`^[a-z0-9_-]{1,${MAX_CATEGORY_NAME}}$`);

/** Throws an input error unless `name` is a lowercase slug; `field` (inside document `at`) names the input. */
export function validateCategoryName(name: unknown, field = 'name', at?: string): string {
  if (typeof name !== 'string' || !slug.test(name)) {
    const shown = typeof name === 'string' ? `"${name.length > 70 ? `${name.slice(0, 67)}...` : name}"` : String(name);
    throw fail('invalid_input', `${shown} is not a valid category name: use lowercase letters a-z, digits, "-" and "_" (1 to ${MAX_CATEGORY_NAME} characters)`, {
      field,
      at,
      details: { name },
    });
  }
  return name;
}

export function addCategory(ctx: Context, name: string, description?: string | null): CategoryInfo {
  validateCategoryName(name, 'name');
  const text = validateDescription(description);
  if (store.categoryByName(ctx.db, name)) throw fail('category_exists', `category "${name}" already exists`, { details: { name } });
  const row = store.insertCategory(ctx.db, { name, description: text, createdAt: ctx.now() });
  return describe({ ...row, subscribers: 0 });
}

export function listCategories(ctx: Context): CategoryInfo[] {
  return store.allCategoriesWithCounts(ctx.db).map(describe);
}

/** A category by id (number, or digits that are not also a name) or name. */
export function getCategory(ctx: Context, idOrName: string | number): CategoryInfo {
  return describe(store.categoryWithCount(ctx.db, resolveCategory(ctx, idOrName).id)!);
}

export function updateCategory(
  ctx: Context,
  idOrName: string | number,
  change: { name?: string | undefined; description?: string | null | undefined; cap?: string | null | undefined; quietHours?: string | null | undefined },
): CategoryInfo {
  const row = resolveCategory(ctx, idOrName);
  // Checked before anything is written: a bad cap changes nothing else either.
  const cap = change.cap === undefined ? undefined : (parseFrequencyCap(change.cap, { field: 'cap' })?.text ?? null);
  const quiet = change.quietHours === undefined ? undefined : (parseQuietHours(change.quietHours, { field: 'quietHours' })?.text ?? null);
  const update: { name?: string; description?: string | null } = {};
  if (change.name !== undefined && change.name !== row.name) {
    validateCategoryName(change.name, 'name');
    if (store.categoryByName(ctx.db, change.name)) throw fail('category_exists', `category "${change.name}" already exists`, { details: { name: change.name } });
    update.name = change.name;
  }
  if (change.description !== undefined) update.description = validateDescription(change.description);
  ctx.db.transaction(() => {
    store.updateCategoryRow(ctx.db, row.id, update);
    if (cap !== undefined) setCategoryCap(ctx.db, row.id, cap);
    if (quiet !== undefined) setCategoryQuietHours(ctx.db, row.id, quiet);
  })();
  return getCategory(ctx, row.id);
}

/** Deletes the category and its memberships; returns what it was (with the member count). */
export function deleteCategory(ctx: Context, idOrName: string | number): CategoryInfo {
  const info = getCategory(ctx, idOrName);
  store.deleteCategoryRow(ctx.db, info.id);
  return info;
}

export interface MembershipChange {
  category: string;
  /** memberships created (assign) or removed (unassign) */
  changed: number;
  /** already members (assign) or not members (unassign) */
  unchanged: number;
}

/** Adds subscriptions (ids or endpoints) to a category; all must exist, or nothing changes. */
export function assignCategory(ctx: Context, name: string | number, subscriptionIds: readonly (number | string)[]): MembershipChange {
  const category = resolveCategory(ctx, name);
  const ids = resolveSubscriptionIds(ctx, subscriptionIds);
  const changed = ctx.db.transaction(() => store.addMembers(ctx.db, category.id, ids))();
  return { category: category.name, changed, unchanged: ids.length - changed };
}

export function unassignCategory(ctx: Context, name: string | number, subscriptionIds: readonly (number | string)[]): MembershipChange {
  const category = resolveCategory(ctx, name);
  const ids = resolveSubscriptionIds(ctx, subscriptionIds);
  const changed = ctx.db.transaction(() => store.removeMembers(ctx.db, category.id, ids))();
  return { category: category.name, changed, unchanged: ids.length - changed };
}

/**
 * Category ids for names, checking each (`field` names the input they came in). Unknown names are an
 * input error unless `create` is set, when they are created.
 */
export function categoryIdsFor(ctx: Context, names: readonly string[], field: string, create = false): number[] {
  const ids: number[] = [];
  for (const name of names) {
    validateCategoryName(name, field);
    const row = store.categoryByName(ctx.db, name);
    if (row) ids.push(row.id);
    else if (create) ids.push(store.insertCategory(ctx.db, { name, description: null, createdAt: ctx.now() }).id);
    else throw unknownCategory(name, field);
  }
  return [...new Set(ids)];
}

function unknownCategory(name: string, field: string) {
  return fail('unknown_category', `category "${name}" does not exist`, { field, details: { category: name } });
}

function resolveCategory(ctx: Context, idOrName: string | number): store.CategoryRow {
  if (typeof idOrName === 'number') {
    const row = store.categoryById(ctx.db, idOrName);
    if (!row) throw fail('category_not_found', `category ${idOrName} does not exist`, { details: { id: idOrName } });
    return row;
  }
  const byName = store.categoryByName(ctx.db, idOrName);
  if (byName) return byName;
  if (/^\d+$/.test(idOrName)) {
    const byId = store.categoryById(ctx.db, Number(idOrName));
    if (byId) return byId;
  }
  throw fail('category_not_found', `category "${idOrName}" does not exist`, { details: { name: idOrName } });
}

function resolveSubscriptionIds(ctx: Context, refs: readonly (number | string)[]): number[] {
  if (refs.length === 0) throw fail('invalid_request', 'no subscriptions given', { field: 'subscriptions' });
  const { ids, unknown } = resolveSubscriptionRefs(ctx, refs);
  if (unknown.length) throw fail('subscription_not_found', `no such subscription${unknown.length > 1 ? 's' : ''}: ${unknown.join(', ')}`, { details: { missing: unknown } });
  return ids;
}

function validateDescription(description: string | null | undefined): string | null {
  if (description === undefined || description === null) return null;
  const text = description.trim();
  if (text.length > MAX_DESCRIPTION_LENGTH) throw fail('invalid_input', `at most ${MAX_DESCRIPTION_LENGTH} characters`, { field: 'description' });
  return text === '' ? null : text;
}

function describe(row: store.CategoryWithCount): CategoryInfo {
  return {
    id: row.id,
    name: row.name,
    description: row.description,
    subscribers: row.subscribers,
    cap: row.frequency_cap ?? null,
    quietHours: row.quiet_hours ?? null,
    createdAt: new Date(row.created_at).toISOString(),
  };
}
