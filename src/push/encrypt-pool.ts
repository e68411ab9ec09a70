/**
 * Encryption on worker threads. Each message costs one ECDH and a few HMACs, about 0.2 ms of CPU;
 * that is most of what sending costs, and on one thread it would cap a fan-out at one core. The
 * workers run the same web-push call as encrypt.ts. Messages are encrypted on the calling thread
 * until the workers are up, so a send to a handful of subscribers never waits for them to start.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { encryptPayload, webPushArguments, wireHeaders, type EncryptedRequest } from './encrypt.js';
import type { PushOptions, PushTarget } from './types.js';

export interface Encryptor {
  encrypt(target: PushTarget, payload: Buffer, options: PushOptions): Promise<EncryptedRequest>;
  close(): Promise<void>;
  /** Messages encrypted by worker threads so far (the rest ran on the calling thread). */
  readonly offThread: number;
}

/** Encryption on the calling thread. */
export const inlineEncryptor: Encryptor = {
  encrypt: async (target, payload, options) => encryptPayload(target, payload, options),
  close: async () => {},
  offThread: 0,
};

// Plain CommonJS run with `eval`, so the same pool works from dist/ and from the TypeScript
// sources under test; web-push is loaded by absolute path because an eval worker resolves
// modules from the current directory, not from this package.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const webpush = require(workerData.webPushPath);
parentPort.on('message', (batch) => {
  const bodies = [];
  const replies = batch.map(([subscription, payload, options]) => {
    try {
      const details = webpush.generateRequestDetails(subscription, Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength), options);
      // A small Buffer is a slice of an 8 KB pool: copy it out so only its own bytes travel.
      const body = new Uint8Array(details.body);
      bodies.push(body.buffer);
      return { headers: details.headers, body };
    } catch (error) {
      return { error: error instanceof Error ? error.message : String(error) };
    }
  });
  parentPort.postMessage(replies, bodies);
});
parentPort.postMessage('ready');
`;

type WorkerArgs = [subscription: { endpoint: string; keys: { p256dh: string; auth: string } }, payload: Uint8Array, options: ReturnType<typeof webPushArguments>[2]];
type Job = { target: PushTarget; payload: Buffer; options: PushOptions; args: WorkerArgs; resolve: (r: EncryptedRequest) => void; reject: (e: Error) => void };
type Reply = { headers: Record<string, unknown>; body: Uint8Array } | { error: string };

interface Lane {
  worker: Worker;
  ready: boolean;
  /** Batches sent and not yet answered, oldest first: replies come back in the same order. */
  inFlight: Job[][];
  outstanding: number;
}

export function createEncryptionPool(threads: number): Encryptor {
  const webPushPath = createRequire(import.meta.url).resolve('web-push');
  const lanes: Lane[] = [];
  let queued: Job[] = [];
  let flushScheduled = false;
  let closed = false;
  let offThread = 0;
  // The payload is one Buffer per notification, usually a slice of an 8 KB pool; a worker gets
  // an exact copy made once, not the pool once per message.
  const exactCopies = new WeakMap<Buffer, Uint8Array>();
  function exactCopy(payload: Buffer): Uint8Array {
    let copy = exactCopies.get(payload);
    if (!copy) {
      copy = new Uint8Array(payload);
      exactCopies.set(payload, copy);
    }
    return copy;
  }

  for (let i = 0; i < threads; i++) {
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { webPushPath } });
    // Idle workers must not keep a finished CLI alive.
    worker.unref();
    const lane: Lane = { worker, ready: false, inFlight: [], outstanding: 0 };
    worker.on('message', (message: 'ready' | Reply[]) => {
      if (message === 'ready') {
        lane.ready = true;
        return;
      }
      const batch = lane.inFlight.shift() ?? [];
      lane.outstanding -= batch.length;
      if (lane.outstanding === 0) lane.worker.unref();
      batch.forEach((job, index) => settle(job, message[index]));
    });
    worker.on('error', (error) => failLane(lane, error));
    worker.on('exit', () => failLane(lane, new Error('encryption worker stopped')));
    lanes.push(lane);
  }

  function settle(job: Job, reply: Reply | undefined): void {
    if (!reply) job.reject(new Error('encryption worker sent no reply'));
    else if ('error' in reply) job.reject(new Error(reply.error));
    else {
      offThread += 1;
      job.resolve({ headers: wireHeaders(reply.headers), body: Buffer.from(reply.body.buffer, reply.body.byteOffset, reply.body.byteLength) });
    }
  }

  function failLane(lane: Lane, error: Error): void {
    const index = lanes.indexOf(lane);
    if (index < 0) return;
    lanes.splice(index, 1);
    lane.worker.unref();
    if (!closed) process.emitWarning(`pushctl: an encryption thread stopped (${error.message}); encrypting on the main thread`);
    // Whatever the lane held is encrypted again on this thread.
    for (const job of lane.inFlight.flat()) runInline(job);
    lane.inFlight = [];
  }

  function runInline(job: Job): void {
    try {
      job.resolve(encryptPayload(job.target, job.payload, job.options));
    } catch (error) {
      job.reject(error as Error);
    }
  }

  /** Hands everything queued during this turn of the event loop to the least busy ready worker. */
  function flush(): void {
    flushScheduled = false;
    const jobs = queued;
    queued = [];
    const ready = lanes.filter((lane) => lane.ready);
    if (!ready.length) {
      jobs.forEach(runInline);
      return;
    }
    // Spread a big turn over all workers; a small one goes to whichever has least to do.
    const share = Math.ceil(jobs.length / ready.length);
    for (let start = 0; start < jobs.length; start += share) {
      const lane = ready.reduce((a, b) => (b.outstanding < a.outstanding ? b : a));
      const batch = jobs.slice(start, start + share);
      lane.inFlight.push(batch);
      // A worker with work to do keeps the process alive; an idle one does not.
      if (lane.outstanding === 0) lane.worker.ref();
      lane.outstanding += batch.length;
      lane.worker.postMessage(batch.map((job) => job.args));
    }
  }

  return {
    encrypt(target, payload, options) {
      return new Promise<EncryptedRequest>((resolve, reject) => {
        const [subscription, , webPushOptions] = webPushArguments(target, payload, options);
        queued.push({ target, payload, options, args: [subscription, exactCopy(payload), webPushOptions], resolve, reject });
        if (!flushScheduled) {
          flushScheduled = true;
          setImmediate(flush);
        }
      });
    },
    get offThread() {
      return offThread;
    },
    async close() {
      closed = true;
      const all = lanes.splice(0);
      for (const lane of all) for (const job of lane.inFlight.flat()) runInline(job);
      await Promise.all(all.map((lane) => lane.worker.terminate()));
    },
  };
}
