/**
 * Errors the HTTP face answers with, and the one JSON shape every error takes:
 * `{"error": {"code", "message", "field"?}}`. Core errors (PushctlError) keep their message and get
 * their status from httpStatusFor; anything unexpected becomes a bare 500 with no detail, so a
 * client never sees a stack trace, a file path or SQL.
 */
import { fromStoreError, httpStatusFor, PushctlError, type ErrorKind } from '../errors.js';

/** A failure that exists only on the HTTP face (media type, size, rate, route, auth header). */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
    readonly field?: string,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

export interface ErrorReply {
  status: number;
  headers: Record<string, string>;
  body: { error: { code: string; message: string; field?: string } };
  /** True for 5xx: the operator should see the cause in the server's own log. */
  unexpected: boolean;
}

const CODES: Record<ErrorKind, string> = {
  usage: 'invalid_request',
  input: 'invalid_input',
  'not-found': 'not_found',
  conflict: 'conflict',
  auth: 'unauthorized',
  push: 'push_failed',
  busy: 'busy',
  internal: 'internal_error',
};

export function errorReply(raw: unknown): ErrorReply {
  const error = fromStoreError(raw) ?? raw;
  if (error instanceof HttpError) {
    return { status: error.status, headers: error.headers, body: { error: withField(error.code, error.message, error.field) }, unexpected: false };
  }
  if (error instanceof PushctlError && error.kind === 'busy') {
    // Another process (an import, a send) held the write lock for longer than the busy timeout.
    return { status: 503, headers: { 'retry-after': '2' }, body: { error: { code: 'busy', message: 'the database is busy; try again shortly' } }, unexpected: false };
  }
  if (error instanceof PushctlError) {
    const status = httpStatusFor(error);
    if (status >= 500) {
      return { status, headers: {}, body: { error: { code: CODES[error.kind], message: status === 502 ? error.message : 'internal error' } }, unexpected: true };
    }
    const field = typeof error.details?.field === 'string' ? error.details.field : undefined;
    return { status, headers: {}, body: { error: withField(CODES[error.kind], error.message, field) }, unexpected: false };
  }
  return { status: 500, headers: {}, body: { error: { code: 'internal_error', message: 'internal error' } }, unexpected: true };
}

function withField(code: string, message: string, field: string | undefined) {
  return field ? { code, message, field } : { code, message };
}

export const badRequest = (message: string, field?: string) => new HttpError(400, 'invalid_input', message, {}, field);
export const routeNotFound = () => new HttpError(404, 'not_found', 'no such resource');
