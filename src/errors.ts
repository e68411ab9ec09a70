/**
 * The error catalogue: every error pushctl reports to a person or a client has a stable machine
 * `code` listed here, with what it means and its kind; the kind decides the CLI exit code and the
 * HTTP status, so both faces agree on what a failure means (as ntfy's server/errors.go does).
 *
 * The core speaks neither face's language: an error names the input it is about with a neutral
 * `field` (`status`, `failedMoreThan`, `sendAt`) and may mention other fields with `ref()`. Each
 * face renders the message in its own words (the CLI: `--failed-more-than`, plus a hint such as a
 * command to run; the HTTP API: `failed_more_than`). See docs/errors.md.
 */
import { MAX_PLAINTEXT_BYTES } from './limits.js';

export type ErrorKind =
  | 'usage'
  | 'input'
  | 'not-found'
  | 'conflict'
  | 'auth'
  | 'forbidden'
  | 'method'
  | 'too-large'
  | 'media-type'
  | 'rate-limited'
  | 'push'
  | 'busy'
  | 'internal';

/** Kind -> HTTP status and exit code (2: the user can fix the command line or input; 1: otherwise). */
export const KINDS: Record<ErrorKind, { status: number; exit: number }> = {
  usage: { status: 400, exit: 2 },
  input: { status: 400, exit: 2 },
  'not-found': { status: 404, exit: 1 },
  conflict: { status: 409, exit: 1 },
  auth: { status: 401, exit: 1 },
  forbidden: { status: 403, exit: 1 },
  method: { status: 405, exit: 2 },
  'too-large': { status: 413, exit: 2 },
  'media-type': { status: 415, exit: 2 },
  'rate-limited': { status: 429, exit: 1 },
  push: { status: 502, exit: 1 },
  busy: { status: 503, exit: 1 },
  internal: { status: 500, exit: 1 },
};

/** Every error code, what it means, and its kind. Codes are stable: clients match on them. */
export const ERRORS = {
  // The request or command line
  invalid_request: { kind: 'usage', meaning: 'the request is malformed: options that cannot be combined, a missing choice, an unreadable body' },
  invalid_input: { kind: 'input', meaning: 'a value is malformed or out of range; `field` names it' },
  invalid_config: { kind: 'usage', meaning: 'the configuration file or an environment variable is wrong; the message names the file and key' },
  time_in_past: { kind: 'usage', meaning: 'a due time lies in the past (ask to send at once instead)' },
  message_too_large: { kind: 'input', meaning: `the push message is larger than a push service accepts (${MAX_PLAINTEXT_BYTES} bytes of payload)` },
  endpoint_refused: { kind: 'input', meaning: 'the endpoint is not an allowed push service (private address, unlisted host, plain http, credentials)' },
  unknown_category: { kind: 'input', meaning: 'the input names a category that does not exist' },
  unknown_subscription: { kind: 'input', meaning: 'the input names a subscription that does not exist' },
  unknown_key: { kind: 'input', meaning: 'the input names a VAPID key that is not in the store' },
  // Things addressed directly that are not there
  not_found: { kind: 'not-found', meaning: 'no such resource (an unknown URL path, a file that is not there)' },
  notification_not_found: { kind: 'not-found', meaning: 'no notification with this id' },
  subscription_not_found: { kind: 'not-found', meaning: 'no subscription with this id or endpoint' },
  category_not_found: { kind: 'not-found', meaning: 'no category with this id or name' },
  key_not_found: { kind: 'not-found', meaning: 'no VAPID key with this id' },
  no_keys: { kind: 'not-found', meaning: 'the store has no VAPID keys yet' },
  no_recipients: { kind: 'not-found', meaning: 'no subscription matches the target: nothing was sent (allow an empty target to record the notification anyway)' },
  store_not_found: { kind: 'not-found', meaning: 'the database file does not exist yet (only init, keys and serve create it)' },
  // State that forbids the operation
  conflict: { kind: 'conflict', meaning: 'the thing already exists (a file, a value another process wrote at the same time)' },
  store_not_empty: { kind: 'conflict', meaning: 'the target database of a copy already holds data (force to replace its contents)' },
  keys_exist: { kind: 'conflict', meaning: 'an active VAPID key exists; replacing it strands the subscriptions made under it (force to replace)' },
  category_exists: { kind: 'conflict', meaning: 'a category with this name already exists' },
  notification_state: { kind: 'conflict', meaning: 'the notification\'s status does not allow this (cancel a sent one, resume a finished one, send a recurring rule)' },
  notification_leased: { kind: 'conflict', meaning: 'another process is sending this notification right now' },
  keys_external: { kind: 'usage', meaning: 'VAPID keys come from the environment; they cannot be managed in the store' },
  // The HTTP face's own
  unauthorized: { kind: 'auth', meaning: 'the admin token is missing or wrong' },
  cors_forbidden: { kind: 'forbidden', meaning: 'the request\'s Origin is not in serve.corsOrigins' },
  method_not_allowed: { kind: 'method', meaning: 'the path exists but not with this method (see the Allow header)' },
  payload_too_large: { kind: 'too-large', meaning: 'the request body is larger than the server accepts' },
  unsupported_media_type: { kind: 'media-type', meaning: 'the body is not UTF-8 JSON with Content-Type: application/json' },
  rate_limited: { kind: 'rate-limited', meaning: 'too many requests from this address (see Retry-After)' },
  // Everything else
  push_failed: { kind: 'push', meaning: 'the push service refused or could not be reached' },
  busy: { kind: 'busy', meaning: 'the database is busy or unreachable: another process held its write lock or rows too long, or the PostgreSQL server went away; try again shortly' },
  store_unavailable: { kind: 'busy', meaning: 'the PostgreSQL server could not be reached for longer than this process waits (serve: about 2 s, send and dispatch: minutes), or the connection was lost during a write whose outcome is unknown; try again shortly (serve recovers by itself)' },
  disk_full: { kind: 'internal', meaning: 'the disk under the database is full: nothing more could be written; free some space and try again (the message says what was kept)' },
  internal_error: { kind: 'internal', meaning: 'a bug or an unexpected failure; details only in the operator\'s log (or with --verbose)' },
} as const satisfies Record<string, { kind: ErrorKind; meaning: string }>;

export type ErrorCode = keyof typeof ERRORS;

/** A mention of another input inside a message, named by each face in its own words. */
export interface FieldRef {
  ref: string;
}
export type MessagePart = string | FieldRef;

export const ref = (field: string): FieldRef => ({ ref: field });

/** Tagged template for messages that mention fields: msg`choose ${ref('at')} or ${ref('cron')}`. */
export function msg(strings: TemplateStringsArray, ...values: (string | number | FieldRef)[]): MessagePart[] {
  const parts: MessagePart[] = [];
  strings.forEach((text, i) => {
    if (text) parts.push(text);
    if (i < values.length) {
      const value = values[i]!;
      parts.push(typeof value === 'object' ? value : String(value));
    }
  });
  return parts;
}

export interface ErrorOptions {
  /**
   * The message is already complete in one face's words and `field` is that face's name (errors
   * made with the generic helpers below): neither face prefixes or renames anything.
   */
  worded?: boolean | undefined;
  /** The input the error is about, in neutral camelCase (`status`, `failedMoreThan`, `keys.p256dh`). */
  field?: string | undefined;
  /** Where in a document (a file, `line 3`): its fields keep their document names on every face. */
  at?: string | undefined;
  /** Machine-readable extras (`missing`, `category`, `id`) for --json output and hints. */
  details?: Record<string, unknown> | undefined;
}

export class PushctlError extends Error {
  readonly code: ErrorCode;
  readonly kind: ErrorKind;
  readonly field: string | undefined;
  readonly at: string | undefined;
  readonly details: Record<string, unknown> | undefined;
  readonly parts: readonly MessagePart[];
  readonly worded: boolean;

  constructor(code: ErrorCode, text: string | MessagePart[], options: ErrorOptions = {}) {
    super('');
    this.name = 'PushctlError';
    this.code = code;
    this.kind = ERRORS[code].kind;
    this.parts = typeof text === 'string' ? [text] : text;
    this.field = options.field;
    this.at = options.at;
    this.details = options.details;
    this.worded = Boolean(options.worded);
    this.message = this.describe();
  }

  /**
   * The message with fields named by `nameOf` (a face's names for its own inputs), prefixed by
   * the location and the field: `--status: "done" is not one of ...`. Without `nameOf`, neutral.
   */
  describe(nameOf: (field: string) => string = (field) => field): string {
    const name = this.at === undefined ? nameOf : (field: string) => field;
    const body = this.parts.map((part) => (typeof part === 'string' ? part : name(part.ref))).join('');
    if (this.worded) return body;
    return [this.at, this.field ? name(this.field) : undefined, body].filter(Boolean).join(': ');
  }
}

export const fail = (code: ErrorCode, text: string | MessagePart[], options?: ErrorOptions) => new PushctlError(code, text, options);

/**
 * Generic errors for code that words its own message (face code, or code written before the
 * catalogue): a generic code, the message as given, `details.field` (if a string) as the field.
 * Prefer fail() with a specific code and a neutral field in the core.
 */
const generic = (code: ErrorCode) => (message: string, details?: Record<string, unknown>) =>
  new PushctlError(code, message, { worded: true, details, field: typeof details?.field === 'string' ? details.field : undefined });
export const usageError = generic('invalid_request');
export const inputError = generic('invalid_input');
export const notFound = generic('not_found');
export const conflict = generic('conflict');

export function exitCodeFor(error: unknown): number {
  return error instanceof PushctlError ? KINDS[error.kind].exit : 1;
}

export function httpStatusFor(error: unknown): number {
  return error instanceof PushctlError ? KINDS[error.kind].status : 500;
}

/** SQLite (or the file system under it) ran out of space: SQLITE_FULL, or ENOSPC on a write, or our own disk_full. */
export function isDiskFull(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'SQLITE_FULL' || code === 'ENOSPC' || code === 'disk_full' || (error instanceof PushctlError && error.details?.diskFull === true);
}

/**
 * Store errors a person can act on, as PushctlErrors (undefined for anything else): another
 * process holding the write lock past the busy timeout, and a unique value taken by a concurrent
 * writer between our check and our insert. Both faces translate through here.
 */
export function fromStoreError(error: unknown): PushctlError | undefined {
  if (error instanceof PushctlError || !(error instanceof Error)) return undefined;
  const code = (error as { code?: unknown }).code;
  if (typeof code !== 'string') return undefined;
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) {
    return fail('busy', 'the database is busy: another process held its write lock too long; try again shortly');
  }
  if (isDiskFull(error)) {
    return fail('disk_full', 'the disk is full: the database could not be written; free some space and try again', { details: { diskFull: true } });
  }
  if (code === 'SQLITE_CONSTRAINT_UNIQUE') {
    const column = /UNIQUE constraint failed: ([\w.]+)/.exec(error.message)?.[1] ?? 'a unique value';
    return fail('conflict', `${column}: already exists (another process wrote it at the same time)`);
  }
  return fromPostgresError(code, error);
}

/** The same for PostgreSQL (SQLSTATE codes, and the socket errors of a server that went away). */
function fromPostgresError(code: string, error: Error): PushctlError | undefined {
  if (code === '23505') {
    const table = (error as { table?: string }).table;
    const column = /^Key \(([^)]+)\)/.exec((error as { detail?: string }).detail ?? '')?.[1];
    const what = column ? (table ? `${table}.${column}` : column) : 'a unique value';
    return fail('conflict', `${what}: already exists (another process wrote it at the same time)`);
  }
  // Serialisation failure, deadlock, lock timeout: another writer won; trying again is right.
  if (code === '40001' || code === '40P01' || code === '55P03') {
    return fail('busy', 'the database is busy: another process held the rows this needed; try again shortly');
  }
  // Connection lost or refused, server shutting down or starting up.
  if (code.startsWith('08') || code === '57P01' || code === '57P02' || code === '57P03' || code === 'ECONNREFUSED' || code === 'ECONNRESET') {
    return fail('busy', 'the database is unavailable (connection refused or lost); try again shortly');
  }
  return undefined;
}
