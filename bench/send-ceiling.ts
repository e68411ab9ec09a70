/**
 * Ceiling (c) of `npm run bench:send`, in a process of its own so that it runs on the cores the
 * senders get (with `--pin`, not the stand-in's): `threads` worker threads each encrypt their share
 * (send-encrypt-worker.ts). Prints the time from the first worker's start to the last one's end
 * and this process's CPU over that span (all threads), as JSON.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';

const job = JSON.parse(process.argv[2]!) as { count: number; threads: number; subscription: unknown; payload: string };
const perWorker = Math.ceil(job.count / job.threads);
const worker = path.join(path.dirname(fileURLToPath(import.meta.url)), 'send-encrypt-worker.js');
const cpuBefore = process.cpuUsage();
const started = performance.now();
await Promise.all(
  Array.from({ length: job.threads }, () => {
    const thread = new Worker(worker, { workerData: { count: perWorker, subscription: job.subscription, payload: job.payload } });
    return new Promise<void>((resolve, reject) => {
      thread.once('message', () => resolve());
      thread.once('error', reject);
    }).finally(() => thread.terminate());
  }),
);
const ms = performance.now() - started;
const cpu = process.cpuUsage(cpuBefore);
process.stdout.write(JSON.stringify({ messages: perWorker * job.threads, ms, cpuUs: cpu.user + cpu.system }));
