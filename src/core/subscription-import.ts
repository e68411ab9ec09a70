/**
 * Importing subscriptions from other systems: a JSON array, NDJSON (one subscription per line) or
 * a JSON object with a `subscriptions` array, detected from the first bytes, read as a stream so a
 * million records never sit in memory at once.
 * Records come from record-reader.ts (format detection and streaming parse).
 *
 * Writing: records are validated as they arrive and written in batches of up to 2,000 (one store
 * call and transaction each), early when the input pauses, so nothing accumulates in memory and no
 * transaction stays open while waiting for input; a record's row and categories are in the same
 * transaction, so an interrupted import leaves whole records only. With --strict the whole import
 * is one transaction: one pass over the input (standard input cannot be read twice), committed only
 * if every record is good; after the first bad record it only validates, to report them all. The
 * price is that other writers wait while a large strict import runs.
 */
import { StringDecoder } from 'node:string_decoder';
import { fail, isDiskFull, PushctlError } from '../errors.js';
import type { StoreOps, SubscriptionUpsert, SubscriptionWrite } from '../store/store.js';
import { validateCategoryName } from './categories.js';
import type { Context } from './context.js';
import { endpointPolicyFromConfig, type EndpointPolicy } from './endpoint-policy.js';
import { activeSigningKey } from './keys.js';
import { RecordReader, where, type ImportFormat, type RecordPosition } from './record-reader.js';
import { MAX_LABEL_LENGTH, MAX_USER_AGENT_LENGTH } from '../limits.js';
import { validateOptionalText, validateSubscription } from './subscription-rules.js';
import { validateLanguage, validateTimeZone } from './subscriber-locale.js';


export interface Rejection extends RecordPosition {
  field?: string;
  message: string;
}

export interface ImportOptions {
  /** --category: added to every record's own categories. */
  categories?: string[] | undefined;
  /** --create-categories: create categories that do not exist yet instead of refusing them. */
  createCategories?: boolean | undefined;
  strict?: boolean | undefined;
  dryRun?: boolean | undefined;
  /** Records per transaction. */
  batchSize?: number | undefined;
  /** Each bad record, as soon as it is found. */
  onRejected?: ((rejection: Rejection) => void) | undefined;
  /** After each chunk of input. */
  onProgress?: ((bytesRead: number, records: number) => void) | undefined;
}

export interface ImportSummary {
  format: ImportFormat;
  records: number;
  /** new subscriptions (or that would be, with --dry-run) */
  imported: number;
  /** existing endpoints whose keys/categories were replaced */
  updated: number;
  rejected: number;
  /** false when --dry-run, or --strict refused the import */
  written: boolean;
  dryRun: boolean;
  strict: boolean;
  /** categories created by --create-categories */
  createdCategories: string[];
  /** the first MAX_REPORTED rejections */
  rejections: Rejection[];
}

export const MAX_REPORTED = 1000;
/** Commit when the input pauses this long. */
const IDLE_COMMIT_MS = 50;
/** Records per write (one transaction each, without --strict). */
const DEFAULT_BATCH = 2000;

/** A record that passed validation. */
interface CheckedRecord {
  position: RecordPosition;
  write: SubscriptionWrite;
  /** record categories plus --category; undefined leaves an existing row's membership alone */
  categories: string[] | undefined;
}

export async function importSubscriptions(ctx: Context, input: AsyncIterable<string | Buffer>, opts: ImportOptions = {}): Promise<ImportSummary> {
  const policy = endpointPolicyFromConfig(ctx.config);
  const activeKeyId = (await activeSigningKey(ctx)).id;
  const keyIds = new Map((await ctx.store.allKeys()).map((key) => [key.public_key, key.id]));
  const categoryIds = await ctx.store.categoryIdsByName();
  const flagCategories = (opts.categories ?? []).map((name) => validateCategoryName(name, 'category'));
  for (const name of flagCategories) {
    if (!categoryIds.has(name) && !opts.createCategories) {
      throw fail('unknown_category', `category "${name}" does not exist`, { field: 'category', details: { category: name } });
    }
  }
  const batchSize = opts.batchSize ?? DEFAULT_BATCH;
  const strict = Boolean(opts.strict && !opts.dryRun);
  const summary: ImportSummary = {
    format: 'empty', records: 0, imported: 0, updated: 0, rejected: 0, written: false,
    dryRun: Boolean(opts.dryRun), strict: Boolean(opts.strict), createdCategories: [], rejections: [],
  };
  const dryRunCategories = new Set<string>();

  const reject = (position: RecordPosition, message: string, field?: string) => {
    const rejection: Rejection = { ...position, message, ...(field !== undefined ? { field } : {}) };
    summary.rejected++;
    if (summary.rejections.length < MAX_REPORTED) summary.rejections.push(rejection);
    opts.onRejected?.(rejection);
  };
  /** Text that could not even be read as a record (a line that is not JSON) is still one: counts add up. */
  const rejectUnreadable = (position: RecordPosition, message: string) => {
    summary.records++;
    reject(position, message);
  };
  /** Writing stops with --dry-run, and once a strict import has a bad record. */
  const writing = () => !opts.dryRun && !(strict && summary.rejected > 0);

  /** Category ids for the record, creating categories when allowed; unknown names reject it. */
  const resolveCategories = async (ops: StoreOps, record: CheckedRecord): Promise<number[] | undefined> => {
    if (!record.categories) return undefined;
    const ids: number[] = [];
    for (const name of record.categories) {
      let id = categoryIds.get(name);
      if (id === undefined) {
        if (!opts.createCategories) {
          throw fail('unknown_category', `category "${name}" does not exist`, { at: where(record.position), field: 'categories', details: { category: name } });
        }
        if (!writing()) {
          dryRunCategories.add(name);
          continue;
        }
        id = (await ops.insertCategory({ name, description: null, createdAt: ctx.now() })).id;
        categoryIds.set(name, id);
        summary.createdCategories.push(name);
      }
      ids.push(id);
    }
    return ids;
  };

  // Records are validated as they arrive and written in batches (one store call, one transaction
  // each): at most a batch sits in memory, and a batch is written early when the input pauses (a
  // slow pipe), so what arrived is stored without waiting for more. With --strict, one
  // transaction spans the import. A batch's rows and categories commit together: an interrupted
  // import leaves whole records only.
  let pending: CheckedRecord[] = [];
  /** Records in committed batches: what stays when a later write fails (a full disk). */
  let committed = 0;
  const flush = async (ops: StoreOps) => {
    if (!pending.length) return;
    const batch = pending;
    pending = [];
    const upserts: SubscriptionUpsert[] = [];
    for (const record of batch) {
      try {
        // Categories first: an unknown one rejects the record before its row is written.
        const ids = await resolveCategories(ops, record);
        if (!writing()) {
          if ((await ops.subscriptionIdByEndpoint(record.write.endpoint)) === undefined) summary.imported++;
          else summary.updated++;
          continue;
        }
        upserts.push({ write: record.write, categoryIds: ids });
      } catch (error) {
        if (!(error instanceof PushctlError)) throw error;
        reject(record.position, error.message, error.field);
      }
    }
    if (!upserts.length) return;
    for (const result of await ops.upsertSubscriptions(upserts)) {
      if (result.created) summary.imported++;
      else summary.updated++;
    }
    if (!strict) committed += upserts.length;
  };

  const onRecord = (value: unknown, position: RecordPosition) => {
    summary.records++;
    try {
      pending.push(prepareRecord(value, position, policy, keyIds, activeKeyId, flagCategories, ctx.now()));
    } catch (error) {
      if (!(error instanceof PushctlError)) throw error;
      reject(position, error.message, error.field);
    }
  };

  const readAll = async (ops: StoreOps) => {
    const reader = new RecordReader(onRecord, rejectUnreadable);
    const decoder = new StringDecoder('utf8');
    let bytes = 0;
    try {
      const chunks = input[Symbol.asyncIterator]();
      for (;;) {
        const next = chunks.next();
        // Waiting for input with records in hand: store them if the pause lasts.
        const step = pending.length && !strict ? await idleOr(next, IDLE_COMMIT_MS) : await next;
        const result = step === IDLE ? (await flush(ops), await next) : step;
        if (result.done) break;
        const chunk = result.value;
        if (typeof chunk === 'string') {
          bytes += Buffer.byteLength(chunk);
          reader.feed(chunk);
        } else {
          bytes += chunk.length;
          reader.feed(decoder.write(chunk));
        }
        if (pending.length >= batchSize) await flush(ops);
        opts.onProgress?.(bytes, summary.records);
      }
      reader.feed(decoder.end());
      reader.end();
    } catch (error) {
      // A broken JSON document cannot be read past the break: it counts as one more bad record,
      // and (without --strict) what came before it is still imported.
      if (!(error instanceof PushctlError && error.kind === 'input')) throw error;
      rejectUnreadable({ line: Number(error.details?.line ?? 0) }, error.message);
    }
    summary.format = reader.format;
    await flush(ops);
  };

  try {
    if (strict) {
      await ctx.store
        .transaction(async (tx) => {
          await readAll(tx);
          // A bad record anywhere: nothing of the strict import stays.
          if (summary.rejected > 0) throw STRICT_ROLLBACK;
        })
        .catch((error: unknown) => {
          if (error !== STRICT_ROLLBACK) throw error;
        });
      if (summary.rejected === 0) committed = summary.imported + summary.updated;
    } else {
      await readAll(ctx.store);
    }
  } catch (error) {
    if (isDiskFull(error)) {
      throw fail(
        'disk_full',
        `the disk is full: the import stopped after ${summary.records} record${summary.records === 1 ? "" : "s"}; ${committed} record${committed === 1 ? ' was' : 's were'} committed before that and stay${committed === 1 ? 's' : ''}, the rest ${strict ? '(the whole strict import) ' : ''}were not written. Free some space and import again (records already stored are updated, not duplicated)`,
        { details: { diskFull: true, committed, records: summary.records } },
      );
    }
    throw error;
  }
  summary.written = !summary.dryRun && !(summary.strict && summary.rejected > 0);
  summary.createdCategories = [...new Set(summary.written ? summary.createdCategories : [...summary.createdCategories, ...dryRunCategories])];
  return summary;
}

const STRICT_ROLLBACK = Symbol('strict import rolled back');
const IDLE = Symbol('input idle');

/** The next chunk, or IDLE when it has not come within `ms` (the chunk's promise stays good). */
async function idleOr<T>(next: Promise<T>, ms: number): Promise<T | typeof IDLE> {
  let timer: NodeJS.Timeout | undefined;
  const idle = new Promise<typeof IDLE>((resolve) => (timer = setTimeout(resolve, ms, IDLE)));
  try {
    return await Promise.race([next, idle]);
  } finally {
    clearTimeout(timer);
  }
}

/** Checks one record: the PushSubscription itself and the pushctl fields an export carries. */
function prepareRecord(
  value: unknown,
  position: RecordPosition,
  policy: EndpointPolicy,
  keyIds: Map<string, number>,
  activeKeyId: number,
  flagCategories: string[],
  now: number,
): CheckedRecord {
  const at = where(position);
  const valid = validateSubscription(value, policy, at);
  const record = value as Record<string, unknown>;
  const write: SubscriptionWrite = {
    endpoint: valid.endpoint,
    p256dh: valid.p256dh,
    auth: valid.auth,
    expirationTime: valid.expirationTime,
    keyId: activeKeyId,
    updatedAt: now,
  };

  if (record.label !== undefined) write.label = validateOptionalText(record.label, at, 'label', MAX_LABEL_LENGTH);
  if (record.userAgent !== undefined) write.userAgent = validateOptionalText(record.userAgent, at, 'userAgent', MAX_USER_AGENT_LENGTH);
  if (record.timeZone !== undefined) write.timeZone = validateTimeZone(record.timeZone, 'timeZone', at);
  if (record.language !== undefined) write.language = validateLanguage(record.language, 'language', at);
  if (record.vapidPublicKey !== undefined && record.vapidPublicKey !== null) {
    const keyId = typeof record.vapidPublicKey === 'string' ? keyIds.get(record.vapidPublicKey) : undefined;
    if (keyId === undefined) {
      throw fail('unknown_key', 'is not a VAPID key in this store (import the key first, or drop the field to use the active key)', { at, field: 'vapidPublicKey' });
    }
    write.keyId = keyId;
  }
  const createdAt = optionalTime(record.createdAt, at, 'createdAt');
  if (createdAt !== undefined && createdAt !== null) write.createdAt = createdAt;
  const updatedAt = optionalTime(record.updatedAt, at, 'updatedAt');
  if (updatedAt !== undefined && updatedAt !== null) write.updatedAt = updatedAt;
  const lastSuccessAt = optionalTime(record.lastSuccessAt, at, 'lastSuccessAt');
  if (lastSuccessAt !== undefined) write.lastSuccessAt = lastSuccessAt;
  if (record.failureCount !== undefined && record.failureCount !== null) {
    if (typeof record.failureCount !== 'number' || !Number.isSafeInteger(record.failureCount) || record.failureCount < 0) {
      throw fail('invalid_input', 'must be a whole number, 0 or more', { at, field: 'failureCount' });
    }
    write.failureCount = record.failureCount;
  }

  let categories: string[] | undefined;
  if (record.categories !== undefined && record.categories !== null) {
    if (!Array.isArray(record.categories)) throw fail('invalid_input', 'must be an array of category names', { at, field: 'categories' });
    categories = record.categories.map((name) => validateCategoryName(name, 'categories', at));
  }
  if (flagCategories.length) categories = categories ? [...new Set([...categories, ...flagCategories])] : flagCategories;
  return { position, write, categories };
}

/** ISO 8601 text or ms since the epoch; undefined when absent, null when null. */
function optionalTime(value: unknown, at: string, field: string): number | null | undefined {
  if (value === undefined) return undefined;
  if (value === null) return null;
  const ms = typeof value === 'number' ? value : typeof value === 'string' && /^\d{4}-\d{2}-\d{2}T/.test(value) ? Date.parse(value) : NaN;
  if (!Number.isSafeInteger(ms) || ms < 0) throw fail('invalid_input', 'must be an ISO 8601 time or milliseconds since the epoch', { at, field });
  return ms;
}

