/**
 * `dispatch --watch --metrics-port N`: a listener with GET /metrics only, for a worker that runs
 * no `pushctl serve`. Same rule as serve: the admin token is needed unless serve.metricsPublic.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Context } from '../core/context.js';
import { fail } from '../errors.js';
import { AdminAuth } from './admin-auth.js';
import { errorReply, routeNotFound } from './http-error.js';
import { PushctlMetrics } from './metrics.js';

export interface MetricsServer {
  address: AddressInfo;
  close(): Promise<void>;
}

/** Counts this process's deliveries from now on (sets ctx.deliveryObserver) and serves them. */
export async function startMetricsServer(ctx: Context, port: number, host: string): Promise<MetricsServer> {
  if (!ctx.config.serve.metricsPublic && !ctx.config.serve.adminToken) {
    throw fail('invalid_config', 'set serve.adminToken (scrapers then send it as a bearer token) or serve.metricsPublic: true', { field: 'metricsPort' });
  }
  const metrics = new PushctlMetrics({ http: false });
  ctx.deliveryObserver = metrics.deliveryObserver;
  const auth = new AdminAuth(ctx.config.serve.adminToken);
  const server = http.createServer((req, res) => {
    void (async () => {
      try {
        const path = (req.url ?? '/').split('?')[0];
        if (path !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) throw routeNotFound();
        if (!ctx.config.serve.metricsPublic) auth.check(req);
        const body = await metrics.scrape(ctx);
        res.writeHead(200, { 'content-type': metrics.contentType, 'cache-control': 'no-store', 'content-length': Buffer.byteLength(body) });
        res.end(req.method === 'HEAD' ? undefined : body);
      } catch (error) {
        const reply = errorReply(error);
        const body = JSON.stringify(reply.body);
        res.writeHead(reply.status, { ...reply.headers, 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
        res.end(body);
      }
    })();
  });
  server.keepAliveTimeout = 5_000;
  const address = await new Promise<AddressInfo>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(fail('invalid_config', `cannot listen on ${host}:${port}: ${error.code === 'EADDRINUSE' ? 'the port is in use' : error.message}`, { field: 'metricsPort' })),
    );
    server.listen(port, host, () => resolve(server.address() as AddressInfo));
  });
  return {
    address,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
