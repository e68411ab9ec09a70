/**
 * One whole send pipeline on a worker thread: encrypt, authorise with this thread's cached VAPID
 * header, POST through this thread's own pooled connections, classify the answer. It is the same
 * sender the main thread would use (sender.ts), with encryption inline: this thread is the core
 * it runs on. Answers go back to the main thread in one message per event-loop turn.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { PipelineBatch, PipelineReply, PipelineResult, PipelineWorkerData } from './pipeline-protocol.js';
import { createPushSender } from './sender.js';

const config = workerData as PipelineWorkerData;
const sender = createPushSender({ ...config, encryptionThreads: 0 });
const port = parentPort!;
let pending: PipelineResult[] = [];
let flushScheduled = false;

function flush(): void {
  flushScheduled = false;
  const reply: PipelineReply = { results: pending, jwtSigned: sender.jwtSigned };
  pending = [];
  port.postMessage(reply);
}

port.on('message', (batch: PipelineBatch) => {
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
  if (!flushScheduled) {
    flushScheduled = true;
    setImmediate(flush);
  }
}
