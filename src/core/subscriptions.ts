/**
 * Subscriptions: saving (validate, then upsert by endpoint: the same endpoint twice is one
 * subscription), finding, listing, removing, exporting and pruning. Both faces and the importer
 * come through here, so a subscription is checked by one rule set however it arrives.
 */
import { fail, msg, ref } from '../errors.js';
import { CATEGORY_SEPARATOR, type PruneFilter, type StoreOps, type SubscriptionDetailRow, type SubscriptionWrite } from '../store/store.js';
import { categoryIdsFor } from './categories.js';
import type { Context } from './context.js';
import { endpointPolicyFromConfig } from './endpoint-policy.js';
import { activeSigningKey } from './keys.js';
import { MAX_LABEL_LENGTH, MAX_USER_AGENT_LENGTH } from '../limits.js';
import { categoryFilter, findSubscriptionRow } from './subscription-lookup.js';

export { countSubscriptions } from './subscription-lookup.js';
import { validateOptionalText, validateSubscription } from './subscription-rules.js';
import { validateLanguage, validateTimeZone } from './subscriber-locale.js';

/** A subscription as both faces show it (JSON-friendly, camelCase, ISO times). */
export interface SubscriptionInfo {
  id: number;
  endpoint: string;
  expirationTime: number | null;
  keys: { p256dh: string; auth: string };
  categories: string[];
  label: string | null;
  userAgent: string | null;
  /** IANA zone the browser reported, e.g. "Europe/Berlin" */
  timeZone: string | null;
  /** BCP 47 tag, e.g. "de-DE" */
  language: string | null;
  keyId: number | null;
  vapidPublicKey: string | null;
  createdAt: string;
  updatedAt: string;
  lastSuccessAt: string | null;
  failureCount: number;
  /** Pushes were refused as not matching its VAPID key (stale-key): left out of broadcasts until a push succeeds or it re-subscribes. */
  staleKey: boolean;
  /** When it was marked stale-key; null when it is not. */
  staleKeySince: string | null;
}

/**
 * One line of `subscriptions export`: the browser's PushSubscription JSON plus pushctl's fields
 * (everything but the store's own ids). `subscriptions import` reads it back unchanged.
 */
export type ExportRecord = Omit<SubscriptionInfo, 'id' | 'keyId' | 'staleKey' | 'staleKeySince'>;

export interface SaveOptions {
  /** Replaces the subscription's categories when given; every name must exist. */
  categories?: string[] | undefined;
  label?: string | null | undefined;
  userAgent?: string | null | undefined;
  /** The browser's IANA zone and language; undefined keeps what an existing subscription has. */
  timeZone?: unknown;
  language?: unknown;
  /** Prefix for error messages ("request body", "line 3"). */
  where?: string | undefined;
  /** The VAPID key the subscription was made under (default: the active key). */
  keyId?: number | undefined;
}

/** Validates and upserts a subscription (by endpoint), with its categories, in one transaction. */
export async function saveSubscription(ctx: Context, raw: unknown, opts: SaveOptions = {}): Promise<{ id: number; created: boolean }> {
  const { write, categories } = await prepareSave(ctx, raw, opts);
  return ctx.store.transaction((tx) => saveIn(ctx, tx, write, categories));
}

/** The writes of saveSubscription, inside a transaction (the receiver's group commit has its own). */
export async function saveIn(ctx: Context, tx: StoreOps, write: SubscriptionWrite, categories: string[] | undefined): Promise<{ id: number; created: boolean }> {
  const categoryIds = categories ? await categoryIdsFor(ctx, categories, 'categories', false, tx) : undefined;
  const [result] = await tx.upsertSubscriptions([{ write, categoryIds }]);
  return result!;
}

/**
 * The browser's pushsubscriptionchange: the new subscription takes over the old one's categories
 * (and label and user agent, unless given), and the old one goes, in one transaction.
 */
export async function replaceSubscription(ctx: Context, oldEndpoint: string, raw: unknown, opts: SaveOptions = {}): Promise<{ id: number; created: boolean }> {
  const { write, categories } = await prepareSave(ctx, raw, opts);
  return ctx.store.transaction((tx) => replaceIn(ctx, tx, oldEndpoint, write, categories));
}

/** The writes of replaceSubscription, inside a transaction. */
export async function replaceIn(ctx: Context, tx: StoreOps, oldEndpoint: string, write: SubscriptionWrite, categories: string[] | undefined): Promise<{ id: number; created: boolean }> {
  // By endpoint only: the old endpoint comes from a visitor, and must never name a row by id.
  const old = await findRow(tx, oldEndpoint, true);
  let categoryIds = categories ? await categoryIdsFor(ctx, categories, 'categories', false, tx) : undefined;
  if (old && old.endpoint !== write.endpoint) {
    categoryIds ??= await tx.categoryIdsOf(old.id);
    if (write.label === undefined) write.label = old.label;
    if (write.userAgent === undefined) write.userAgent = old.userAgent;
    if (write.timeZone === undefined) write.timeZone = old.timeZone;
    if (write.language === undefined) write.language = old.language;
    await tx.deleteSubscription(old.id);
  }
  const [result] = await tx.upsertSubscriptions([{ write, categoryIds }]);
  return result!;
}

/** Checks a subscription and what comes with it, before any transaction: bad input writes nothing. */
export async function prepareSave(ctx: Context, raw: unknown, opts: SaveOptions): Promise<{ write: SubscriptionWrite; categories: string[] | undefined }> {
  const valid = validateSubscription(raw, endpointPolicyFromConfig(ctx.config), opts.where);
  const write: SubscriptionWrite = {
    ...valid,
    keyId: opts.keyId ?? (await activeSigningKey(ctx)).id,
    updatedAt: ctx.now(),
  };
  if (opts.label !== undefined) write.label = validateOptionalText(opts.label, opts.where, 'label', MAX_LABEL_LENGTH);
  if (opts.userAgent !== undefined) write.userAgent = validateOptionalText(opts.userAgent, opts.where, 'userAgent', MAX_USER_AGENT_LENGTH);
  if (opts.timeZone !== undefined) write.timeZone = validateTimeZone(opts.timeZone, 'timeZone');
  if (opts.language !== undefined) write.language = validateLanguage(opts.language, 'language');
  return { write, categories: opts.categories };
}

/**
 * `subscriptions update ID --time-zone --language`: changes the subscriber's zone and/or language
 * ("" or null clears one). Both are checked before anything is written.
 */
export async function updateSubscriptionLocale(
  ctx: Context,
  idOrEndpoint: string | number,
  change: { timeZone?: string | null | undefined; language?: string | null | undefined },
): Promise<SubscriptionInfo> {
  if (change.timeZone === undefined && change.language === undefined) {
    throw fail('invalid_request', msg`nothing to change: give ${ref('timeZone')} and/or ${ref('language')}`);
  }
  const timeZone = change.timeZone === undefined ? undefined : validateTimeZone(change.timeZone, 'timeZone');
  const language = change.language === undefined ? undefined : validateLanguage(change.language, 'language');
  const row = await getSubscription(ctx, idOrEndpoint);
  await ctx.store.updateLocale(row.id, { timeZone, language }, ctx.now());
  return getSubscription(ctx, row.id);
}

/** Removes a subscription by id or endpoint; false when there was none. */
export async function removeSubscription(ctx: Context, idOrEndpoint: string | number): Promise<boolean> {
  const row = await findRow(ctx.store, idOrEndpoint);
  return row ? ctx.store.deleteSubscription(row.id) : false;
}

/** The subscription with this id or endpoint, or undefined. */
export async function findSubscription(ctx: Context, idOrEndpoint: string | number): Promise<SubscriptionInfo | undefined> {
  const row = await findRow(ctx.store, idOrEndpoint);
  const detail = row && (await ctx.store.subscriptionDetail(row.id));
  return detail ? describe(detail) : undefined;
}

/** The subscription with this id or endpoint; a not-found error when there is none. */
export async function getSubscription(ctx: Context, idOrEndpoint: string | number): Promise<SubscriptionInfo> {
  const found = await findSubscription(ctx, idOrEndpoint);
  if (!found) throw fail('subscription_not_found', `no subscription ${typeof idOrEndpoint === 'number' || /^\d+$/.test(idOrEndpoint) ? `with id ${idOrEndpoint}` : `with endpoint ${idOrEndpoint}`}`, { details: { subscription: idOrEndpoint } });
  return found;
}

/** Subscriptions in id order, a page at a time: never all in memory. */
export async function* listSubscriptionPages(ctx: Context, opts: ListOptions = {}): AsyncGenerator<SubscriptionInfo[]> {
  const categoryId = await categoryFilter(ctx, opts.category);
  if (!opts.staleKey) {
    for await (const page of ctx.store.streamSubscriptionDetails({ categoryId, limit: opts.limit })) yield page.map(describe);
    return;
  }
  // --stale-key: few among many; filtered as the pages stream by, the limit counted after the filter.
  let left = opts.limit ?? Infinity;
  for await (const page of ctx.store.streamSubscriptionDetails({ categoryId })) {
    const stale = page.filter((row) => row.stale_key_at != null).slice(0, left).map(describe);
    left -= stale.length;
    if (stale.length) yield stale;
    if (left <= 0) return;
  }
}

export interface ListOptions {
  category?: string | undefined;
  limit?: number | undefined;
  /** only subscriptions marked stale-key */
  staleKey?: boolean | undefined;
}

/** Subscriptions in id order, one at a time (a page read ahead). */
export async function* listSubscriptions(ctx: Context, opts: ListOptions = {}): AsyncGenerator<SubscriptionInfo> {
  for await (const page of listSubscriptionPages(ctx, opts)) yield* page;
}

/** Export records (what `import` reads back), one at a time. */
export async function* exportSubscriptions(ctx: Context, opts: { category?: string | undefined } = {}): AsyncGenerator<ExportRecord[]> {
  for await (const page of listSubscriptionPages(ctx, opts)) yield page.map(toExportRecord);
}

function toExportRecord(info: SubscriptionInfo): ExportRecord {
  return {
    endpoint: info.endpoint,
    expirationTime: info.expirationTime,
    keys: info.keys,
    categories: info.categories,
    label: info.label,
    userAgent: info.userAgent,
    timeZone: info.timeZone,
    language: info.language,
    vapidPublicKey: info.vapidPublicKey,
    createdAt: info.createdAt,
    updatedAt: info.updatedAt,
    lastSuccessAt: info.lastSuccessAt,
    failureCount: info.failureCount,
  };
}

export interface PruneOptions {
  /** ms: no success (or, never successful, no creation) for this long */
  olderThanMs?: number | undefined;
  /** failure_count above this */
  failedMoreThan?: number | undefined;
  /** also every subscription whose expirationTime has passed */
  expired?: boolean | undefined;
  dryRun?: boolean | undefined;
}

/**
 * Drops stale subscriptions: inactivity and failure count must both hold when both are given;
 * `expired` adds those whose expirationTime has passed, whatever else they are.
 */
export async function pruneSubscriptions(ctx: Context, opts: PruneOptions): Promise<{ matched: number; removed: number; dryRun: boolean }> {
  if (opts.olderThanMs === undefined && opts.failedMoreThan === undefined && !opts.expired) {
    throw fail('invalid_request', msg`say what is stale with ${ref('inactive')} DURATION, ${ref('failedMoreThan')} N and/or ${ref('expired')}`);
  }
  if (opts.failedMoreThan !== undefined && (!Number.isSafeInteger(opts.failedMoreThan) || opts.failedMoreThan < 0)) {
    throw fail('invalid_input', 'must be a whole number, 0 or more', { field: 'failedMoreThan' });
  }
  const filter: PruneFilter = {
    noSuccessSince: opts.olderThanMs === undefined ? undefined : ctx.now() - opts.olderThanMs,
    failedMoreThan: opts.failedMoreThan,
    expiredAt: opts.expired ? ctx.now() : undefined,
  };
  if (opts.dryRun) {
    const matched = await ctx.store.countPrunable(filter);
    return { matched, removed: 0, dryRun: true };
  }
  const removed = await ctx.store.deletePrunable(filter);
  return { matched: removed, removed, dryRun: false };
}

interface FoundRow {
  id: number;
  endpoint: string;
  label: string | null;
  userAgent: string | null;
  timeZone: string | null;
  language: string | null;
}

async function findRow(ops: StoreOps, idOrEndpoint: string | number, endpointOnly = false): Promise<FoundRow | undefined> {
  const row = await findSubscriptionRow(ops, idOrEndpoint, endpointOnly);
  return row && { id: row.id, endpoint: row.endpoint, label: row.label, userAgent: row.user_agent, timeZone: row.time_zone, language: row.language };
}

function describe(row: SubscriptionDetailRow): SubscriptionInfo {
  return {
    id: row.id,
    endpoint: row.endpoint,
    expirationTime: row.expiration_time,
    keys: { p256dh: row.p256dh, auth: row.auth },
    categories: row.category_names ? row.category_names.split(CATEGORY_SEPARATOR).sort() : [],
    label: row.label,
    userAgent: row.user_agent,
    timeZone: row.time_zone,
    language: row.language,
    keyId: row.key_id,
    vapidPublicKey: row.vapid_public_key,
    createdAt: new Date(row.created_at).toISOString(),
    updatedAt: new Date(row.updated_at).toISOString(),
    lastSuccessAt: row.last_success_at === null ? null : new Date(row.last_success_at).toISOString(),
    failureCount: row.failure_count,
    staleKey: row.stale_key_at != null,
    staleKeySince: row.stale_key_at == null ? null : new Date(row.stale_key_at).toISOString(),
  };
}
