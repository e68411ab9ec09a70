/**
 * CORS for the public subscription endpoints only, and only for the origins listed in
 * serve.corsOrigins ("*" allows any). Same-origin pages (the built-in subscribe page) need none.
 * The admin API never answers CORS: it is for scripts and operators, not for browsers elsewhere.
 */
import type { IncomingMessage } from 'node:http';

export const CORS_METHODS = 'GET, POST, DELETE';

export class CorsPolicy {
  private readonly any: boolean;
  private readonly origins: Set<string>;

  constructor(origins: readonly string[]) {
    this.any = origins.includes('*');
    this.origins = new Set(origins.filter((o) => o !== '*').map((o) => o.replace(/\/+$/, '').toLowerCase()));
  }

  /** The value for Access-Control-Allow-Origin, or undefined when the origin is not listed. */
  allowedOrigin(req: IncomingMessage): string | undefined {
    const origin = req.headers.origin;
    if (!origin || origin === 'null') return undefined;
    if (this.any || this.origins.has(origin.toLowerCase())) return origin;
    return undefined;
  }

  headersFor(req: IncomingMessage): Record<string, string> {
    const origin = this.allowedOrigin(req);
    return origin ? { 'access-control-allow-origin': origin, vary: 'Origin' } : {};
  }

  preflightHeaders(req: IncomingMessage): Record<string, string> | undefined {
    const origin = this.allowedOrigin(req);
    if (!origin) return undefined;
    return {
      'access-control-allow-origin': origin,
      'access-control-allow-methods': CORS_METHODS,
      'access-control-allow-headers': 'Content-Type',
      'access-control-max-age': '600',
      vary: 'Origin',
    };
  }
}
