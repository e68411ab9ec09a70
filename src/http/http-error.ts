/**
 * The HTTP face's words for errors, and the one JSON shape every error takes:
 * `{"error": {"code", "message", "field"?}}`. Codes and statuses come from the catalogue in
 * src/errors.ts; neutral fields become the API's snake_case names. Anything unexpected becomes a
 * bare 500 with no detail, so a client never sees a stack trace, a file path or SQL.
 */
import { fail, fromStoreError, httpStatusFor, PushctlError, type ErrorCode } from '../errors.js';

/**
 * A failure that exists only on the HTTP face, with the headers its answer needs (Allow,
 * Retry-After). Its fields are already the API's names (a client's unknown field stays as sent).
 */
export class HttpError extends PushctlError {
  constructor(
    code: ErrorCode,
    message: string,
    readonly headers: Record<string, string> = {},
    field?: string,
  ) {
    super(code, message, { field });
    this.name = 'HttpError';
  }
}

export interface ErrorReply {
  status: number;
  headers: Record<string, string>;
  body: { error: { code: string; message: string; field?: string; status?: unknown } };
  /** True for 5xx: the operator should see the cause in the server's own log. */
  unexpected: boolean;
}

/** Neutral fields whose API name differs (JSON bodies and query parameters are snake_case). */
const API_NAMES: Record<string, string> = {
  sendAt: 'send_at',
  staleAfter: 'stale_after',
  nowIfPast: 'now_if_past',
  idempotencyKey: 'Idempotency-Key',
  olderThan: 'older_than',
  failedMoreThan: 'failed_more_than',
  badgeCount: 'badge_count',
  requireInteraction: 'require_interaction',
  trackClicks: 'track_clicks',
  timeZone: 'time_zone',
  quietHours: 'quiet_hours',
  localTime: 'send_at_local',
};

export const apiName = (field: string): string => API_NAMES[field] ?? field;

export function errorReply(raw: unknown): ErrorReply {
  const error = fromStoreError(raw) ?? raw;
  if (!(error instanceof PushctlError)) {
    return { status: 500, headers: {}, body: { error: { code: 'internal_error', message: 'internal error' } }, unexpected: true };
  }
  const status = httpStatusFor(error);
  const headers = error instanceof HttpError ? error.headers : {};
  if (error.kind === 'busy') {
    // Another process (an import, a send) held the write lock for longer than the busy timeout.
    // Or the PostgreSQL server could not be reached within serve's retry budget (store_unavailable).
    const message = error.code === 'store_unavailable' ? 'the database is unavailable; try again shortly' : 'the database is busy; try again shortly';
    return { status, headers: { 'retry-after': '2', ...headers }, body: { error: { code: error.code, message } }, unexpected: false };
  }
  if (error.kind === 'push') {
    // The push service refused or could not be reached: not our fault, and the client may act on its status.
    const pushStatus = error.details && 'status' in error.details ? { status: error.details.status } : {};
    return { status, headers, body: { error: { code: error.code, message: error.message, ...pushStatus } }, unexpected: false };
  }
  if (status >= 500) {
    return { status, headers, body: { error: { code: error.code, message: 'internal error' } }, unexpected: true };
  }
  const inApiWords = error instanceof HttpError || error.worded || error.at !== undefined;
  const message = inApiWords ? error.message : error.describe(apiName);
  const field = error.field === undefined || inApiWords ? error.field : apiName(error.field);
  return { status, headers, body: { error: field ? { code: error.code, message, field } : { code: error.code, message } }, unexpected: false };
}

export const badRequest = (message: string, field?: string) => new HttpError('invalid_input', message, {}, field);
export const routeNotFound = () => fail('not_found', 'no such resource');
