/**
 * One whole send pipeline on a worker thread: encrypt, authorise with this thread's cached VAPID
 * header, POST through this thread's own pooled connections, classify the answer. It is the same
 * sender the main thread would use (sender.ts), with encryption inline: this thread is the core
 * it runs on. Answers go back to the main thread in batches: a postMessage costs about as much
 * as a third of a message's encryption (measured), so one per answer would waste a core's tenth.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { PipelineBatch, PipelinePreconnect, PipelineReply, PipelineResult, PipelineWorkerData } from './pipeline-protocol.js';
import { createPushSender } from './sender.js';

const config = workerData as PipelineWorkerData;
const sender = createPushSender({ ...config, encryptionThreads: 0 });
const port = parentPort!;
/** Answers are held at most this long for company; a batch of a quarter of what is in flight goes at once. */
const HOLD_MS = 2;
let pending: PipelineResult[] = [];
let outstanding = 0;
let timer: NodeJS.Timeout | undefined;

function flush(): void {
  clearTimeout(timer);
  timer = undefined;
  if (!pending.length) return;
  const reply: PipelineReply = { results: pending, jwtSigned: sender.jwtSigned, openedAhead: sender.openedAhead };
  pending = [];
  port.postMessage(reply);
}

port.on('message', (message: PipelineBatch | PipelinePreconnect) => {
  if ('preconnect' in message) {
    sender.preconnect(message.preconnect, message.inFlight);
    return;
  }
  const batch = message;
  outstanding += batch.jobs.length;
  const payloads = batch.payloads.map((p) => Buffer.from(p.buffer, p.byteOffset, p.byteLength));
  for (const [id, endpoint, p256dh, auth, p, o, v] of batch.jobs) {
    sender.send({ endpoint, p256dh, auth }, payloads[p]!, batch.options[o]!, batch.vapids[v]!).then(
      (outcome) => answer([id, outcome.kind, outcome.status ?? 0, outcome.retryAfterMs ?? -1, outcome.message ?? '']),
      (error: unknown) => answer([id, 'failed', 0, -1, error instanceof Error ? error.message : String(error)]),
    );
  }
});

function answer(result: PipelineResult): void {
  pending.push(result);
  outstanding -= 1;
  // Nothing else to wait for, or enough for a batch: go now. Otherwise hold briefly.
  if (outstanding === 0 || pending.length * 4 >= outstanding + pending.length) flush();
  else timer ??= setTimeout(flush, HOLD_MS);
}
