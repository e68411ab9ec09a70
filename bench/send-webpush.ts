/**
 * Baseline (b) of `npm run bench:send`: web-push's own sendNotification, `concurrency` requests
 * at a time over one keep-alive https.Agent, as a program using web-push directly would send.
 * Runs as its own process so its CPU and memory are its own. Prints one JSON line.
 */
import fs from 'node:fs';
import https from 'node:https';
import webpush from 'web-push';
import { readJob, readSubscriptions, runLoop, usage, type WebPushJob } from './send-loop.js';

const job = readJob<WebPushJob>();
const subscriptions = readSubscriptions(job.subscriptionsFile);
const agent = new https.Agent({ keepAlive: true, maxSockets: job.concurrency, ca: fs.readFileSync(job.caFile) });

const result = await runLoop(subscriptions, job.concurrency, async (subscription) => {
  await webpush.sendNotification(subscription, job.payload, { vapidDetails: job.vapid, TTL: job.ttl, agent });
  return true;
});
agent.destroy();
process.stdout.write(`${JSON.stringify({ ...result, ...usage() })}\n`);
