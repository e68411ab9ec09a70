/**
 * Diagnostic row of `npm run bench:send`: pushctl's send pipelines alone (the built
 * dist/push/pipeline.js: a worker thread per core, each encrypting, signing with a cached VAPID
 * header and posting through its own undici pool), with no store and no delivery engine,
 * `concurrency` at a time. The gap between this and `pushctl send` is the engine's cost; the
 * HTTP/2 row against the HTTP/1.1 one decides whether HTTP/2 is worth offering.
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
  threads?: number;
  vapid: { subject: string; publicKey: string; privateKey: string };
}

const job = JSON.parse(process.argv[2]!) as Job;
/** Peak RSS (KB) and CPU time of the whole process, all threads, start-up included (µs). */
const usage = () => {
  const u = process.resourceUsage();
  return { maxRssKb: u.maxRSS, cpuUs: u.userCPUTime + u.systemCPUTime };
};
const { createPipelineSender } = (await import(pathToFileURL(path.join(job.root, 'dist/push/pipeline.js')).href)) as typeof import('../src/push/pipeline.js');
const targets = fs
  .readFileSync(job.subscriptionsFile, 'utf8')
  .split('\n')
  .filter(Boolean)
  .map((line) => {
    const s = JSON.parse(line) as { endpoint: string; keys: { p256dh: string; auth: string } };
    return { endpoint: s.endpoint, p256dh: s.keys.p256dh, auth: s.keys.auth };
  });
const sender = createPipelineSender({ concurrency: job.concurrency, http2: job.http2, threads: job.threads });
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
