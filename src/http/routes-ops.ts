/**
 * What operators and their tools ask a running server: liveness (/healthz), readiness (/readyz:
 * store reachable, a VAPID key to sign with), Prometheus metrics (/metrics, when serve.metrics is
 * on; behind the admin token unless serve.metricsPublic) and the OpenAPI document (/openapi.json).
 */
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Context } from '../core/context.js';
import { readiness } from '../core/stats.js';
import type { PushctlMetrics } from './metrics.js';
import type { Router } from './router.js';

/** docs/openapi.json, from src/http or dist/http alike. */
export const OPENAPI_FILE = fileURLToPath(new URL('../../docs/openapi.json', import.meta.url));

export function registerOpsRoutes(router: Router, ctx: Context, metrics: PushctlMetrics | undefined): void {
  router.add({ method: 'GET', pattern: '/healthz', group: 'ops', handler: () => ({ status: 200, json: { status: 'ok' } }) });

  router.add({
    method: 'GET',
    pattern: '/readyz',
    group: 'ops',
    handler: async () => {
      const result = await readiness(ctx);
      return { status: result.ready ? 200 : 503, json: { status: result.ready ? 'ready' : 'not_ready', checks: result.checks } };
    },
  });

  let openapi: string | undefined;
  router.add({
    method: 'GET',
    pattern: '/openapi.json',
    group: 'ops',
    handler: () => {
      openapi ??= fs.readFileSync(OPENAPI_FILE, 'utf8');
      return { status: 200, raw: { body: openapi, contentType: 'application/json; charset=utf-8' } };
    },
  });

  if (metrics) {
    router.add({
      method: 'GET',
      pattern: '/metrics',
      group: ctx.config.serve.metricsPublic ? 'ops' : 'admin',
      handler: async () => ({ status: 200, raw: { body: await metrics.scrape(ctx), contentType: metrics.contentType }, headers: { 'cache-control': 'no-store' } }),
    });
  }
}
