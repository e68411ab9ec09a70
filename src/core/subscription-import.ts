/**
 * Importing subscriptions from other systems: a JSON array, NDJSON (one subscription per line) or
 * a JSON object with a `subscriptions` array, detected from the first bytes, read as a stream so a
 * million records never sit in memory at once.
 *
 * NDJSON is split by lines and each line parsed by JSON.parse, so a broken line is one rejected
 * record. JSON documents go through a small scanner written here rather than a streaming-JSON
 * library: it tokenises only the envelope (`[ ... ]` or `{"subscriptions": [ ... ]}`) and finds
 * where each element ends (bracket depth, strings, escapes), then hands the element's text to the
 * native JSON.parse. That keeps parsing at native speed (a char-by-char JS tokenizer such as
 * stream-json builds every value token by token, several times slower) and lets one malformed
 * element be reported and skipped instead of ending the import.
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
import { inputError, PushctlError, usageError } from '../errors.js';
import { allKeys } from '../store/keys.js';
import { categoryIdsByName, insertCategory } from '../store/categories.js';
import * as store from '../store/subscriptions.js';
import { validateCategoryName } from './categories.js';
import type { Context } from './context.js';
import { endpointPolicyFromConfig, type EndpointPolicy } from './endpoint-policy.js';
import { activeSigningKey } from './keys.js';
import { MAX_LABEL_LENGTH, MAX_USER_AGENT_LENGTH, validateOptionalText, validateSubscription } from './subscription-rules.js';

export type ImportFormat = 'ndjson' | 'json-array' | 'json-object' | 'empty';

/** Where a record sits in the input: its line, and for JSON documents its array index. */
export interface RecordPosition {
  line: number;
  index?: number;
}

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
export const MAX_RECORD_CHARS = 1 << 20;
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
  const flagCategories = (opts.categories ?? []).map((name) => validateCategoryName(name, '--category'));
  for (const name of flagCategories) {
    if (!categoryIds.has(name) && !opts.createCategories) {
      throw usageError(`--category: category "${name}" does not exist (create it with "pushctl categories add ${name}", or pass --create-categories)`, { flag: '--category', category: name });
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

  /** Category ids for the record, creating categories when allowed; unknown names reject it. */
  const resolveCategories = (record: CheckedRecord): number[] | undefined => {
    if (!record.categories) return undefined;
    const ids: number[] = [];
    for (const name of record.categories) {
      let id = categoryIds.get(name);
      if (id === undefined) {
        if (!opts.createCategories) {
          throw inputError(`${where(record.position)}: categories: category "${name}" does not exist (create it first, or pass --create-categories)`, { field: 'categories' });
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
  /** Writing stops with --dry-run, and once a strict import has a bad record. */
  const writing = () => !opts.dryRun && !(strict && summary.rejected > 0);
  const commitBatch = () => {
    if (open && !strict) {
      open.commit();
      open = undefined;
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
      reject(position, error.message, error.details?.field as string | undefined);
    }
  };

  try {
    const reader = new RecordReader(onRecord, (position, message) => reject(position, message));
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
      reject({ line: Number(error.details?.line ?? 0) }, error.message);
    }
    summary.format = reader.format;
    commitBatch();
    if (strict) {
      if (summary.rejected > 0) strict.rollback();
      else strict.commit();
    }
  } catch (error) {
    open?.rollback();
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
  if (record.vapidPublicKey !== undefined && record.vapidPublicKey !== null) {
    const keyId = typeof record.vapidPublicKey === 'string' ? keyIds.get(record.vapidPublicKey) : undefined;
    if (keyId === undefined) {
      throw inputError(`${at}: vapidPublicKey is not a VAPID key in this store (import it first with "pushctl keys import", or drop the field to use the active key)`, { field: 'vapidPublicKey' });
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
      throw inputError(`${at}: failureCount must be a whole number, 0 or more`, { field: 'failureCount' });
    }
    write.failureCount = record.failureCount;
  }

  let categories: string[] | undefined;
  if (record.categories !== undefined && record.categories !== null) {
    if (!Array.isArray(record.categories)) throw inputError(`${at}: categories must be an array of category names`, { field: 'categories' });
    categories = record.categories.map((name) => validateCategoryName(name, `${at}: categories`));
  }
  if (flagCategories.length) categories = categories ? [...new Set([...categories, ...flagCategories])] : flagCategories;
  return { position, write, categories };
}

/** ISO 8601 text or ms since the epoch; undefined when absent, null when null. */
function optionalTime(value: unknown, at: string, field: string): number | null | undefined {
  if (value === undefined) return undefined;
  if (value === null) return null;
  const ms = typeof value === 'number' ? value : typeof value === 'string' && /^\d{4}-\d{2}-\d{2}T/.test(value) ? Date.parse(value) : NaN;
  if (!Number.isSafeInteger(ms) || ms < 0) throw inputError(`${at}: ${field} must be an ISO 8601 time or milliseconds since the epoch`, { field });
  return ms;
}

/** "line 7" for NDJSON, "index 3 (line 12)" inside a JSON document. */
export function where(position: RecordPosition): string {
  return position.index === undefined ? `line ${position.line}` : `index ${position.index} (line ${position.line})`;
}

// ---------------------------------------------------------------------------------------------
// Reading records

type RecordHandler = (value: unknown, position: RecordPosition) => void;
type BadRecordHandler = (position: RecordPosition, message: string) => void;

/** Detects the format from the first line, then hands chunks to the matching reader. */
export class RecordReader {
  format: ImportFormat = 'empty';
  private head = '';
  private reader: NdjsonReader | JsonDocumentReader | undefined;

  constructor(private readonly onRecord: RecordHandler, private readonly onBad: BadRecordHandler) {}

  feed(chunk: string): void {
    if (this.reader) {
      this.reader.feed(chunk);
      return;
    }
    this.head += chunk;
    this.detect(false);
  }

  end(): void {
    if (!this.reader) this.detect(true);
    this.reader?.end();
  }

  private detect(ended: boolean): void {
    const text = this.head.replace(/^\uFEFF/, '');
    const start = text.search(/\S/);
    if (start < 0) {
      if (ended) this.format = 'empty';
      return;
    }
    const first = text[start];
    if (first === '{') {
      const newline = text.indexOf('\n', start);
      if (newline < 0 && !ended && text.length < MAX_RECORD_CHARS) return;
      const firstLine = (newline < 0 ? text.slice(start) : text.slice(start, newline)).trim();
      this.format = looksLikeDocument(firstLine) ? 'json-object' : 'ndjson';
    } else {
      this.format = first === '[' ? 'json-array' : 'ndjson';
    }
    this.reader = this.format === 'ndjson' ? new NdjsonReader(this.onRecord, this.onBad) : new JsonDocumentReader(this.onRecord, this.onBad);
    this.head = '';
    this.reader.feed(text);
  }
}

/**
 * Is a first line starting with "{" the start of a JSON document (an object with a `subscriptions`
 * array, maybe pretty-printed over many lines) rather than the first NDJSON record?
 */
function looksLikeDocument(firstLine: string): boolean {
  try {
    const value = JSON.parse(firstLine) as unknown;
    return typeof value === 'object' && value !== null && Array.isArray((value as Record<string, unknown>).subscriptions);
  } catch {
    // Incomplete on its own line: a document if the line is a valid beginning of a JSON object.
    const probe = new JsonDocumentReader(() => {}, () => {});
    try {
      probe.feed(firstLine);
      return probe.looksLikeWrapperStart();
    } catch {
      return false;
    }
  }
}

class NdjsonReader {
  private rest = '';
  private line = 0;
  /** Skipping the remainder of an over-long line. */
  private skipping = false;

  constructor(private readonly onRecord: RecordHandler, private readonly onBad: BadRecordHandler) {}

  feed(chunk: string): void {
    const text = this.rest + chunk;
    let start = 0;
    let newline: number;
    while ((newline = text.indexOf('\n', start)) >= 0) {
      this.line++;
      if (this.skipping) this.skipping = false;
      else this.handle(text.slice(start, newline));
      start = newline + 1;
    }
    this.rest = text.slice(start);
    if (this.rest.length > MAX_RECORD_CHARS && !this.skipping) {
      this.onBad({ line: this.line + 1 }, `line ${this.line + 1}: longer than ${MAX_RECORD_CHARS} characters`);
      this.skipping = true;
    }
    if (this.skipping) this.rest = '';
  }

  end(): void {
    if (this.skipping) return;
    if (this.rest.length > 0) {
      this.line++;
      this.handle(this.rest);
      this.rest = '';
    }
  }

  private handle(text: string): void {
    // JSON.parse skips surrounding whitespace (and a CR); only blank lines need a look.
    if (text.length === 0 || (text.charCodeAt(0) <= 32 && text.trim() === '')) return;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (error) {
      this.onBad({ line: this.line }, `line ${this.line}: not JSON (${shortJsonError(error)})`);
      return;
    }
    this.onRecord(value, { line: this.line });
  }
}

const enum State {
  Start,
  ObjectKeyOrEnd,
  ObjectKey,
  InKey,
  Colon,
  ObjectValue,
  ObjectCommaOrEnd,
  ElementOrEnd,
  Element,
  ArrayCommaOrEnd,
  Done,
}

const enum Ch {
  Newline = 10,
  Quote = 34,
  Comma = 44,
  Colon = 58,
  OpenBracket = 91,
  Backslash = 92,
  CloseBracket = 93,
  OpenBrace = 123,
  CloseBrace = 125,
}

/**
 * Streams the elements of `[ ... ]` or of the `subscriptions` array in `{ ..., "subscriptions":
 * [ ... ], ... }`. The envelope is checked token by token; each element (and any other value in
 * the object) is captured as text by bracket depth and parsed with JSON.parse. A structural error
 * in the envelope ends the import with an input error naming the line.
 */
class JsonDocumentReader {
  private buf = '';
  private pos = 0;
  private line = 1;
  private state = State.Start;
  private topLevel: 'array' | 'object' | undefined;
  /** Inside the object: reading the subscriptions array (true) or skipping another value. */
  private inSubscriptions = false;
  private sawSubscriptions = false;
  private key = '';
  private keyEscape = false;
  private index = 0;
  // Capture of one value as text.
  private capturing = false;
  private captureStart = 0;
  private captureLine = 0;
  private depth = 0;
  private inString = false;
  private escape = false;
  private scalar = false;

  constructor(private readonly onRecord: RecordHandler, private readonly onBad: BadRecordHandler) {}

  feed(chunk: string): void {
    this.buf = this.capturing ? this.buf.slice(this.captureStart) + chunk : chunk;
    if (this.capturing) {
      this.pos -= this.captureStart;
      this.captureStart = 0;
    } else {
      this.pos = 0;
    }
    this.scan();
    if (this.capturing && this.pos - this.captureStart > MAX_RECORD_CHARS) {
      throw this.fatal(`a value longer than ${MAX_RECORD_CHARS} characters (line ${this.captureLine}); split the file or use NDJSON`);
    }
  }

  end(): void {
    if (this.capturing && this.scalar) this.finishCapture(this.buf.length);
    if (this.state !== State.Done) throw this.fatal('unexpected end of input: the JSON document is incomplete');
    if (this.topLevel === 'object' && !this.sawSubscriptions) throw this.fatal('the JSON object has no "subscriptions" array');
  }

  private scan(): void {
    const buf = this.buf;
    const length = buf.length;
    let i = this.pos;
    while (i < length) {
      const c = buf.charCodeAt(i);
      if (this.capturing) {
        if (this.scalar) {
          if (c === Ch.Comma || c === Ch.CloseBracket || c === Ch.CloseBrace || isSpace(c)) {
            this.finishCapture(i);
            continue; // the delimiter is handled by the state machine
          }
        } else if (c === Ch.Newline) this.line++;
        else if (this.inString) {
          if (this.escape) this.escape = false;
          else if (c === Ch.Backslash) this.escape = true;
          else if (c === Ch.Quote) {
            this.inString = false;
            if (this.depth === 0) {
              this.finishCapture(i + 1);
              i++;
              continue;
            }
          }
        } else if (c === Ch.Quote) this.inString = true;
        else if (c === Ch.OpenBrace || c === Ch.OpenBracket) this.depth++;
        else if (c === Ch.CloseBrace || c === Ch.CloseBracket) {
          this.depth--;
          if (this.depth === 0) {
            this.finishCapture(i + 1);
            i++;
            continue;
          }
        }
        i++;
        continue;
      }

      if (isSpace(c)) {
        if (c === Ch.Newline) this.line++;
        i++;
        continue;
      }
      switch (this.state) {
        case State.Start:
          if (c === Ch.OpenBracket) {
            this.topLevel = 'array';
            this.state = State.ElementOrEnd;
          } else if (c === Ch.OpenBrace) {
            this.topLevel = 'object';
            this.state = State.ObjectKeyOrEnd;
          } else throw this.unexpected(buf, i, 'expected "[" or "{"');
          break;
        case State.ObjectKeyOrEnd:
        case State.ObjectKey:
          if (c === Ch.Quote) {
            this.state = State.InKey;
            this.key = '';
            this.keyEscape = false;
          } else if (c === Ch.CloseBrace && this.state === State.ObjectKeyOrEnd) this.state = State.Done;
          else throw this.unexpected(buf, i, 'expected a key in double quotes');
          break;
        case State.InKey:
          // Keys are short; read character by character, escapes kept raw (only "subscriptions" matters).
          if (this.keyEscape) {
            this.keyEscape = false;
            this.key += buf[i];
          } else if (c === Ch.Backslash) {
            this.keyEscape = true;
            this.key += '\\';
          } else if (c === Ch.Quote) this.state = State.Colon;
          else if (c === Ch.Newline) throw this.unexpected(buf, i, 'unterminated key');
          else this.key += buf[i];
          break;
        case State.Colon:
          if (c !== Ch.Colon) throw this.unexpected(buf, i, `expected ":" after "${this.key}"`);
          this.state = State.ObjectValue;
          break;
        case State.ObjectValue:
          if (this.key === 'subscriptions') {
            if (c !== Ch.OpenBracket) throw this.unexpected(buf, i, '"subscriptions" must be an array');
            this.sawSubscriptions = true;
            this.inSubscriptions = true;
            this.index = 0;
            this.state = State.ElementOrEnd;
          } else {
            this.inSubscriptions = false;
            this.startCapture(c, i);
            this.state = State.ObjectCommaOrEnd;
            if (!this.scalar) i++;
            continue;
          }
          break;
        case State.ObjectCommaOrEnd:
          if (c === Ch.Comma) this.state = State.ObjectKey;
          else if (c === Ch.CloseBrace) this.state = State.Done;
          else throw this.unexpected(buf, i, 'expected "," or "}"');
          break;
        case State.ElementOrEnd:
        case State.Element:
          if (c === Ch.CloseBracket && this.state === State.ElementOrEnd) {
            this.endArray();
            break;
          }
          if (c === Ch.CloseBracket || c === Ch.Comma) throw this.unexpected(buf, i, 'expected a value');
          this.startCapture(c, i);
          this.state = State.ArrayCommaOrEnd;
          if (!this.scalar) i++;
          continue;
        case State.ArrayCommaOrEnd:
          if (c === Ch.Comma) this.state = State.Element;
          else if (c === Ch.CloseBracket) this.endArray();
          else throw this.unexpected(buf, i, 'expected "," or "]"');
          break;
        case State.Done:
          throw this.unexpected(buf, i, 'data after the end of the JSON document');
      }
      i++;
    }
    this.pos = i;
  }

  private startCapture(c: number, i: number): void {
    this.capturing = true;
    this.captureStart = i;
    this.captureLine = this.line;
    this.inString = c === Ch.Quote;
    this.escape = false;
    this.scalar = !(c === Ch.OpenBrace || c === Ch.OpenBracket || c === Ch.Quote);
    this.depth = c === Ch.OpenBrace || c === Ch.OpenBracket ? 1 : 0;
  }

  /** For format detection: after one line, is this plausibly the start of a wrapper object? */
  looksLikeWrapperStart(): boolean {
    if (this.topLevel !== 'object') return false;
    return this.sawSubscriptions || (!this.capturing && (this.state === State.ObjectKeyOrEnd || this.state === State.ObjectKey));
  }

  private finishCapture(end: number): void {
    const text = this.buf.slice(this.captureStart, end);
    this.capturing = false;
    this.pos = end;
    const elementOf = this.topLevel === 'array' || this.inSubscriptions;
    if (!elementOf) {
      // Another value in the wrapper object: it only has to be JSON.
      try {
        JSON.parse(text);
      } catch (error) {
        throw this.fatal(`line ${this.captureLine}: the value of "${this.key}" is not JSON (${shortJsonError(error)})`);
      }
      return;
    }
    const position: RecordPosition = { line: this.captureLine, index: this.index++ };
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (error) {
      this.onBad(position, `${where(position)}: not JSON (${shortJsonError(error)})`);
      return;
    }
    this.onRecord(value, position);
  }

  private endArray(): void {
    if (this.topLevel === 'array') this.state = State.Done;
    else {
      this.inSubscriptions = false;
      this.state = State.ObjectCommaOrEnd;
    }
  }

  private unexpected(buf: string, i: number, expected: string): PushctlError {
    return this.fatal(`line ${this.line}: unexpected ${JSON.stringify(buf.slice(i, i + 12))}: ${expected}`);
  }

  private fatal(message: string): PushctlError {
    return inputError(`invalid JSON document: ${message}`, { line: this.line });
  }
}

function isSpace(c: number): boolean {
  return c === 32 || c === 10 || c === 13 || c === 9;
}

function shortJsonError(error: unknown): string {
  return (error as Error).message.replace(/^Unexpected token/, 'unexpected token').split('\n')[0]!.slice(0, 100);
}
