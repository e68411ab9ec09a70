/**
 * Diagnostic row of `npm run bench:send`: pushctl's send pipelines alone (the built
 * dist/push/pipeline.js: a worker thread per core, each encrypting, signing with a cached VAPID
 * header and posting through its own undici pool), with no store and no delivery engine,
 * `concurrency` at a time. The gap between this and `pushctl send` is the engine's cost; the
 * HTTP/2 row against the HTTP/1.1 one decides whether HTTP/2 is worth offering.
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { readJob, readSubscriptions, runLoop, usage } from './send-loop.js';

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

const job = readJob<Job>();
const { createPipelineSender } = (await import(pathToFileURL(path.join(job.root, 'dist/push/pipeline.js')).href)) as typeof import('../src/push/pipeline.js');
const targets = readSubscriptions(job.subscriptionsFile).map((s) => ({ endpoint: s.endpoint, p256dh: s.keys.p256dh, auth: s.keys.auth }));
const sender = createPipelineSender({ concurrency: job.concurrency, http2: job.http2, threads: job.threads });
const payload = Buffer.from(job.payload);

const result = await runLoop(targets, job.concurrency, async (target) => (await sender.send(target, payload, { ttl: job.ttl }, job.vapid)).kind === 'delivered');
await sender.close();
process.stdout.write(`${JSON.stringify({ ...result, ...usage(), jwtSigned: sender.jwtSigned })}\n`);
