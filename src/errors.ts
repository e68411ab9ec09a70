/**
 * One error type for everything pushctl reports to a person or a client. The kind decides the
 * CLI exit code and the HTTP status, so both faces agree on what a failure means.
 */
export type ErrorKind = 'usage' | 'input' | 'not-found' | 'conflict' | 'auth' | 'push' | 'internal';

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
    default:
      return 500;
  }
}
