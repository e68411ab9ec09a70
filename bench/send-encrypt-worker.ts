/**
 * Ceiling (c) of `npm run bench:send`: RFC 8291 encryption alone (web-push's generateRequestDetails
 * without VAPID), one worker thread per core, no network. Each worker encrypts `count` messages.
 */
import { parentPort, workerData } from 'node:worker_threads';
import webpush from 'web-push';

const { count, subscription, payload } = workerData as { count: number; subscription: webpush.PushSubscription; payload: string };
const body = Buffer.from(payload);
let bytes = 0;
for (let i = 0; i < count; i++) {
  bytes += webpush.generateRequestDetails(subscription, body, { vapidDetails: null as unknown as undefined, TTL: 60 }).body.length;
}
parentPort!.postMessage({ count, bytes });
