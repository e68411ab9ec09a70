/**
 * Engagement routes. Public: POST /events, where pushctl's service worker reports shown /
 * clicked / dismissed with a delivery's token, and GET /c/{token}[/{action}], the tracked click
 * link that counts the click and redirects to the URL stored for that delivery. Both are small,
 * rate-limited like the other public routes, and never say whether a token exists: /events answers
 * 204 to every well-formed report. Admin: GET /v1/stats, per-day totals.
 */
import type { Context } from '../core/context.js';
import { engagementStats } from '../core/engagement.js';
import { followTrackedLink, recordReportedEvent } from '../core/tracking.js';
import { assertKnownFields, readJsonObject } from './body.js';
import { fail } from '../errors.js';
import { MAX_EVENT_BODY_BYTES } from '../limits.js';
import { badRequest } from './http-error.js';
import type { Router } from './router.js';


export function registerTrackingRoutes(router: Router, ctx: Context): void {
  router.add({
    method: 'POST',
    pattern: '/events',
    group: 'public',
    handler: async ({ req }) => {
      const body = await readJsonObject(req, MAX_EVENT_BODY_BYTES);
      assertKnownFields(body, ['token', 'event', 'action']);
      await recordReportedEvent(ctx, { token: body.token, event: body.event, action: body.action });
      return { status: 204 };
    },
  });

  const follow = async (token: string, action: string | undefined) => {
    const target = await followTrackedLink(ctx, token, action);
    if (target === undefined) throw fail('not_found', 'no such link');
    // The target comes from the store, never from the request: no open redirect.
    return { status: 302, headers: { location: target, 'cache-control': 'no-store', 'referrer-policy': 'no-referrer' } };
  };
  router.add({ method: 'GET', pattern: '/c/{token}', group: 'public', handler: ({ params }) => follow(params.token!, undefined) });
  router.add({ method: 'GET', pattern: '/c/{token}/{action}', group: 'public', handler: ({ params }) => follow(params.token!, params.action!) });

  router.add({
    method: 'GET',
    pattern: '/v1/stats',
    group: 'admin',
    handler: async ({ query }) => {
      for (const key of query.keys()) if (key !== 'since' && key !== 'category') throw badRequest(`unknown query parameter "${key.slice(0, 40)}" (allowed: since, category)`, key);
      return { status: 200, json: await engagementStats(ctx, { since: query.get('since') ?? undefined, category: query.get('category') ?? undefined }) };
    },
  });
}
