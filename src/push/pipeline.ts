/**
 * Whole send pipelines on every core. Each worker thread (pipeline-worker.ts) encrypts, signs
 * (one VAPID header per origin and key, cached in the thread) and posts through its own pooled
 * connections; the calling thread only hands out requests and takes back answers, so it stays
 * free for paging recipients and writing the ledger. Measured on 2 cores: the calling thread was
 * the bottleneck when it did the HTTP/TLS itself and only encryption ran on a worker.
 *
 * This module loads neither undici nor web-push: the threads do, in parallel with the caller's
 * own start-up (create the sender before reading recipients and the threads are ready by then).
 */
import os from 'node:os';
import type { Worker } from 'node:worker_threads';
import type { PipelineBatch, PipelineJob, PipelinePreconnect, PipelineReply, PipelineWorkerData } from './pipeline-protocol.js';
import { builtFile } from './built-file.js';
import { startWorker } from './worker-start.js';
import { MAX_PLAINTEXT_BYTES, type PushOptions, type PushOutcome, type PushSender, type PushSenderOptions, type PushTarget, type VapidCredentials } from './types.js';

/**
 * Most pipelines when the caller does not say: one per core but one, at least one, at most 8. The
 * calling thread's share (paging, tracking tokens, the ledger) is real work: measured on 2 cores,
 * one pipeline thread sent 10,000-20,000 messages with 10-25% less CPU than two, in the same wall time.
 */
export function defaultPipelineThreads(): number {
  return Math.min(Math.max(os.availableParallelism() - 1, 1), 8);
}

/**
 * Requests that pay for one more thread. Each thread costs ~100-150 ms of CPU to start (undici and
 * web-push compiled again in it); at ~0.4 ms of CPU per message that is a few hundred messages,
 * and a second core only shortens a send that runs for a while. Measured on 2 cores at N=2,000,
 * one thread used 20-25% less CPU than two for the same wall time.
 */
export const REQUESTS_PER_EXTRA_THREAD = 5_000;

export interface PipelineSenderOptions extends Omit<PushSenderOptions, 'encryptionThreads'> {
  /** Most worker threads, each a whole pipeline (default: one per core but one, at least 1, at most 8). */
  threads?: number | undefined;
  /**
   * Threads started at once (default 1); expect() adds the rest when the work is known to be
   * large enough to pay for them.
   */
  initialThreads?: number | undefined;
}

export interface PipelineSender extends PushSender {
  /** JWTs signed by all threads so far (one per origin and key per thread when the caches work). */
  readonly jwtSigned: number;
  /** Connections all threads opened ahead of requests so far (as last reported by each). */
  readonly openedAhead: number;
  preconnect(endpoints: readonly string[], inFlight?: number): void;
}

interface Job {
  target: PushTarget;
  payload: Buffer;
  options: PushOptions;
  vapid: VapidCredentials;
  resolve: (outcome: PushOutcome) => void;
}

interface Lane {
  worker: Worker;
  /** Jobs handed to this thread and not yet answered, by job id. */
  outstanding: Map<number, Job>;
  jwtSigned: number;
  openedAhead: number;
}


export function createPipelineSender(options: PipelineSenderOptions): PipelineSender {
  const concurrency = Math.max(1, Math.floor(options.concurrency));
  const threads = Math.max(1, Math.floor(options.threads ?? defaultPipelineThreads()));
  const initialThreads = Math.min(threads, Math.max(1, Math.floor(options.initialThreads ?? 1)));
  /**
   * Connections for a thread: its share of the total in flight, which the calling side bounds.
   * Handing each request to the least busy thread keeps the shares even; a thread that gets one
   * more than its share queues it for a moment rather than open (and TLS-handshake) another
   * connection. A thread started alone takes the whole total.
   */
  const workerData = (share: number): PipelineWorkerData => ({
    concurrency: Math.ceil(concurrency / share),
    connectTimeoutMs: options.connectTimeoutMs,
    requestTimeoutMs: options.requestTimeoutMs,
    ca: options.ca?.toString(),
    http2: options.http2,
  });
  const file = builtFile('./pipeline-worker.js');
  const lanes: Lane[] = [];
  /** Every thread ever started, for the statistics. */
  const allLanes: Lane[] = [];
  let nextId = 1;
  let inFlight = 0;
  const waiting: Job[] = [];
  let waitingHead = 0;
  let queued: Array<{ lane: Lane; id: number; job: Job }> = [];
  let flushScheduled = false;
  let closed = false;

  function startThread(share: number): void {
    const worker = startWorker(file, { workerData: workerData(share) });
    // Idle threads must not keep a finished CLI alive.
    worker.unref();
    const lane: Lane = { worker, outstanding: new Map(), jwtSigned: 0, openedAhead: 0 };
    worker.on('message', (reply: PipelineReply) => {
      lane.jwtSigned = reply.jwtSigned;
      lane.openedAhead = reply.openedAhead;
      for (const [id, kind, status, retryAfterMs, message] of reply.results) {
        const job = lane.outstanding.get(id);
        if (!job) continue;
        lane.outstanding.delete(id);
        const outcome: PushOutcome = { kind };
        if (status) outcome.status = status;
        if (retryAfterMs >= 0) outcome.retryAfterMs = retryAfterMs;
        if (message) outcome.message = message;
        finish(job, outcome);
      }
      if (lane.outstanding.size === 0) lane.worker.unref();
    });
    worker.on('error', (error) => failLane(lane, error));
    worker.on('exit', () => failLane(lane, new Error('exited')));
    lanes.push(lane);
    allLanes.push(lane);
  }
  for (let i = 0; i < initialThreads; i++) startThread(initialThreads);

  function finish(job: Job, outcome: PushOutcome): void {
    inFlight -= 1;
    job.resolve(outcome);
    if (waitingHead < waiting.length) {
      const next = waiting[waitingHead++]!;
      if (waitingHead > 1024 && waitingHead * 2 > waiting.length) {
        waiting.splice(0, waitingHead);
        waitingHead = 0;
      }
      dispatch(next);
    }
  }

  /** A thread that dies takes its requests with it: they may have gone out, so they are retried, never re-sent here. */
  function failLane(lane: Lane, error: Error): void {
    const index = lanes.indexOf(lane);
    if (index < 0) return;
    lanes.splice(index, 1);
    if (!closed) process.emitWarning(`pushctl: a send thread stopped (${error.message}); continuing on ${lanes.length}`);
    const lost = [...lane.outstanding.values()];
    lane.outstanding.clear();
    for (const job of lost) finish(job, { kind: 'retry', message: `send thread stopped: ${error.message}` });
  }

  function dispatch(job: Job): void {
    inFlight += 1;
    if (!lanes.length) {
      finish(job, { kind: 'retry', message: 'no send thread is running' });
      return;
    }
    let lane = lanes[0]!;
    for (const other of lanes) if (other.outstanding.size < lane.outstanding.size) lane = other;
    const id = nextId++;
    if (lane.outstanding.size === 0) lane.worker.ref();
    lane.outstanding.set(id, job);
    queued.push({ lane, id, job });
    if (!flushScheduled) {
      flushScheduled = true;
      setImmediate(flush);
    }
  }

  /** One message per thread per event-loop turn, each distinct payload/options/key once in it. */
  function flush(): void {
    flushScheduled = false;
    const byLane = new Map<Lane, Array<{ id: number; job: Job }>>();
    for (const entry of queued) {
      let list = byLane.get(entry.lane);
      if (!list) byLane.set(entry.lane, (list = []));
      list.push(entry);
    }
    queued = [];
    for (const [lane, entries] of byLane) {
      if (!lanes.includes(lane)) {
        // The thread died between dispatch and flush: failLane already answered these.
        continue;
      }
      const payloadIndex = new Map<Buffer, number>();
      const optionIndex = new Map<PushOptions, number>();
      const vapidIndex = new Map<VapidCredentials, number>();
      const batch: PipelineBatch = { jobs: [], payloads: [], options: [], vapids: [] };
      for (const { id, job } of entries) {
        let p = payloadIndex.get(job.payload);
        if (p === undefined) {
          p = batch.payloads.push(new Uint8Array(job.payload)) - 1; // an exact copy, not its 8 KB pool
          payloadIndex.set(job.payload, p);
        }
        let o = optionIndex.get(job.options);
        if (o === undefined) {
          o = batch.options.push({ ttl: job.options.ttl, urgency: job.options.urgency, topic: job.options.topic, notAfter: job.options.notAfter }) - 1;
          optionIndex.set(job.options, o);
        }
        let v = vapidIndex.get(job.vapid);
        if (v === undefined) {
          v = batch.vapids.push({ publicKey: job.vapid.publicKey, privateKey: job.vapid.privateKey, subject: job.vapid.subject }) - 1;
          vapidIndex.set(job.vapid, v);
        }
        const entry: PipelineJob = [id, job.target.endpoint, job.target.p256dh, job.target.auth, p, o, v];
        batch.jobs.push(entry);
      }
      lane.worker.postMessage(batch);
    }
  }

  return {
    send(target, payload, pushOptions, vapid) {
      // Cheap refusals here, before a thread is bothered (the thread checks the rest).
      if (payload.length > MAX_PLAINTEXT_BYTES) {
        return Promise.resolve({ kind: 'too-large', message: `payload is ${payload.length} bytes; at most ${MAX_PLAINTEXT_BYTES} fit in one push message` });
      }
      const refusal = options.endpointRefusal?.(target.endpoint);
      if (refusal) return Promise.resolve({ kind: 'failed', message: `not sent: ${refusal}` });
      return new Promise<PushOutcome>((resolve) => {
        const job: Job = { target, payload, options: pushOptions, vapid, resolve };
        if (inFlight < concurrency) dispatch(job);
        else waiting.push(job);
      });
    },
    async close() {
      closed = true;
      const all = lanes.splice(0);
      await Promise.all(all.map((lane) => lane.worker.terminate()));
      // Whatever was still out is answered, so no caller waits forever.
      for (const lane of all) for (const job of lane.outstanding.values()) job.resolve({ kind: 'retry', message: 'sender closed' });
      for (const job of waiting.splice(waitingHead)) job.resolve({ kind: 'retry', message: 'sender closed' });
    },
    preconnect(endpoints, inFlight = concurrency) {
      // Each thread opens its share of the connections; a thread started later connects as its
      // requests come.
      const allowed = options.endpointRefusal ? endpoints.filter((endpoint) => !options.endpointRefusal!(endpoint)) : endpoints;
      const message: PipelinePreconnect = { preconnect: allowed, inFlight: Math.ceil(Math.min(inFlight, concurrency) / Math.max(1, lanes.length)) };
      for (const lane of lanes) lane.worker.postMessage(message);
    },
    expect(requests) {
      const wanted = Math.min(threads, 1 + Math.floor(requests / REQUESTS_PER_EXTRA_THREAD));
      while (!closed && allLanes.length < wanted) startThread(wanted);
    },
    get jwtSigned() {
      return allLanes.reduce((sum, lane) => sum + lane.jwtSigned, 0);
    },
    get openedAhead() {
      return allLanes.reduce((sum, lane) => sum + lane.openedAhead, 0);
    },
  };
}
