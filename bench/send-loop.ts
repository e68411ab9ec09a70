/**
 * What the sending processes of `npm run bench:send` share: the job from argv, the subscriptions
 * file, `concurrency` requests at a time over it, and the process's own peak RSS and CPU time.
 */
import fs from 'node:fs';

/** What the harness hands a web-push baseline process. */
export interface WebPushJob {
  subscriptionsFile: string;
  payload: string;
  ttl: number;
  concurrency: number;
  caFile: string;
  vapid: { subject: string; publicKey: string; privateKey: string };
}

export function readJob<T>(): T {
  return JSON.parse(process.argv[2]!) as T;
}

/** PushSubscription JSON, one a line. */
export function readSubscriptions(file: string): Array<{ endpoint: string; keys: { p256dh: string; auth: string } }> {
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as { endpoint: string; keys: { p256dh: string; auth: string } });
}

/** Sends to every item, `concurrency` at a time; `sendOne` says whether it was delivered (a throw counts as failed). */
export async function runLoop<T>(items: T[], concurrency: number, sendOne: (item: T) => Promise<boolean>): Promise<{ sent: number; failed: number; ms: number }> {
  let next = 0;
  let sent = 0;
  let failed = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) {
        const item = items[next++]!;
        try {
          if (await sendOne(item)) sent += 1;
          else failed += 1;
        } catch {
          failed += 1;
        }
      }
    }),
  );
  return { sent, failed, ms: performance.now() - started };
}

/** Peak RSS (KB) and CPU time of the whole process, all threads, start-up included (µs). */
export function usage(): { maxRssKb: number; cpuUs: number } {
  const u = process.resourceUsage();
  return { maxRssKb: u.maxRSS, cpuUs: u.userCPUTime + u.systemCPUTime };
}
