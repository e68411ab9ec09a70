/**
 * Diagnostic row of `npm run bench:send`: pushctl's wire layer alone (the built
 * dist/push/sender.js: encryption, cached VAPID, undici pool), with no store and no delivery
 * engine, `concurrency` at a time. The gap between this and `pushctl send` is the engine's cost.
 */
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

interface Job {
  root: string;
  subscriptionsFile: string;
  payload: string;
  ttl: number;
  concurrency: number;
  http2: boolean;
  /** undefined: the sender's default */
  encryptionThreads?: number;
  vapid: { subject: string; publicKey: string; privateKey: string };
}

const job = JSON.parse(process.argv[2]!) as Job;
/** Peak RSS (KB) and CPU time of the whole process, all threads, start-up included (µs). */
const usage = () => {
  const u = process.resourceUsage();
  return { maxRssKb: u.maxRSS, cpuUs: u.userCPUTime + u.systemCPUTime };
};
const { createPushSender } = (await import(pathToFileURL(path.join(job.root, 'dist/push/sender.js')).href)) as typeof import('../src/push/sender.js');
const targets = fs
  .readFileSync(job.subscriptionsFile, 'utf8')
  .split('\n')
  .filter(Boolean)
  .map((line) => {
    const s = JSON.parse(line) as { endpoint: string; keys: { p256dh: string; auth: string } };
    return { endpoint: s.endpoint, p256dh: s.keys.p256dh, auth: s.keys.auth };
  });
const sender = createPushSender({ concurrency: job.concurrency, http2: job.http2, encryptionThreads: job.encryptionThreads });
const payload = Buffer.from(job.payload);

let next = 0;
let sent = 0;
let failed = 0;
const started = performance.now();
await Promise.all(
  Array.from({ length: job.concurrency }, async () => {
    while (next < targets.length) {
      const outcome = await sender.send(targets[next++]!, payload, { ttl: job.ttl }, job.vapid);
      if (outcome.kind === 'delivered') sent += 1;
      else failed += 1;
    }
  }),
);
const ms = performance.now() - started;
await sender.close();
process.stdout.write(`${JSON.stringify({ sent, failed, ms, ...usage(), jwtSigned: sender.jwtSigned })}\n`);
