/**
 * The admin API (bearer token, see admin-auth.ts): a test push to everyone, notifications
 * (create, list, read, cancel-and-delete) and categories. JSON field names are snake_case; the
 * core's camelCase views are converted at the edge, top-level keys only (payloads stay as sent).
 */
import { addCategory, deleteCategory, listCategories, updateCategory, type CategoryInfo } from '../core/categories.js';
import type { Context } from '../core/context.js';
import { DEFAULT_LEASE_MS, deliverNotification, newOwnerId } from '../core/delivery.js';
import { funnelOf } from '../core/engagement.js';
import { pendingSchedule } from '../core/local-time-sends.js';
import type { NotificationSpec } from '../core/notification-spec.js';
import { deleteNotificationOrRule } from '../core/recurrence.js';
import {
  createNotification,
  getNotification,
  listNotifications,
  recentFailures,
  type NotificationView,
} from '../core/notifications.js';
import { pushToSubscription, subscriptionFromJson } from '../core/single-push.js';
import { fail, PushctlError } from '../errors.js';
import { LIST_LIMIT } from '../limits.js';
import { assertKnownFields, readJsonObject, type JsonObject } from './body.js';
import { badRequest } from './http-error.js';
import { notificationSpecFromJson } from './notification-body.js';
import type { PublicInfoCache } from './routes-public.js';
import type { RequestInfo, Router } from './router.js';
import type { BackgroundTasks } from './background-tasks.js';

const TEST_TITLE = 'pushctl test notification';
const TEST_BODY = 'If you can read this, push notifications work.';
const PUSH_V1_MESSAGE = 'Push Test v1';

export function registerAdminRoutes(router: Router, ctx: Context, background: BackgroundTasks, publicInfo: PublicInfoCache): void {
  /**
   * Creates a notification holding its sending lease (so a dispatcher in this or another process
   * cannot claim it first) and starts the fan-out in the background. A repeated Idempotency-Key
   * returns the first notification; its lease is not ours, so no second fan-out starts.
   */
  async function createAndSend(spec: NotificationSpec): Promise<{ view: NotificationView; delivery: Promise<unknown> | undefined }> {
    const sendNow = !spec.schedule;
    const owner = newOwnerId();
    const view = await createNotification(ctx, spec, sendNow ? { leaseFor: { owner, leaseMs: DEFAULT_LEASE_MS } } : {});
    if (!sendNow || view.status !== 'sending') return { view, delivery: undefined };
    const delivery = background.start(`notification ${view.id}`, (signal) => deliverNotification(ctx, view.id, { owner, signal }).catch(ignoreLeaseConflict));
    return { view, delivery };
  }

  router.add({
    method: 'POST',
    pattern: '/push',
    group: 'admin',
    handler: async ({ req }) => {
      const body = hasBody(req) ? await readJsonObject(req) : {};
      assertKnownFields(body, ['title', 'body', 'url', 'send_at_local', 'tz', 'rate']);
      const spec = notificationSpecFromJson(body, undefined, ctx.now());
      if (spec.message.title === undefined && spec.message.body === undefined) {
        spec.message.title = TEST_TITLE;
        spec.message.body = TEST_BODY;
      }
      spec.target = { all: true };
      const { view, delivery } = await createAndSend(spec);
      // A test push waits for its answer, so the caller sees the counts at once (a throttled one too);
      // with send_at_local it is scheduled: dispatch sends it zone by zone.
      if (delivery) await delivery;
      const final = await getNotification(ctx, view.id);
      return { status: 201, json: { id: final.id, status: final.status, counts: final.counts, ...(final.localTime ? { send_at: final.sendAt, send_at_local: final.localTime } : {}) } };
    },
  });

  // The seed's test push to one subscription named in the body, stored or not (see core/single-push.ts).
  router.add({
    method: 'POST',
    pattern: '/push_v1/',
    group: 'admin',
    handler: async ({ req }) => {
      const body = await readJsonObject(req);
      assertKnownFields(body, ['sub_token', 'message']);
      if (body.sub_token === undefined || body.sub_token === null) throw badRequest('is missing (the subscription JSON, as a string or an object)', 'sub_token');
      if (body.message !== undefined && (typeof body.message !== 'string' || body.message === '')) throw badRequest('must be a non-empty string', 'message');
      const subscription = subscriptionFromJson(body.sub_token, 'sub_token');
      const result = await pushToSubscription(ctx, subscription, { title: (body.message as string | undefined) ?? PUSH_V1_MESSAGE }, {}, 'sub_token');
      if (result.delivered) return { status: 200, json: { success: true, status: result.status ?? null } };
      // The push service's own status goes along in the error body (errorReply adds details.status).
      throw fail('push_failed', result.message ?? result.outcome, { details: { status: result.status ?? null } });
    },
  });

  router.add({
    method: 'GET',
    pattern: '/v1/pushnotification',
    group: 'admin',
    handler: async ({ query }) => {
      assertKnownQuery(query, ['limit', 'offset', 'status']);
      const limit = intParam(query, 'limit', LIST_LIMIT.default, 1, LIST_LIMIT.max);
      const offset = intParam(query, 'offset', 0, 0, Number.MAX_SAFE_INTEGER);
      const status = query.get('status') ?? undefined;
      const items = await listNotifications(ctx, { status, limit: limit + 1, offset });
      const page = items.slice(0, limit);
      return {
        status: 200,
        json: {
          notifications: page.map(notificationJson),
          limit,
          offset,
          next_offset: items.length > limit ? offset + limit : null,
        },
      };
    },
  });

  router.add({
    method: 'POST',
    pattern: '/v1/pushnotification',
    group: 'admin',
    handler: async ({ req }) => {
      const body = await readJsonObject(req);
      const key = headerValue(req.headers['idempotency-key']);
      const spec = notificationSpecFromJson(body, key, ctx.now());
      const { view } = await createAndSend(spec);
      return { status: 201, json: { id: view.id, status: view.status } };
    },
  });

  router.add({
    method: 'GET',
    pattern: '/v1/pushnotification/categories',
    group: 'admin',
    handler: async () => ({ status: 200, json: { categories: (await listCategories(ctx)).map(categoryJson) } }),
  });

  router.add({
    method: 'POST',
    pattern: '/v1/pushnotification/categories',
    group: 'admin',
    handler: async ({ req }) => {
      const body = await readJsonObject(req);
      assertKnownFields(body, ['name', 'description', 'cap', 'quiet_hours']);
      if (typeof body.name !== 'string') throw badRequest('must be a string', 'name');
      const category = await addCategory(ctx, body.name, optionalText(body, 'description'), categoryPolicy(body));
      publicInfo.invalidate();
      return { status: 201, json: categoryJson(category) };
    },
  });

  router.add({
    method: 'PUT',
    pattern: '/v1/pushnotification/categories/{categoryId}',
    group: 'admin',
    handler: async ({ req, params }) => {
      const body = await readJsonObject(req);
      assertKnownFields(body, ['name', 'description', 'cap', 'quiet_hours']);
      if (body.name !== undefined && typeof body.name !== 'string') throw badRequest('must be a string', 'name');
      if (body.name === undefined && body.description === undefined && body.cap === undefined && body.quiet_hours === undefined) {
        throw fail('invalid_request', 'give a new name, description, cap or quiet_hours');
      }
      const category = await updateCategory(ctx, params.categoryId!, { name: body.name as string | undefined, description: optionalText(body, 'description'), ...categoryPolicy(body) });
      publicInfo.invalidate();
      return { status: 200, json: categoryJson(category) };
    },
  });

  router.add({
    method: 'DELETE',
    pattern: '/v1/pushnotification/categories/{categoryId}',
    group: 'admin',
    handler: async ({ params }) => {
      await deleteCategory(ctx, params.categoryId!);
      publicInfo.invalidate();
      return { status: 204 };
    },
  });

  router.add({
    method: 'GET',
    pattern: '/v1/pushnotification/{id}',
    group: 'admin',
    handler: async ({ params }) => {
      const id = notificationId(params.id!);
      const view = await getNotification(ctx, id);
      const funnel = view.cron ? undefined : await funnelOf(ctx, id);
      // How many pending deliveries are due when (zone by zone for send_at_local).
      const dueTimes = view.counts.pending > 0 ? (await pendingSchedule(ctx, id)).map((d) => ({ due_at: d.dueAt, deliveries: d.deliveries, zones: d.zones })) : [];
      return {
        status: 200,
        json: { ...notificationJson(view), ...(funnel ? { funnel: snakeKeys(funnel) } : {}), due_times: dueTimes, failures: (await recentFailures(ctx, id, 10)).map(snakeKeys) },
      };
    },
  });

  router.add({
    method: 'DELETE',
    pattern: '/v1/pushnotification/{id}',
    group: 'admin',
    handler: async ({ params }) => {
      await deleteNotificationOrRule(ctx, notificationId(params.id!));
      return { status: 204 };
    },
  });
}

/** A concurrent owner (a dispatcher, or the first of two idempotent requests) already sends it. */
function ignoreLeaseConflict(error: unknown): undefined {
  if (error instanceof PushctlError && (error.kind === 'conflict' || error.kind === 'not-found')) return undefined;
  throw error;
}

export function notificationJson(view: NotificationView): JsonObject {
  return snakeKeys(view as unknown as JsonObject);
}

/** cap ("3/day", "none" or null) and quiet_hours ("21:00-09:00", "none", "default" or null); the core checks the values. */
function categoryPolicy(body: JsonObject): { cap?: string | null; quietHours?: string | null } {
  const policy: { cap?: string | null; quietHours?: string | null } = {};
  for (const [field, key] of [['cap', 'cap'], ['quiet_hours', 'quietHours']] as const) {
    const value = body[field];
    if (value === undefined) continue;
    if (value !== null && typeof value !== 'string') throw badRequest('must be a string or null', field);
    policy[key] = value;
  }
  return policy;
}

function categoryJson(category: CategoryInfo): JsonObject {
  return snakeKeys(category as unknown as JsonObject);
}

/** camelCase -> snake_case for the top-level keys only. */
export function snakeKeys(value: object): JsonObject {
  const out: JsonObject = {};
  for (const [key, v] of Object.entries(value)) out[key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)] = v;
  return out;
}

function notificationId(text: string): number {
  if (!/^[1-9]\d{0,15}$/.test(text)) throw badRequest(`must be a positive integer, got "${text.slice(0, 40)}"`, 'id');
  return Number(text);
}

function intParam(query: URLSearchParams, name: string, fallback: number, min: number, max: number): number {
  const raw = query.get(name);
  if (raw === null) return fallback;
  if (!/^\d{1,16}$/.test(raw) || Number(raw) < min || Number(raw) > max) throw badRequest(`must be an integer from ${min} to ${max}`, name);
  return Number(raw);
}

function assertKnownQuery(query: URLSearchParams, allowed: string[]): void {
  for (const key of query.keys()) if (!allowed.includes(key)) throw badRequest(`unknown query parameter (allowed: ${allowed.join(', ')})`, key.slice(0, 40));
}

function optionalText(body: JsonObject, field: string): string | null | undefined {
  const value = body[field];
  if (value === undefined || value === null) return value;
  if (typeof value !== 'string') throw badRequest('must be a string', field);
  return value;
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function hasBody(req: RequestInfo['req']): boolean {
  const length = req.headers['content-length'];
  return (length !== undefined && length !== '0') || req.headers['transfer-encoding'] !== undefined;
}
