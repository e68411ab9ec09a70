/**
 * Baseline (b) of `npm run bench:send`: web-push's own sendNotification, `concurrency` requests
 * at a time over one keep-alive https.Agent, as a program using web-push directly would send.
 * Runs as its own process so its CPU and memory are its own. Prints one JSON line.
 */
import fs from 'node:fs';
import https from 'node:https';
import webpush from 'web-push';

interface Job {
  subscriptionsFile: string;
  payload: string;
  ttl: number;
  concurrency: number;
  caFile: string;
  vapid: { subject: string; publicKey: string; privateKey: string };
}

const job = JSON.parse(process.argv[2]!) as Job;
/** Peak RSS (KB) and CPU time of the whole process, all threads, start-up included (µs). */
const usage = () => {
  const u = process.resourceUsage();
  return { maxRssKb: u.maxRSS, cpuUs: u.userCPUTime + u.systemCPUTime };
};
const subscriptions = fs
  .readFileSync(job.subscriptionsFile, 'utf8')
  .split('\n')
  .filter(Boolean)
  .map((line) => JSON.parse(line) as webpush.PushSubscription);
const agent = new https.Agent({ keepAlive: true, maxSockets: job.concurrency, ca: fs.readFileSync(job.caFile) });

let next = 0;
let sent = 0;
let failed = 0;
const started = performance.now();
await Promise.all(
  Array.from({ length: job.concurrency }, async () => {
    while (next < subscriptions.length) {
      const subscription = subscriptions[next++]!;
      try {
        await webpush.sendNotification(subscription, job.payload, { vapidDetails: job.vapid, TTL: job.ttl, agent });
        sent += 1;
      } catch {
        failed += 1;
      }
    }
  }),
);
const ms = performance.now() - started;
agent.destroy();
process.stdout.write(`${JSON.stringify({ sent, failed, ms, ...usage() })}\n`);
