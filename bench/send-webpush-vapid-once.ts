/**
 * Baseline (c') of `npm run bench:send`: what a user who knows web-push writes to send fast.
 * web-push's generateRequestDetails for the encryption, with the VAPID header computed once per
 * push-service origin (getVapidHeaders) and reused, `concurrency` requests at a time over one
 * keep-alive https.Agent, on one thread. Its own process; prints one JSON line.
 */
import fs from 'node:fs';
import https from 'node:https';
import webpush from 'web-push';
import { readJob, readSubscriptions, runLoop, usage, type WebPushJob } from './send-loop.js';

const job = readJob<WebPushJob>();
const subscriptions = readSubscriptions(job.subscriptionsFile);
const agent = new https.Agent({ keepAlive: true, maxSockets: job.concurrency, ca: fs.readFileSync(job.caFile) });
const payload = Buffer.from(job.payload);

/** The five extra lines: one VAPID header per origin. */
const vapidByOrigin = new Map<string, string>();
function authorization(endpoint: string): string {
  const origin = new URL(endpoint).origin;
  let header = vapidByOrigin.get(origin);
  if (!header) {
    header = webpush.getVapidHeaders(origin, job.vapid.subject, job.vapid.publicKey, job.vapid.privateKey, 'aes128gcm').Authorization;
    vapidByOrigin.set(origin, header);
  }
  return header;
}

function post(subscription: webpush.PushSubscription): Promise<number> {
  const details = webpush.generateRequestDetails(subscription, payload, { vapidDetails: null as unknown as undefined, TTL: job.ttl });
  const headers = { ...(details.headers as Record<string, string | number>), Authorization: authorization(subscription.endpoint) };
  return new Promise((resolve, reject) => {
    const request = https.request(details.endpoint, { method: 'POST', headers, agent }, (response) => {
      response.resume();
      response.on('end', () => resolve(response.statusCode ?? 0));
    });
    request.on('error', reject);
    request.end(details.body);
  });
}

const result = await runLoop(subscriptions, job.concurrency, async (subscription) => {
  const status = await post(subscription);
  return status >= 200 && status < 300;
});
agent.destroy();
process.stdout.write(`${JSON.stringify({ ...result, ...usage() })}\n`);
