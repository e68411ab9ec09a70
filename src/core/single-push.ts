/**
 * A push to one subscription that is not stored (a test from the admin API's POST /push_v1/ or
 * `pushctl send --subscription-json`): the subscription is validated and the endpoint policy
 * applies as for any stored one, the send is recorded as a notification (so it shows in the
 * history) but the subscription is not added to the subscribers, and the caller gets the push
 * service's answer at once.
 */
import { fail } from '../errors.js';
import type { PushOutcome } from '../push/types.js';
import type { Context } from './context.js';
import { createSenderFor, DEFAULT_LEASE_MS, newOwnerId } from './delivery.js';
import { endpointPolicyFromConfig } from './endpoint-policy.js';
import { activeSigningKey } from './keys.js';
import { buildPayload } from './message.js';
import type { DeliveryOptions, MessageInput } from './notification-spec.js';
import { getNotification, validateDelivery, type NotificationView } from './notifications.js';
import { validateSubscription } from './subscription-rules.js';

export interface SinglePushResult {
  notification: NotificationView;
  delivered: boolean;
  outcome: PushOutcome['kind'];
  /** The push service's HTTP status, when it answered. */
  status: number | undefined;
  message: string | undefined;
}

/**
 * Parses a subscription given as JSON text or as an already parsed value; `field` names it in
 * errors (neutral: each face words it).
 */
export function subscriptionFromJson(value: unknown, field: string): unknown {
  if (typeof value !== 'string') return value;
  try {
    return JSON.parse(value) as unknown;
  } catch (error) {
    throw fail('invalid_input', `not valid JSON (${(error as Error).message})`, { field });
  }
}

/** What pushToSubscription would send, checked the same way, without writing or sending anything. */
export async function previewPushToSubscription(ctx: Context, raw: unknown, message: MessageInput, delivery: DeliveryOptions, where: string): Promise<{ endpoint: string; payloadBytes: number; payload: unknown }> {
  const subscription = validateSubscription(raw, endpointPolicyFromConfig(ctx.config), where);
  const built = buildPayload(message);
  validateDelivery(delivery);
  await activeSigningKey(ctx);
  let payload: unknown = built.text;
  try {
    payload = JSON.parse(built.text) as unknown;
  } catch {
    // a raw text payload: shown as it is
  }
  return { endpoint: subscription.endpoint, payloadBytes: built.bytes, payload };
}

/**
 * Sends `message` to the subscription `raw` (PushSubscription JSON, parsed) and records it. Input
 * problems (a bad subscription, a refused endpoint, a bad message, no VAPID keys) throw before
 * anything is written or sent; the push service's answer, whatever it is, is returned.
 */
export async function pushToSubscription(ctx: Context, raw: unknown, message: MessageInput, delivery: DeliveryOptions, where: string): Promise<SinglePushResult> {
  const subscription = validateSubscription(raw, endpointPolicyFromConfig(ctx.config), where);
  const built = buildPayload(message);
  const options = validateDelivery(delivery);
  const key = await activeSigningKey(ctx);
  const started = ctx.now();
  const id = await ctx.store.insertNotification({
    payload: built.text,
    target: JSON.stringify({ endpoint: subscription.endpoint }),
    ttl: options.ttl ?? ctx.config.push.defaultTtl,
    urgency: options.urgency ?? null,
    topic: options.topic ?? null,
    status: 'sending',
    send_at: started,
    cron: null,
    tz: null,
    until_at: null,
    remaining_count: null,
    stale_after_ms: null,
    idempotency_key: null,
    created_at: started,
    lease_owner: newOwnerId(),
    lease_expires_at: started + DEFAULT_LEASE_MS,
  });
  const sender = await createSenderFor(ctx, 1, { single: true });
  let outcome: PushOutcome;
  try {
    outcome = await sender.send(
      { endpoint: subscription.endpoint, p256dh: subscription.p256dh, auth: subscription.auth },
      Buffer.from(built.text, 'utf8'),
      { ttl: options.ttl ?? ctx.config.push.defaultTtl, urgency: options.urgency, topic: options.topic ?? `pushctl-${id}` },
      { publicKey: key.publicKey, privateKey: key.privateKey, subject: key.subject },
    );
  } catch (error) {
    outcome = { kind: 'failed', message: (error as Error).message };
  } finally {
    await sender.close();
  }
  const delivered = outcome.kind === 'delivered';
  const gone = outcome.kind === 'gone';
  const error = delivered ? null : describeOutcome(outcome);
  await ctx.store.finishSingleSend(id, {
    status: delivered ? 'sent' : 'failed',
    sent: delivered ? 1 : 0,
    gone: gone ? 1 : 0,
    failed: delivered || gone ? 0 : 1,
    error,
    startedAt: started,
    finishedAt: ctx.now(),
  });
  return { notification: await getNotification(ctx, id), delivered, outcome: outcome.kind, status: outcome.status, message: error ?? undefined };
}

function describeOutcome(outcome: PushOutcome): string {
  const detail = `${outcome.kind}${outcome.message ? `: ${outcome.message}` : ''}`;
  return outcome.status === undefined ? `no answer from the push service (${detail})` : `the push service answered ${outcome.status} (${detail})`;
}
