/**
 * Categories visitors opt into ("news", "offers"), and which subscriptions belong to them.
 * Deleting a category removes only the memberships; the subscriptions stay.
 */
import { conflict, inputError, notFound } from '../errors.js';
import * as store from '../store/categories.js';
import { setCategoryCap } from '../store/frequency-caps.js';
import { parseFrequencyCap } from './frequency-cap.js';
import { setCategoryQuietHours } from '../store/quiet-hours.js';
import { parseQuietHours } from './quiet-hours.js';
import { subscriptionByEndpoint, subscriptionById } from '../store/subscriptions.js';
import type { Context } from './context.js';

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

export const MAX_CATEGORY_NAME = 64;
export const MAX_DESCRIPTION_LENGTH = 500;
const slug = /^[a-z0-9_-]{1,64}$/;

/** Throws an input error unless `name` is a lowercase slug; `where` names the flag or field. */
export function validateCategoryName(name: unknown, where = 'category name'): string {
  if (typeof name !== 'string' || !slug.test(name)) {
    const shown = typeof name === 'string' ? `"${name.length > 70 ? `${name.slice(0, 67)}...` : name}"` : String(name);
    throw inputError(
      `${where}: ${shown} is not a valid category name: use lowercase letters a-z, digits, "-" and "_" (1 to ${MAX_CATEGORY_NAME} characters)`,
      { field: where, name },
    );
  }
  return name;
}

export function addCategory(ctx: Context, name: string, description?: string | null): CategoryInfo {
  validateCategoryName(name, 'name');
  const text = validateDescription(description);
  if (store.categoryByName(ctx.db, name)) throw conflict(`category "${name}" already exists`, { name });
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
  const cap = change.cap === undefined ? undefined : (parseFrequencyCap(change.cap, '--cap')?.text ?? null);
  const quiet = change.quietHours === undefined ? undefined : (parseQuietHours(change.quietHours, '--quiet-hours')?.text ?? null);
  const update: { name?: string; description?: string | null } = {};
  if (change.name !== undefined && change.name !== row.name) {
    validateCategoryName(change.name, 'name');
    if (store.categoryByName(ctx.db, change.name)) throw conflict(`category "${change.name}" already exists`, { name: change.name });
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
 * Category ids for names, checking each (`where` names the flag or field). Unknown names are an
 * input error unless `create` is set, when they are created.
 */
export function categoryIdsFor(ctx: Context, names: readonly string[], where: string, create = false): number[] {
  const ids: number[] = [];
  for (const name of names) {
    validateCategoryName(name, where);
    const row = store.categoryByName(ctx.db, name);
    if (row) ids.push(row.id);
    else if (create) ids.push(store.insertCategory(ctx.db, { name, description: null, createdAt: ctx.now() }).id);
    else throw unknownCategory(name, where);
  }
  return [...new Set(ids)];
}

export function unknownCategory(name: string, where: string) {
  return inputError(`${where}: category "${name}" does not exist (create it with "pushctl categories add ${name}")`, { field: where, category: name });
}

function resolveCategory(ctx: Context, idOrName: string | number): store.CategoryRow {
  if (typeof idOrName === 'number') {
    const row = store.categoryById(ctx.db, idOrName);
    if (!row) throw notFound(`category ${idOrName} does not exist`, { id: idOrName });
    return row;
  }
  const byName = store.categoryByName(ctx.db, idOrName);
  if (byName) return byName;
  if (/^\d+$/.test(idOrName)) {
    const byId = store.categoryById(ctx.db, Number(idOrName));
    if (byId) return byId;
  }
  throw notFound(`category "${idOrName}" does not exist`, { name: idOrName });
}

function resolveSubscriptionIds(ctx: Context, refs: readonly (number | string)[]): number[] {
  if (refs.length === 0) throw inputError('no subscriptions given (--subscription ID...)', { field: 'subscription' });
  const ids: number[] = [];
  const missing: string[] = [];
  for (const ref of refs) {
    const text = String(ref).trim();
    const row = /^\d+$/.test(text) ? subscriptionById(ctx.db, Number(text)) : subscriptionByEndpoint(ctx.db, canonicalUrl(text));
    if (row) ids.push(row.id);
    else missing.push(text);
  }
  if (missing.length) throw notFound(`no such subscription${missing.length > 1 ? 's' : ''}: ${missing.join(', ')}`, { missing });
  return [...new Set(ids)];
}

/** Endpoints are stored as URL serialises them; accept what an operator pastes. */
function canonicalUrl(text: string): string {
  try {
    return new URL(text).href;
  } catch {
    return text;
  }
}

function validateDescription(description: string | null | undefined): string | null {
  if (description === undefined || description === null) return null;
  const text = description.trim();
  if (text.length > MAX_DESCRIPTION_LENGTH) throw inputError(`description: at most ${MAX_DESCRIPTION_LENGTH} characters`, { field: 'description' });
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
