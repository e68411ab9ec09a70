/**
 * One error type for everything pushctl reports to a person or a client. The kind decides the
 * CLI exit code and the HTTP status, so both faces agree on what a failure means.
 */
export type ErrorKind = 'usage' | 'input' | 'not-found' | 'conflict' | 'auth' | 'push' | 'busy' | 'internal';

export class PushctlError extends Error {
  readonly kind: ErrorKind;
  /** Machine-readable detail (field, line, ...) for --json output and HTTP error bodies. */
  readonly details: Record<string, unknown> | undefined;

  constructor(kind: ErrorKind, message: string, details?: Record<string, unknown>) {
    super(message);
    this.name = 'PushctlError';
    this.kind = kind;
    this.details = details;
  }
}

export const usageError = (message: string, details?: Record<string, unknown>) =>
  new PushctlError('usage', message, details);
export const inputError = (message: string, details?: Record<string, unknown>) =>
  new PushctlError('input', message, details);
export const notFound = (message: string, details?: Record<string, unknown>) =>
  new PushctlError('not-found', message, details);
export const conflict = (message: string, details?: Record<string, unknown>) =>
  new PushctlError('conflict', message, details);

/** Exit codes: 2 for anything the user can fix by changing the command line or input, else 1. */
export function exitCodeFor(error: unknown): number {
  if (error instanceof PushctlError && (error.kind === 'usage' || error.kind === 'input')) return 2;
  return 1;
}

export function httpStatusFor(error: unknown): number {
  if (!(error instanceof PushctlError)) return 500;
  switch (error.kind) {
    case 'usage':
    case 'input':
      return 400;
    case 'not-found':
      return 404;
    case 'conflict':
      return 409;
    case 'auth':
      return 401;
    case 'push':
      return 502;
    case 'busy':
      return 503;
    default:
      return 500;
  }
}

/** SQLite (or the file system under it) ran out of space: SQLITE_FULL, or ENOSPC on a write. */
export function isDiskFull(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'SQLITE_FULL' || code === 'ENOSPC' || (error instanceof PushctlError && error.details?.diskFull === true);
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
    return new PushctlError('busy', 'the database is busy: another process held its write lock too long; try again shortly');
  }
  if (isDiskFull(error)) {
    return new PushctlError('internal', 'the disk is full: the database could not be written; free some space and try again', { diskFull: true });
  }
  if (code === 'SQLITE_CONSTRAINT_UNIQUE') {
    const column = /UNIQUE constraint failed: ([\w.]+)/.exec(error.message)?.[1] ?? 'a unique value';
    return new PushctlError('conflict', `${column}: already exists (another process wrote it at the same time)`);
  }
  return fromPostgresError(code, error);
}

/** The same for PostgreSQL (SQLSTATE codes, and the socket errors of a server that went away). */
function fromPostgresError(code: string, error: Error): PushctlError | undefined {
  if (code === '23505') {
    const table = (error as { table?: string }).table;
    const column = /^Key \(([^)]+)\)/.exec((error as { detail?: string }).detail ?? '')?.[1];
    const what = column ? (table ? `${table}.${column}` : column) : 'a unique value';
    return new PushctlError('conflict', `${what}: already exists (another process wrote it at the same time)`);
  }
  // Serialisation failure, deadlock, lock timeout: another writer won; trying again is right.
  if (code === '40001' || code === '40P01' || code === '55P03') {
    return new PushctlError('busy', 'the database is busy: another process held the rows this needed; try again shortly');
  }
  // Connection lost or refused, server shutting down or starting up.
  if (code.startsWith('08') || code === '57P01' || code === '57P02' || code === '57P03' || code === 'ECONNREFUSED' || code === 'ECONNRESET') {
    return new PushctlError('busy', 'the database is unavailable (connection refused or lost); try again shortly');
  }
  return undefined;
}
