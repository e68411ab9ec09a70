/**
 * Categories visitors opt into ("news", "offers"), and which subscriptions belong to them.
 * Deleting a category removes only the memberships; the subscriptions stay.
 */
import { fail } from '../errors.js';
import { MAX_CATEGORY_NAME, MAX_DESCRIPTION_LENGTH } from '../limits.js';
import type { CategoryRow, CategoryWithCount, StoreOps } from '../store/store.js';
import { parseCategoryQuietHours, parseFrequencyCap } from '../delivery-policy.js';
import type { Context } from './context.js';
import { resolveSubscriptionRefs } from './subscription-lookup.js';

export interface CategoryInfo {
  id: number;
  name: string;
  description: string | null;
  subscribers: number;
  /** frequency cap for notifications to this category, e.g. "3/day"; null: none */
  cap: string | null;
  /** quiet hours for notifications to this category, e.g. "21:00-09:00"; "none": none; null: the config's */
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

export async function addCategory(ctx: Context, name: string, description?: string | null, policy: DeliveryPolicyChange = {}): Promise<CategoryInfo> {
  validateCategoryName(name, 'name');
  const text = validateDescription(description);
  const { cap, quiet } = parsePolicy(policy);
  if (await ctx.store.categoryByName(name)) throw exists(name);
  // A concurrent add (another replica) between the check and the insert hits the unique index: the same answer.
  const row = await ctx.store
    .transaction(async (tx) => {
      const inserted = await tx.insertCategory({ name, description: text, createdAt: ctx.now() });
      if (cap != null) await tx.setCategoryCap(inserted.id, cap);
      if (quiet != null) await tx.setCategoryQuietHours(inserted.id, quiet);
      return inserted;
    })
    .catch(async (error: unknown) => {
      if (await ctx.store.categoryByName(name)) throw exists(name);
      throw error;
    });
  return cap != null || quiet != null ? getCategory(ctx, row.id) : describe({ ...row, subscribers: 0 });
}

/** A category's own cap and quiet hours as given (undefined: leave alone); see parseCategoryQuietHours. */
export interface DeliveryPolicyChange {
  cap?: string | null | undefined;
  quietHours?: string | null | undefined;
}

/** Checked before anything is written: a bad cap or range changes nothing else either. */
function parsePolicy(change: DeliveryPolicyChange): { cap: string | null | undefined; quiet: string | null | undefined } {
  return {
    cap: change.cap === undefined ? undefined : change.cap === null ? null : (parseFrequencyCap(change.cap, { field: 'cap' })?.text ?? null),
    quiet: change.quietHours === undefined ? undefined : parseCategoryQuietHours(change.quietHours, { field: 'quietHours' }),
  };
}

export async function listCategories(ctx: Context): Promise<CategoryInfo[]> {
  return (await ctx.store.allCategoriesWithCounts()).map(describe);
}

/** A category by id (number, or digits that are not also a name) or name. */
export async function getCategory(ctx: Context, idOrName: string | number): Promise<CategoryInfo> {
  const row = await resolveCategory(ctx.store, idOrName);
  const withCount = await ctx.store.categoryWithCount(row.id);
  if (!withCount) throw notFound(idOrName);
  return describe(withCount);
}

export async function updateCategory(
  ctx: Context,
  idOrName: string | number,
  change: { name?: string | undefined; description?: string | null | undefined } & DeliveryPolicyChange,
): Promise<CategoryInfo> {
  const row = await resolveCategory(ctx.store, idOrName);
  const { cap, quiet } = parsePolicy(change);
  const update: { name?: string; description?: string | null } = {};
  if (change.name !== undefined && change.name !== row.name) {
    validateCategoryName(change.name, 'name');
    if (await ctx.store.categoryByName(change.name)) throw exists(change.name);
    update.name = change.name;
  }
  if (change.description !== undefined) update.description = validateDescription(change.description);
  await ctx.store.transaction(async (tx) => {
    await tx.updateCategory(row.id, update);
    if (cap !== undefined) await tx.setCategoryCap(row.id, cap);
    if (quiet !== undefined) await tx.setCategoryQuietHours(row.id, quiet);
  });
  return getCategory(ctx, row.id);
}

/** Deletes the category and its memberships; returns what it was (with the member count). */
export async function deleteCategory(ctx: Context, idOrName: string | number): Promise<CategoryInfo> {
  const info = await getCategory(ctx, idOrName);
  await ctx.store.deleteCategory(info.id);
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
export async function assignCategory(ctx: Context, name: string | number, subscriptionIds: readonly (number | string)[]): Promise<MembershipChange> {
  const category = await resolveCategory(ctx.store, name);
  const ids = await resolveSubscriptionIds(ctx, subscriptionIds);
  const changed = await ctx.store.addMembers(category.id, ids);
  return { category: category.name, changed, unchanged: ids.length - changed };
}

export async function unassignCategory(ctx: Context, name: string | number, subscriptionIds: readonly (number | string)[]): Promise<MembershipChange> {
  const category = await resolveCategory(ctx.store, name);
  const ids = await resolveSubscriptionIds(ctx, subscriptionIds);
  const changed = await ctx.store.removeMembers(category.id, ids);
  return { category: category.name, changed, unchanged: ids.length - changed };
}

/**
 * Category ids for names, checking each (`field` names the input they came in). Unknown names are an
 * input error unless `create` is set, when they are created. `ops`: the transaction to read and
 * write in, when there is one.
 */
export async function categoryIdsFor(ctx: Context, names: readonly string[], field: string, create = false, ops: StoreOps = ctx.store): Promise<number[]> {
  const ids: number[] = [];
  for (const name of names) {
    validateCategoryName(name, field);
    const row = await ops.categoryByName(name);
    if (row) ids.push(row.id);
    else if (create) ids.push((await ops.insertCategory({ name, description: null, createdAt: ctx.now() })).id);
    else throw unknownCategory(name, field);
  }
  return [...new Set(ids)];
}

function unknownCategory(name: string, field: string) {
  return fail('unknown_category', `category "${name}" does not exist`, { field, details: { category: name } });
}

async function resolveCategory(ops: StoreOps, idOrName: string | number): Promise<CategoryRow> {
  if (typeof idOrName === 'number') {
    const row = await ops.categoryById(idOrName);
    if (!row) throw notFound(idOrName);
    return row;
  }
  const byName = await ops.categoryByName(idOrName);
  if (byName) return byName;
  if (/^\d+$/.test(idOrName)) {
    const byId = await ops.categoryById(Number(idOrName));
    if (byId) return byId;
  }
  throw notFound(idOrName);
}

function notFound(idOrName: string | number) {
  return typeof idOrName === 'number'
    ? fail('category_not_found', `category ${idOrName} does not exist`, { details: { id: idOrName } })
    : fail('category_not_found', `category "${idOrName}" does not exist`, { details: { name: idOrName } });
}

function exists(name: string) {
  return fail('category_exists', `category "${name}" already exists`, { details: { name } });
}

async function resolveSubscriptionIds(ctx: Context, refs: readonly (number | string)[]): Promise<number[]> {
  if (refs.length === 0) throw fail('invalid_request', 'no subscriptions given', { field: 'subscriptions' });
  const { ids, unknown } = await resolveSubscriptionRefs(ctx, refs);
  if (unknown.length) throw fail('subscription_not_found', `no such subscription${unknown.length > 1 ? 's' : ''}: ${unknown.join(', ')}`, { details: { missing: unknown } });
  return ids;
}

function validateDescription(description: string | null | undefined): string | null {
  if (description === undefined || description === null) return null;
  const text = description.trim();
  if (text.length > MAX_DESCRIPTION_LENGTH) throw fail('invalid_input', `at most ${MAX_DESCRIPTION_LENGTH} characters`, { field: 'description' });
  return text === '' ? null : text;
}

function describe(row: CategoryWithCount): CategoryInfo {
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
