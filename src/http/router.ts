/**
 * A small router: method + path pattern ("/v1/pushnotification/{id}") to a handler. A path that
 * exists under another method answers 405 with Allow; anything else 404. Path segments are
 * percent-decoded one by one after matching, so an encoded "/" or ".." never changes the shape.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { HttpError } from './http-error.js';

/** ops: probes, metrics and the API description (no CORS, no rate limit, no token). */
export type RouteGroup = 'public' | 'admin' | 'static' | 'ops';

export interface RequestInfo {
  req: IncomingMessage;
  res: ServerResponse;
  method: string;
  path: string;
  query: URLSearchParams;
  params: Record<string, string>;
  /** The client's address as the socket sees it (no proxy headers are trusted). */
  ip: string;
}

export interface Reply {
  status: number;
  /** A JSON body (omitted for 204). */
  json?: unknown;
  /** A non-JSON body (static files). */
  raw?: { body: Buffer | string; contentType: string };
  headers?: Record<string, string>;
}

export type Handler = (request: RequestInfo) => Reply | Promise<Reply>;

export interface Route {
  method: string;
  pattern: string;
  group: RouteGroup;
  handler: Handler;
}

interface CompiledRoute extends Route {
  segments: string[];
}

export type Match =
  | { kind: 'route'; route: Route; params: Record<string, string> }
  | { kind: 'wrong-method'; allowed: string[]; group: RouteGroup }
  | { kind: 'none' };

export class Router {
  private readonly routes: CompiledRoute[] = [];

  add(route: Route): this {
    this.routes.push({ ...route, segments: route.pattern.split('/').slice(1) });
    return this;
  }

  /** What is registered, in order (the OpenAPI drift test reads it). */
  list(): { method: string; pattern: string; group: RouteGroup }[] {
    return this.routes.map(({ method, pattern, group }) => ({ method, pattern, group }));
  }

  match(method: string, path: string): Match {
    const parts = path.split('/').slice(1);
    const allowed: string[] = [];
    let group: RouteGroup | undefined;
    for (const route of this.routes) {
      const params = matchSegments(route.segments, parts);
      if (!params) continue;
      if (route.method === method || (method === 'HEAD' && route.method === 'GET' && route.group === 'static')) {
        return { kind: 'route', route, params };
      }
      allowed.push(route.method);
      group ??= route.group;
    }
    return allowed.length ? { kind: 'wrong-method', allowed: [...new Set(allowed)], group: group! } : { kind: 'none' };
  }
}

function matchSegments(pattern: string[], parts: string[]): Record<string, string> | undefined {
  if (pattern.length !== parts.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < pattern.length; i++) {
    const want = pattern[i]!;
    const got = parts[i]!;
    if (want.startsWith('{') && want.endsWith('}')) {
      if (!got) return undefined;
      let decoded: string;
      try {
        decoded = decodeURIComponent(got);
      } catch {
        throw new HttpError('invalid_request', 'the path has a malformed percent-encoding');
      }
      params[want.slice(1, -1)] = decoded;
    } else if (want !== got) {
      return undefined;
    }
  }
  return params;
}
