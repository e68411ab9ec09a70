/**
 * Importing subscriptions from other systems: a JSON array, NDJSON (one subscription per line) or
 * a JSON object with a `subscriptions` array, detected from the first bytes, read as a stream so a
 * million records never sit in memory at once.
 * Records come from record-reader.ts (format detection and streaming parse).
 *
 * Writing: each record is validated and written as it arrives (nothing accumulates in memory),
 * in transactions of up to 25,000 records that never stay open while waiting for input; a record's
 * row and categories are in the same transaction, so an interrupted import leaves whole records
 * only. With --strict the whole import is one transaction: one pass over the input (standard
 * input cannot be read twice, and a validate-then-write second pass would need a spool file),
 * committed only if every record is good; after the first bad record it only validates, to report
 * them all. The price is that other writers wait (busy timeout) while a large strict import runs.
 */
import { StringDecoder } from 'node:string_decoder';
import { fail, isDiskFull, PushctlError } from '../errors.js';
import { allKeys } from '../store/keys.js';
import { categoryIdsByName, insertCategory } from '../store/categories.js';
import * as store from '../store/subscriptions.js';
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

/** A record that passed validation. */
interface CheckedRecord {
  position: RecordPosition;
  write: store.SubscriptionWrite;
  /** record categories plus --category; undefined leaves an existing row's membership alone */
  categories: string[] | undefined;
}

export async function importSubscriptions(ctx: Context, input: AsyncIterable<string | Buffer>, opts: ImportOptions = {}): Promise<ImportSummary> {
  const policy = endpointPolicyFromConfig(ctx.config);
  const activeKeyId = activeSigningKey(ctx).id;
  const keyIds = new Map(allKeys(ctx.db).map((key) => [key.public_key, key.id]));
  const categoryIds = categoryIdsByName(ctx.db);
  const flagCategories = (opts.categories ?? []).map((name) => validateCategoryName(name, 'category'));
  for (const name of flagCategories) {
    if (!categoryIds.has(name) && !opts.createCategories) {
      throw fail('unknown_category', `category "${name}" does not exist`, { field: 'category', details: { category: name } });
    }
  }
  const batchSize = opts.batchSize ?? 25_000;
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

  /** Category ids for the record, creating categories when allowed; unknown names reject it. */
  const resolveCategories = (record: CheckedRecord): number[] | undefined => {
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
        id = insertCategory(ctx.db, { name, description: null, createdAt: ctx.now() }).id;
        categoryIds.set(name, id);
        summary.createdCategories.push(name);
      }
      ids.push(id);
    }
    return ids;
  };

  // Without --strict, records are written as they arrive inside a transaction committed every
  // batchSize records, or when the input pauses (a slow pipe), so a transaction never sits
  // waiting on input while other writers (the receiver) wait on it; and validated records are
  // not held in memory. With --strict, one transaction spans the import.
  const strict = opts.strict && !opts.dryRun ? store.beginWrite(ctx.db) : undefined;
  let open: { commit(): void; rollback(): void } | undefined = strict;
  let inTransaction = 0;
  /** Records in committed transactions: what stays when a later write fails (a full disk). */
  let committed = 0;
  /** Writing stops with --dry-run, and once a strict import has a bad record. */
  const writing = () => !opts.dryRun && !(strict && summary.rejected > 0);
  const commitBatch = () => {
    if (open && !strict) {
      open.commit();
      open = undefined;
      committed += inTransaction;
    }
    inTransaction = 0;
  };

  const onRecord = (value: unknown, position: RecordPosition) => {
    summary.records++;
    try {
      const pending = prepareRecord(value, position, policy, keyIds, activeKeyId, flagCategories, ctx.now());
      if (!writing()) {
        resolveCategories(pending);
        if (store.subscriptionIdByEndpoint(ctx.db, pending.write.endpoint) === undefined) summary.imported++;
        else summary.updated++;
        return;
      }
      open ??= store.beginWrite(ctx.db);
      // Categories first: an unknown one rejects the record before its row is written.
      const ids = resolveCategories(pending);
      const result = store.upsertSubscription(ctx.db, pending.write);
      if (ids) store.setCategories(ctx.db, result.id, ids, result.created);
      if (result.created) summary.imported++;
      else summary.updated++;
      if (++inTransaction >= batchSize) commitBatch();
    } catch (error) {
      if (!(error instanceof PushctlError)) throw error;
      reject(position, error.message, error.field);
    }
  };

  try {
    const reader = new RecordReader(onRecord, rejectUnreadable);
    const decoder = new StringDecoder('utf8');
    let bytes = 0;
    let idle: NodeJS.Timeout | undefined;
    let idleError: unknown;
    const idleCommit = () => {
      try {
        commitBatch();
      } catch (error) {
        idleError = error;
      }
    };
    try {
      for await (const chunk of input) {
        clearTimeout(idle);
        if (idleError) throw idleError;
        if (typeof chunk === 'string') {
          bytes += Buffer.byteLength(chunk);
          reader.feed(chunk);
        } else {
          bytes += chunk.length;
          reader.feed(decoder.write(chunk));
        }
        // Runs only while waiting for the next chunk, never in the middle of a record.
        if (open && !strict) idle = setTimeout(idleCommit, IDLE_COMMIT_MS);
        opts.onProgress?.(bytes, summary.records);
      }
      clearTimeout(idle);
      if (idleError) throw idleError;
      reader.feed(decoder.end());
      reader.end();
    } catch (error) {
      // A broken JSON document cannot be read past the break: it counts as one more bad record,
      // and (without --strict) what came before it is still imported.
      if (!(error instanceof PushctlError && error.kind === 'input')) throw error;
      rejectUnreadable({ line: Number(error.details?.line ?? 0) }, error.message);
    }
    summary.format = reader.format;
    commitBatch();
    if (strict) {
      if (summary.rejected > 0) strict.rollback();
      else {
        strict.commit();
        committed = summary.imported + summary.updated;
      }
    }
  } catch (error) {
    // SQLite may have rolled back already (SQLITE_FULL can end the transaction itself).
    if (ctx.db.inTransaction) open?.rollback();
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
  const write: store.SubscriptionWrite = {
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

