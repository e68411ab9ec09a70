/**
 * Engagement: what happens after a push service accepted a message. Each tracked delivery carries
 * its own unguessable token (its ids sealed under the store's key: tracking-tokens.ts) as "track"
 * in the encrypted payload; pushctl's sw.js
 * reports shown / clicked / dismissed with it to POST /events, and with click tracking the
 * notification's links become <serve.publicUrl>/c/<token>[/<action>], which count the click and
 * redirect to the URL stored for that delivery (never one taken from the request). Each kind of
 * event counts at most once per delivery; an unknown token changes nothing; no IP address or user
 * agent is stored. `push.tracking: false` puts no token anywhere.
 */
import type { Config } from '../config.js';
import { fail, msg, ref } from '../errors.js';
import { DECLARATIVE_MAGIC, EVENT_KINDS, MAX_ACTION_ID_LENGTH, SEALED_TOKEN_LENGTH, STORED_TOKEN_LENGTH, TOKEN_PATTERN, type EventKind } from '../limits.js';
import type { Context } from './context.js';
import { randomSlices } from '../random-slices.js';
import { existingTokenSeal, tokenSealOf, type TokenSeal } from './tracking-tokens.js';
import type { TokenOwner } from '../store/store.js';
import { assertPayloadFits } from './message.js';
import type { MessageInput } from './notification-spec.js';

/** A stored token (before sealed tokens, and for ids a seal cannot hold): 144 random bits, base64url. */
const TOKEN_BYTES = 18;
/** An action id as message.ts accepts them. */
const ACTION_PATTERN = new RegExp(`^[\\w.-]{1,${MAX_ACTION_ID_LENGTH}}$`);
/** A token of the longest kind (a stored one), for checking the size of a payload before any is issued. */
const SAMPLE_TOKEN = 'A'.repeat(STORED_TOKEN_LENGTH);

/** Stored with a notification (notifications.tracking) when it is created. */
export interface TrackingPlan {
  clicks: boolean;
  /** serve.publicUrl at creation, for the /c/ links. */
  base: string | null;
  /** Where a tracked click goes: "" the notification's url, else per action id. */
  targets: Record<string, string>;
}

const tokenBytes = randomSlices(TOKEN_BYTES);

/** A random token (144 bits, base64url), stored in delivery_tokens. */
export function newToken(): string {
  return tokenBytes().toString('base64url');
}

/**
 * Decides tracking for a new notification and checks that the payload still fits with its token
 * and links in; returns the JSON to store (null: untracked).
 */
export function planTracking(config: Config, message: MessageInput, builtText: string): string | null {
  const asked = message.trackClicks === true;
  if (!config.push.tracking) {
    if (asked) throw fail('invalid_request', 'push.tracking is false in the configuration, so nothing is tracked', { field: 'trackClicks' });
    return null;
  }
  if (message.payload !== undefined) {
    if (asked) throw fail('invalid_request', 'a raw payload is sent as it is; pushctl cannot put a tracked link in it', { field: 'trackClicks' });
    return null;
  }
  const plan: TrackingPlan = { clicks: false, base: null, targets: {} };
  if (message.trackClicks ?? config.push.trackClicks) {
    // The configured default applies to notifications that have a link; an explicit request needs one.
    if (message.url !== undefined || asked) {
      plan.clicks = true;
      plan.base = clickBase(config, builtText);
      plan.targets[''] = absoluteTarget(message.url, 'url');
      for (const [i, action] of (message.actions ?? []).entries()) {
        if (action.url !== undefined) plan.targets[action.action] = absoluteTarget(action.url, `actions[${i}].url`);
      }
    }
  }
  assertPayloadFits(renderPayload(JSON.parse(builtText) as Record<string, unknown>, plan, SAMPLE_TOKEN));
  return JSON.stringify(plan);
}

function clickBase(config: Config, builtText: string): string {
  const base = config.serve.publicUrl;
  if (!base) throw fail('invalid_request', 'needs serve.publicUrl in the configuration (the address browsers reach "pushctl serve" at)', { field: 'trackClicks' });
  if (isDeclarative(JSON.parse(builtText)) && !base.startsWith('https:')) {
    throw fail('invalid_request', `a declarative notification needs https links, but serve.publicUrl is ${base}`, { field: 'trackClicks' });
  }
  return base;
}

function absoluteTarget(url: string | undefined, field: string): string {
  if (url === undefined) throw fail('invalid_request', msg`needs a ${ref('url')} to redirect to`, { field: 'trackClicks' });
  if (!/^https?:\/\//i.test(url)) throw fail('invalid_request', msg`${ref(field)} "${url}" must be an absolute http(s) URL: the redirect has no site to resolve a path against`, { field: 'trackClicks' });
  return url;
}

function isDeclarative(value: unknown): value is { notification: Record<string, unknown> } {
  const v = value as Record<string, unknown> | null;
  return Boolean(v && v.web_push === DECLARATIVE_MAGIC && v.notification && typeof v.notification === 'object');
}

/** The payload one delivery gets: its token, and with click tracking its /c/ links. */
export function renderPayload(value: Record<string, unknown>, plan: TrackingPlan, token: string): string {
  if (!plan.clicks || !plan.base) return JSON.stringify({ track: token, ...value });
  const link = (action?: string) => `${plan.base}/c/${token}${action === undefined ? '' : `/${encodeURIComponent(action)}`}`;
  const relink = (actions: unknown, key: 'url' | 'navigate') =>
    Array.isArray(actions)
      ? actions.map((a: Record<string, unknown>) => (plan.targets[String(a.action)] !== undefined ? { ...a, [key]: link(String(a.action)) } : a))
      : actions;
  if (isDeclarative(value)) {
    const notification: Record<string, unknown> = { ...value.notification, navigate: link() };
    if (notification.actions !== undefined) notification.actions = relink(notification.actions, 'navigate');
    return JSON.stringify({ track: token, ...value, notification });
  }
  const copy: Record<string, unknown> = { ...value, url: link() };
  if (copy.actions !== undefined) copy.actions = relink(copy.actions, 'url');
  return JSON.stringify({ track: token, ...copy });
}

/**
 * Per-delivery payloads for one send: the stored payload as it is when the notification is
 * untracked, otherwise rendered with each delivery's sealed token (the same on every attempt, so a
 * retried delivery's events still count once).
 */
export class DeliveryPayloads {
  private readonly shared: Buffer;
  private readonly plan: TrackingPlan | null;
  private readonly value: Record<string, unknown> | null;

  private constructor(
    private readonly ctx: Context,
    private readonly notificationId: number,
    payloadText: string,
    tracking: string | null,
    private readonly seal: TokenSeal | undefined,
  ) {
    this.shared = Buffer.from(payloadText, 'utf8');
    this.plan = tracking ? (JSON.parse(tracking) as TrackingPlan) : null;
    this.value = this.plan ? (JSON.parse(payloadText) as Record<string, unknown>) : null;
  }

  static async load(ctx: Context, notificationId: number, payloadText: string): Promise<DeliveryPayloads> {
    const tracking = await ctx.store.trackingOf(notificationId);
    return new DeliveryPayloads(ctx, notificationId, payloadText, tracking, tracking ? await tokenSealOf(ctx.store) : undefined);
  }

  async payloadFor(subscriptionId: number): Promise<Buffer> {
    if (!this.plan || !this.value) return this.shared;
    const token = this.seal?.seal(this.notificationId, subscriptionId) ?? (await this.storedToken(subscriptionId));
    if (token === undefined) return this.shared;
    return Buffer.from(renderPayload(this.value, this.plan, token), 'utf8');
  }

  /** Ids too large for a seal (no counter of either store gets there): a stored random token. */
  private async storedToken(subscriptionId: number): Promise<string | undefined> {
    return (await this.ctx.store.issueTokens(this.notificationId, [subscriptionId], newToken)).get(subscriptionId);
  }
}

/** The delivery a token belongs to: a sealed one by its ids, an older stored one by its row. */
async function ownerOf(ctx: Context, token: string): Promise<TokenOwner | undefined> {
  if (token.length !== SEALED_TOKEN_LENGTH) return ctx.store.deliveryByToken(token);
  const ids = (await existingTokenSeal(ctx.store))?.open(token);
  return ids ? ctx.store.trackedDelivery(ids.notificationId, ids.subscriptionId) : undefined;
}

/**
 * An event a service worker reported. Whatever the outcome (recorded, a repeat, an unknown token,
 * an action the notification does not have) the caller answers the same way.
 */
export async function recordReportedEvent(ctx: Context, report: { token: unknown; event: unknown; action?: unknown }): Promise<void> {
  const { token, event, action } = report;
  if (typeof token !== 'string' || !TOKEN_PATTERN.test(token)) return;
  if (typeof event !== 'string' || !(EVENT_KINDS as readonly string[]).includes(event)) return;
  if (action !== undefined && action !== null && (event !== 'clicked' || typeof action !== 'string' || !ACTION_PATTERN.test(action))) return;
  const owner = await ownerOf(ctx, token);
  if (!owner) return;
  const pressed = typeof action === 'string' ? action : null;
  if (pressed !== null && !actionIdsOf(owner.payload).includes(pressed)) return;
  await ctx.store.insertEvent({ notificationId: owner.notification_id, subscriptionId: owner.subscription_id, kind: event as EventKind, action: pressed, at: ctx.now() });
}

/**
 * A tracked link was followed: counts the click (once per delivery) and returns where to send the
 * browser, from the store. undefined: no such link.
 */
export async function followTrackedLink(ctx: Context, token: string, action: string | undefined): Promise<string | undefined> {
  if (!TOKEN_PATTERN.test(token) || (action !== undefined && !ACTION_PATTERN.test(action))) return undefined;
  const owner = await ownerOf(ctx, token);
  if (!owner?.tracking) return undefined;
  const plan = JSON.parse(owner.tracking) as TrackingPlan;
  const target = plan.clicks ? plan.targets[action ?? ''] : undefined;
  if (target === undefined) return undefined;
  await ctx.store.insertEvent({ notificationId: owner.notification_id, subscriptionId: owner.subscription_id, kind: 'clicked', action: action ?? null, at: ctx.now() });
  return target;
}

function actionIdsOf(payloadText: string): string[] {
  try {
    const value = JSON.parse(payloadText) as Record<string, unknown>;
    const actions = isDeclarative(value) ? value.notification.actions : value.actions;
    return Array.isArray(actions) ? actions.map((a: Record<string, unknown>) => String(a.action)) : [];
  } catch {
    return [];
  }
}
