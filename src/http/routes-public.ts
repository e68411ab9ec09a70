/**
 * The endpoints a website's visitors reach (through the subscribe page or the same script on the
 * operator's own site): the public key and categories to offer, subscribe, unsubscribe, and the
 * re-subscription a service worker posts after `pushsubscriptionchange`.
 */
import type { Context } from '../core/context.js';
import { ensureActiveKey } from '../core/keys.js';
import { listCategories } from '../core/categories.js';
import { prepareSave, removeSubscription, replaceIn, saveIn } from '../core/subscriptions.js';
import { MAX_CATEGORIES_PER_REQUEST, MAX_ENDPOINT_LENGTH, MAX_USER_AGENT_LENGTH } from '../limits.js';
import { createWriteBatcher } from '../core/write-batch.js';
import { assertKnownFields, readJsonObject, type JsonObject } from './body.js';
import { badRequest } from './http-error.js';
import type { RequestInfo, Router } from './router.js';

const SUBSCRIPTION_FIELDS = ['endpoint', 'expirationTime', 'keys'] as const;
const KEY_FIELDS = ['p256dh', 'auth'] as const;
const WRAPPER_FIELDS = ['subscription', 'categories', 'old_endpoint', 'time_zone', 'language'] as const;
/** The wrapper's names for the subscriber's zone and language, as error messages name them. */
/** More categories than any page offers; keeps one request's work small. */
/** The key and category list change rarely; every page view asks for them. */
const PUBLIC_INFO_TTL_MS = 5_000;

export interface PublicInfoCache {
  invalidate(): void;
}

export function registerPublicRoutes(router: Router, ctx: Context): PublicInfoCache {
  const writes = createWriteBatcher(ctx);
  let cached: { body: { public_key: string; categories: unknown[] }; keyId: number; until: number } | undefined;
  const cache: PublicInfoCache = { invalidate: () => (cached = undefined) };
  /** The key pages subscribe with and the categories they offer, read at most every few seconds. */
  const publicInfo = async () => {
    const now = Date.now();
    if (!cached || cached.until <= now) {
      const { key } = await ensureActiveKey(ctx, false);
      const categories = (await listCategories(ctx)).map((c) => ({ name: c.name, description: c.description ?? null }));
      cached = { body: { public_key: key.publicKey, categories }, keyId: key.id, until: now + PUBLIC_INFO_TTL_MS };
    }
    return cached;
  };

  router.add({
    method: 'GET',
    pattern: '/subscription',
    group: 'public',
    handler: async () => ({ status: 200, json: (await publicInfo()).body }),
  });

  router.add({
    method: 'POST',
    pattern: '/subscription',
    group: 'public',
    handler: async (request) => {
      const body = await readJsonObject(request.req);
      const { subscription, categories, oldEndpoint, wrapped, timeZone, language } = parseSubscribeBody(body);
      // The key recorded is the one this server hands to pages (same few seconds of caching as GET).
      const options = {
        categories,
        userAgent: userAgentOf(request),
        where: wrapped ? 'subscription' : undefined,
        keyId: (await publicInfo()).keyId,
        timeZone,
        language,
      };
      // Checked before it joins a batch: bad input never reaches a transaction.
      const { write, categories: names } = await prepareSave(ctx, subscription, options);
      // Ordered by endpoint within the batch: replicas writing the same endpoints lock them alike.
      const result = await writes.run((tx) => (oldEndpoint ? replaceIn(ctx, tx, oldEndpoint, write, names) : saveIn(ctx, tx, write, names)), write.endpoint);
      return { status: result.created ? 201 : 200, json: { id: result.id } };
    },
  });

  router.add({
    method: 'DELETE',
    pattern: '/subscription',
    group: 'public',
    handler: async (request) => {
      const body = await readJsonObject(request.req);
      assertKnownFields(body, ['endpoint']);
      const endpoint = endpointField(body.endpoint, 'endpoint');
      // 204 whether or not it existed: unsubscribing twice is fine, and the answer reveals nothing.
      await removeSubscription(ctx, endpoint);
      return { status: 204 };
    },
  });

  return cache;
}

/**
 * Either the browser's PushSubscription JSON as it is, or
 * `{"subscription": {...}, "categories": [...], "old_endpoint"?: "...", "time_zone"?: "Europe/Berlin", "language"?: "de-DE"}`.
 * Zone and language are checked by the core (absent: an existing subscription keeps its own).
 */
export function parseSubscribeBody(body: JsonObject): {
  subscription: JsonObject;
  categories: string[] | undefined;
  oldEndpoint: string | undefined;
  wrapped: boolean;
  timeZone?: unknown;
  language?: unknown;
} {
  if (!('subscription' in body)) {
    assertSubscriptionShape(body, '');
    return { subscription: body, categories: undefined, oldEndpoint: undefined, wrapped: false };
  }
  assertKnownFields(body, WRAPPER_FIELDS);
  const subscription = body.subscription;
  if (!isObject(subscription)) throw badRequest('must be a PushSubscription object {endpoint, keys: {p256dh, auth}}', 'subscription');
  assertSubscriptionShape(subscription, 'subscription');
  let categories: string[] | undefined;
  if (body.categories !== undefined) {
    const value = body.categories;
    if (!Array.isArray(value) || value.some((name) => typeof name !== 'string')) throw badRequest('must be a list of category names', 'categories');
    if (value.length > MAX_CATEGORIES_PER_REQUEST) throw badRequest(`at most ${MAX_CATEGORIES_PER_REQUEST} names`, 'categories');
    categories = value as string[];
  }
  const oldEndpoint = body.old_endpoint === undefined || body.old_endpoint === null ? undefined : endpointField(body.old_endpoint, 'old_endpoint');
  return { subscription, categories, oldEndpoint, wrapped: true, timeZone: body.time_zone, language: body.language };
}

function assertSubscriptionShape(value: JsonObject, where: string): void {
  assertKnownFields(value, SUBSCRIPTION_FIELDS, where);
  if (isObject(value.keys)) assertKnownFields(value.keys, KEY_FIELDS, where ? `${where}.keys` : 'keys');
}

/** An endpoint URL (never an id: the public API must not delete by guessable numbers). */
function endpointField(value: unknown, field: string): string {
  if (typeof value !== 'string' || !/^https?:\/\//i.test(value)) throw badRequest("must be the subscription's endpoint URL", field);
  if (value.length > MAX_ENDPOINT_LENGTH) throw badRequest(`is longer than ${MAX_ENDPOINT_LENGTH} characters`, field);
  return value;
}

function userAgentOf(request: RequestInfo): string | undefined {
  const header = request.req.headers['user-agent'];
  return header ? header.slice(0, MAX_USER_AGENT_LENGTH) : undefined;
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
