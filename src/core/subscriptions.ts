/**
 * Subscriptions: saving (validate, then upsert by endpoint: the same endpoint twice is one
 * subscription), finding, listing, removing, exporting and pruning. Both faces and the importer
 * come through here, so a subscription is checked by one rule set however it arrives.
 */
import { fail, msg, ref } from '../errors.js';
import * as store from '../store/subscriptions.js';
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
}

/**
 * One line of `subscriptions export`: the browser's PushSubscription JSON plus pushctl's fields
 * (everything but the store's own ids). `subscriptions import` reads it back unchanged.
 */
export type ExportRecord = Omit<SubscriptionInfo, 'id' | 'keyId'>;

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
export function saveSubscription(ctx: Context, raw: unknown, opts: SaveOptions = {}): { id: number; created: boolean } {
  const { write, categories } = prepareSave(ctx, raw, opts);
  return ctx.db.transaction(() => {
    const categoryIds = categories ? categoryIdsFor(ctx, categories, 'categories') : undefined;
    const result = store.upsertSubscription(ctx.db, write);
    if (categoryIds) store.setCategories(ctx.db, result.id, categoryIds, result.created);
    return result;
  }).immediate();
}

/**
 * The browser's pushsubscriptionchange: the new subscription takes over the old one's categories
 * (and label and user agent, unless given), and the old one goes, in one transaction.
 */
export function replaceSubscription(ctx: Context, oldEndpoint: string, raw: unknown, opts: SaveOptions = {}): { id: number; created: boolean } {
  const { write, categories } = prepareSave(ctx, raw, opts);
  return ctx.db.transaction(() => {
    // By endpoint only: the old endpoint comes from a visitor, and must never name a row by id.
    const old = findRow(ctx, oldEndpoint, true);
    let categoryIds = categories ? categoryIdsFor(ctx, categories, 'categories') : undefined;
    if (old && old.endpoint !== write.endpoint) {
      categoryIds ??= store.categoryIdsOf(ctx.db, old.id);
      if (write.label === undefined) write.label = old.label;
      if (write.userAgent === undefined) write.userAgent = old.userAgent;
      if (write.timeZone === undefined) write.timeZone = old.timeZone;
      if (write.language === undefined) write.language = old.language;
      store.deleteSubscription(ctx.db, old.id);
    }
    const result = store.upsertSubscription(ctx.db, write);
    if (categoryIds) store.setCategories(ctx.db, result.id, categoryIds, result.created);
    return result;
  }).immediate();
}

function prepareSave(ctx: Context, raw: unknown, opts: SaveOptions): { write: store.SubscriptionWrite; categories: string[] | undefined } {
  const valid = validateSubscription(raw, endpointPolicyFromConfig(ctx.config), opts.where);
  const write: store.SubscriptionWrite = {
    ...valid,
    keyId: opts.keyId ?? activeSigningKey(ctx).id,
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
export function updateSubscriptionLocale(
  ctx: Context,
  idOrEndpoint: string | number,
  change: { timeZone?: string | null | undefined; language?: string | null | undefined },
): SubscriptionInfo {
  if (change.timeZone === undefined && change.language === undefined) {
    throw fail('invalid_request', msg`nothing to change: give ${ref('timeZone')} and/or ${ref('language')}`);
  }
  const timeZone = change.timeZone === undefined ? undefined : validateTimeZone(change.timeZone, 'timeZone');
  const language = change.language === undefined ? undefined : validateLanguage(change.language, 'language');
  const row = getSubscription(ctx, idOrEndpoint);
  store.updateLocale(ctx.db, row.id, { timeZone, language }, ctx.now());
  return getSubscription(ctx, row.id);
}

/** Removes a subscription by id or endpoint; false when there was none. */
export function removeSubscription(ctx: Context, idOrEndpoint: string | number): boolean {
  const row = findRow(ctx, idOrEndpoint);
  return row ? store.deleteSubscription(ctx.db, row.id) : false;
}

/** The subscription with this id or endpoint, or undefined. */
export function findSubscription(ctx: Context, idOrEndpoint: string | number): SubscriptionInfo | undefined {
  const row = findRow(ctx, idOrEndpoint);
  return row ? describe(store.subscriptionDetail(ctx.db, row.id)!) : undefined;
}

/** The subscription with this id or endpoint; a not-found error when there is none. */
export function getSubscription(ctx: Context, idOrEndpoint: string | number): SubscriptionInfo {
  const found = findSubscription(ctx, idOrEndpoint);
  if (!found) throw fail('subscription_not_found', `no subscription ${typeof idOrEndpoint === 'number' || /^\d+$/.test(idOrEndpoint) ? `with id ${idOrEndpoint}` : `with endpoint ${idOrEndpoint}`}`, { details: { subscription: idOrEndpoint } });
  return found;
}

/** Subscriptions in id order, read one at a time: never all in memory. */
export function* listSubscriptions(ctx: Context, opts: { category?: string | undefined; limit?: number | undefined } = {}): Generator<SubscriptionInfo> {
  const rows = store.iterateSubscriptionDetails(ctx.db, { categoryId: categoryFilter(ctx, opts.category), limit: opts.limit });
  for (const row of rows) yield describe(row);
}

/** Export records (what `import` reads back), one at a time. */
export function* exportSubscriptions(ctx: Context, opts: { category?: string | undefined } = {}): Generator<ExportRecord> {
  for (const info of listSubscriptions(ctx, opts)) {
    yield {
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
export function pruneSubscriptions(ctx: Context, opts: PruneOptions): { matched: number; removed: number; dryRun: boolean } {
  if (opts.olderThanMs === undefined && opts.failedMoreThan === undefined && !opts.expired) {
    throw fail('invalid_request', msg`say what is stale with ${ref('inactive')} DURATION, ${ref('failedMoreThan')} N and/or ${ref('expired')}`);
  }
  if (opts.failedMoreThan !== undefined && (!Number.isSafeInteger(opts.failedMoreThan) || opts.failedMoreThan < 0)) {
    throw fail('invalid_input', 'must be a whole number, 0 or more', { field: 'failedMoreThan' });
  }
  const filter: store.PruneFilter = {
    noSuccessSince: opts.olderThanMs === undefined ? undefined : ctx.now() - opts.olderThanMs,
    failedMoreThan: opts.failedMoreThan,
    expiredAt: opts.expired ? ctx.now() : undefined,
  };
  if (opts.dryRun) {
    const matched = store.countPrunable(ctx.db, filter);
    return { matched, removed: 0, dryRun: true };
  }
  const removed = ctx.db.transaction(() => store.deletePrunable(ctx.db, filter)).immediate();
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

function findRow(ctx: Context, idOrEndpoint: string | number, endpointOnly = false): FoundRow | undefined {
  const row = findSubscriptionRow(ctx, idOrEndpoint, endpointOnly);
  return row && { id: row.id, endpoint: row.endpoint, label: row.label, userAgent: row.user_agent, timeZone: row.time_zone, language: row.language };
}

function describe(row: store.SubscriptionDetailRow): SubscriptionInfo {
  return {
    id: row.id,
    endpoint: row.endpoint,
    expirationTime: row.expiration_time,
    keys: { p256dh: row.p256dh, auth: row.auth },
    categories: row.category_names ? row.category_names.split(store.CATEGORY_SEPARATOR).sort() : [],
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
  };
}
