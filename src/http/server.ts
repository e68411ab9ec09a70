/**
 * The HTTP face of pushctl on node:http: the subscribe page, the public subscription endpoints and
 * the admin API. Every rule comes from the core; this layer only parses requests (JSON, 8 KiB),
 * applies CORS, the per-IP rate limit and the admin token, maps errors to statuses, and logs one
 * line per request.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Context } from '../core/context.js';
import { createAccessLogger, type AccessLogger } from './access-log.js';
import { AdminAuth } from './admin-auth.js';
import { BackgroundTasks } from './background-tasks.js';
import { CorsPolicy } from './cors.js';
import { errorReply, HttpError, routeNotFound } from './http-error.js';
import { RateLimiter } from './rate-limit.js';
import { PushctlMetrics } from './metrics.js';
import { registerAdminRoutes } from './routes-admin.js';
import { registerOpsRoutes } from './routes-ops.js';
import { registerTrackingRoutes } from './routes-tracking.js';
import { registerPublicRoutes } from './routes-public.js';
import { Router, type Reply, type RequestInfo } from './router.js';
import { loadStaticFiles } from './static-files.js';

export interface ServerOptions {
  /** Access-log lines as JSON. */
  jsonLog?: boolean;
  /** Where access-log text goes (default stdout): whole lines, each ending in a newline. */
  writeLog?: (text: string) => void;
  /** Where unexpected errors go (default stderr); never to the client. */
  writeError?: (line: string) => void;
  staticDir?: string;
}

export interface PushctlServer {
  server: http.Server;
  router: Router;
  background: BackgroundTasks;
  listen(port: number, host: string): Promise<AddressInfo>;
  /** Stops accepting, lets requests in flight finish (at most graceMs), stops background work. */
  close(graceMs?: number): Promise<void>;
}

export function createPushctlServer(ctx: Context, options: ServerOptions = {}): PushctlServer {
  const writeError = options.writeError ?? ((line: string) => process.stderr.write(line + '\n'));
  const log: AccessLogger = createAccessLogger({ json: Boolean(options.jsonLog), ...(options.writeLog ? { write: options.writeLog } : {}) });
  const cors = new CorsPolicy(ctx.config.serve.corsOrigins);
  const auth = new AdminAuth(ctx.config.serve.adminToken);
  const limiter = new RateLimiter(ctx.config.serve.rateLimit);
  const background = new BackgroundTasks((error, name) => writeError(`${name}: ${(error as Error)?.message ?? String(error)}`));
  const staticFile = loadStaticFiles(options.staticDir);

  /** Set on shutdown: a keep-alive connection must not outlive the response in flight on it. */
  let closing = false;
  const send = (res: http.ServerResponse, reply: Reply) => writeReply(res, closing ? { ...reply, headers: { ...reply.headers, connection: 'close' } } : reply);

  const router = new Router();
  for (const path of ['/', '/index.html', '/app.js', '/sw.js', '/style.css']) {
    router.add({
      method: 'GET',
      pattern: path,
      group: 'static',
      handler: () => {
        const reply = staticFile(path);
        if (!reply) throw routeNotFound();
        return reply;
      },
    });
  }
  const publicInfo = registerPublicRoutes(router, ctx);
  registerAdminRoutes(router, ctx, background, publicInfo);
  // Metrics also count the deliveries of this process's sends (admin API, serve --dispatch).
  const metrics = ctx.config.serve.metrics ? new PushctlMetrics({ http: true }) : undefined;
  if (metrics) ctx.deliveryObserver = metrics.deliveryObserver;
  registerOpsRoutes(router, ctx, metrics);
  /** The matched route pattern of each request, for metrics labels (never the raw path). */
  const routeOf = new WeakMap<http.ServerResponse, string>();
  registerTrackingRoutes(router, ctx);

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const method = req.method ?? 'GET';
    const rawUrl = req.url ?? '/';
    const url = new URL(rawUrl.startsWith('/') ? rawUrl : '/', 'http://pushctl.invalid');
    const path = url.pathname;
    let corsHeaders: Record<string, string> = {};
    try {
      // Absolute-form targets are for proxies; pushctl is none, and must not look like one.
      if (!rawUrl.startsWith('/')) throw new HttpError('invalid_request', 'the request target must be a path like /subscription, not a full URL');
      const match = router.match(method === 'OPTIONS' ? optionsProbe(router, path) : method, path);
      if (method === 'OPTIONS') {
        if (match.kind !== 'route' || match.route.group !== 'public') throw routeNotFound();
        const headers = cors.preflightHeaders(req);
        if (!headers) throw new HttpError('cors_forbidden', 'this origin is not in serve.corsOrigins');
        send(res, { status: 204, headers });
        return;
      }
      if (match.kind === 'none') throw routeNotFound();
      if (match.kind === 'route') routeOf.set(res, match.route.pattern);
      const group = match.kind === 'route' ? match.route.group : match.group;
      if (group === 'admin') auth.check(req);
      if (group === 'public') corsHeaders = cors.headersFor(req);
      if (match.kind === 'wrong-method') {
        throw new HttpError('method_not_allowed', `${method} is not allowed here (allowed: ${match.allowed.join(', ')})`, { allow: match.allowed.join(', ') });
      }
      // Public writes are rate-limited; a tracked click link writes too, though it is a GET.
      if (group === 'public' && (method === 'POST' || method === 'DELETE' || path.startsWith('/c/'))) {
        const decision = limiter.take(clientIp(req));
        if (!decision.allowed) {
          throw new HttpError('rate_limited', `too many requests from this address; retry in ${decision.retryAfter} s`, { 'retry-after': String(decision.retryAfter) });
        }
      }
      const info: RequestInfo = { req, res, method, path, query: url.searchParams, params: match.params, ip: clientIp(req) };
      const reply = await match.route.handler(info);
      send(res, { ...reply, headers: { ...corsHeaders, ...reply.headers } });
    } catch (error) {
      const reply = errorReply(error);
      if (reply.unexpected) writeError(`${method} ${path}: ${(error as Error)?.stack ?? String(error)}`);
      send(res, { status: reply.status, json: reply.body, headers: { ...corsHeaders, ...reply.headers } });
    }
  }

  const server = http.createServer((req, res) => {
    const started = performance.now();
    let logged = false;
    const done = () => {
      if (logged) return;
      logged = true;
      const status = res.headersSent ? res.statusCode : 499;
      log({ method: req.method ?? '?', path: req.url ?? '/', status, ms: performance.now() - started });
      metrics?.httpRequest(req.method ?? '?', routeOf.get(res) ?? 'unmatched', status);
    };
    res.on('finish', done);
    res.on('close', done);
    void handle(req, res);
  });
  // Slow or silent clients must not hold connections open indefinitely.
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  server.keepAliveTimeout = 5_000;
  server.on('clientError', (_error, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
    else socket.destroy();
  });

  return {
    server,
    router,
    background,
    listen(port, host) {
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          resolve(server.address() as AddressInfo);
        });
      });
    },
    async close(graceMs = 10_000) {
      closing = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const timer = setTimeout(() => server.closeAllConnections(), graceMs);
      await closed;
      clearTimeout(timer);
      await background.stop();
      log.flush();
    },
  };
}

/** For a preflight, find the route the browser is asking about (its Access-Control-Request-Method). */
function optionsProbe(router: Router, path: string): string {
  for (const method of ['POST', 'DELETE', 'GET']) {
    const match = router.match(method, path);
    if (match.kind === 'route') return method;
  }
  return 'OPTIONS';
}

function clientIp(req: http.IncomingMessage): string {
  return req.socket.remoteAddress ?? 'unknown';
}

function writeReply(res: http.ServerResponse, reply: Reply): void {
  if (res.headersSent || res.destroyed) return;
  const headers: Record<string, string> = { ...reply.headers };
  let body: Buffer | string | undefined;
  if (reply.raw) {
    body = reply.raw.body;
    headers['content-type'] = reply.raw.contentType;
  } else if (reply.json !== undefined && reply.status !== 204) {
    body = JSON.stringify(reply.json);
    headers['content-type'] = 'application/json; charset=utf-8';
    headers['cache-control'] ??= 'no-store';
    headers['x-content-type-options'] = 'nosniff';
  }
  if (body !== undefined) headers['content-length'] = String(Buffer.byteLength(body));
  res.writeHead(reply.status, headers);
  res.end(body);
}
