/**
 * Encryption on worker threads. Each message costs one ECDH and a few HMACs, about 0.2 ms of CPU;
 * that is most of what sending costs, and on one thread it would cap a fan-out at one core. The
 * workers run the same encryption module as encrypt.ts. Messages are encrypted on the calling thread
 * until the workers are up, so a send to a handful of subscribers never waits for them to start.
 */
import type { Worker } from 'node:worker_threads';
import { encryptionModuleUrl, encryptPayload, pushHeaders, type EncryptedRequest } from './encrypt.js';
import type { PushOptions, PushTarget } from './types.js';
import { startWorker } from './worker-start.js';

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
// sources under test; the encryption module is imported by URL because an eval worker resolves
// modules from the current directory, not from this package. Messages wait in the port until the
// import is done and the listener is attached.
//
// The messages are compact because copying them between threads is the pool's main overhead:
// in, each distinct payload once plus two key strings and a payload index per message; out, all
// bodies in one transferred buffer. Headers do not vary between subscribers and are made on the
// calling side; the endpoint plays no part in encryption.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
import(workerData.moduleUrl).then(({ encryptForSubscription }) => {
parentPort.on('message', ({ payloads, keys, refs }) => {
  const buffers = payloads.map((p) => Buffer.from(p.buffer, p.byteOffset, p.byteLength));
  const count = refs.length;
  const lengths = new Int32Array(count);
  const errors = {};
  const bodies = [];
  let total = 0;
  for (let i = 0; i < count; i++) {
    try {
      const body = encryptForSubscription(keys[2 * i], keys[2 * i + 1], buffers[refs[i]]);
      bodies.push(body);
      lengths[i] = body.length;
      total += body.length;
    } catch (error) {
      lengths[i] = -1;
      errors[i] = error instanceof Error ? error.message : String(error);
    }
  }
  const data = new Uint8Array(total);
  let offset = 0;
  for (const body of bodies) {
    data.set(body, offset);
    offset += body.length;
  }
  parentPort.postMessage({ data, lengths, errors }, [data.buffer, lengths.buffer]);
});
parentPort.postMessage('ready');
});
`;

interface Job {
  target: PushTarget;
  payload: Buffer;
  options: PushOptions;
  resolve: (r: EncryptedRequest) => void;
  reject: (e: Error) => void;
}

interface Reply {
  data: Uint8Array;
  lengths: Int32Array;
  errors: Record<number, string>;
}

interface Batch {
  jobs: Job[];
}

interface Lane {
  worker: Worker;
  ready: boolean;
  /** Batches sent and not yet answered, oldest first: replies come back in the same order. */
  inFlight: Batch[];
  outstanding: number;
}

export function createEncryptionPool(threads: number): Encryptor {
  const lanes: Lane[] = [];
  let queued: Job[] = [];
  let flushScheduled = false;
  let closed = false;
  let offThread = 0;

  for (let i = 0; i < threads; i++) {
    const worker = startWorker(WORKER_SOURCE, { eval: true, workerData: { moduleUrl: encryptionModuleUrl() } });
    // Idle workers must not keep a finished CLI alive.
    worker.unref();
    const lane: Lane = { worker, ready: false, inFlight: [], outstanding: 0 };
    worker.on('message', (message: 'ready' | Reply) => {
      if (message === 'ready') {
        lane.ready = true;
        return;
      }
      const batch = lane.inFlight.shift();
      if (!batch) return;
      lane.outstanding -= batch.jobs.length;
      if (lane.outstanding === 0) lane.worker.unref();
      settle(batch, message);
    });
    worker.on('error', (error) => failLane(lane, error));
    worker.on('exit', () => failLane(lane, new Error('encryption worker stopped')));
    lanes.push(lane);
  }

  function settle(batch: Batch, reply: Reply): void {
    let offset = 0;
    batch.jobs.forEach((job, i) => {
      const length = reply.lengths[i]!;
      if (length < 0) {
        job.reject(new Error(reply.errors[i] ?? 'encryption failed'));
        return;
      }
      offThread += 1;
      job.resolve({ headers: pushHeaders(job.options), body: Buffer.from(reply.data.buffer, reply.data.byteOffset + offset, length) });
      offset += length;
    });
  }

  function failLane(lane: Lane, error: Error): void {
    const index = lanes.indexOf(lane);
    if (index < 0) return;
    lanes.splice(index, 1);
    lane.worker.unref();
    if (!closed) process.emitWarning(`pushctl: an encryption thread stopped (${error.message}); encrypting on the main thread`);
    // Whatever the lane held is encrypted again on this thread.
    for (const batch of lane.inFlight) batch.jobs.forEach(runInline);
    lane.inFlight = [];
  }

  function runInline(job: Job): void {
    try {
      job.resolve(encryptPayload(job.target, job.payload, job.options));
    } catch (error) {
      job.reject(error as Error);
    }
  }

  function post(lane: Lane, jobs: Job[]): void {
    const payloadIndex = new Map<Buffer, number>();
    const payloads: Uint8Array[] = [];
    const keys: string[] = [];
    const refs = new Uint32Array(jobs.length);
    jobs.forEach((job, i) => {
      let p = payloadIndex.get(job.payload);
      if (p === undefined) {
        p = payloads.push(new Uint8Array(job.payload)) - 1; // an exact copy, not its 8 KB pool
        payloadIndex.set(job.payload, p);
      }
      keys.push(job.target.p256dh, job.target.auth);
      refs[i] = p;
    });
    lane.inFlight.push({ jobs });
    // A worker with work to do keeps the process alive; an idle one does not.
    if (lane.outstanding === 0) lane.worker.ref();
    lane.outstanding += jobs.length;
    lane.worker.postMessage({ payloads, keys, refs }, [refs.buffer]);
  }

  /** Hands everything queued during this turn of the event loop to the ready workers, least busy first. */
  function flush(): void {
    flushScheduled = false;
    const jobs = queued;
    queued = [];
    const ready = lanes.filter((lane) => lane.ready);
    if (!ready.length) {
      jobs.forEach(runInline);
      return;
    }
    // When every worker already has a backlog, this thread takes a share too: while sending it
    // mostly waits on sockets (measured ~60% idle with one worker saturated on 2 cores).
    const inline = ready.every((lane) => lane.outstanding > 0) ? Math.floor(jobs.length / (ready.length + 1)) : 0;
    const share = Math.ceil((jobs.length - inline) / ready.length);
    for (let start = inline; start < jobs.length; start += share) {
      post(ready.reduce((a, b) => (b.outstanding < a.outstanding ? b : a)), jobs.slice(start, start + share));
    }
    for (let i = 0; i < inline; i++) runInline(jobs[i]!);
  }

  return {
    encrypt(target, payload, options) {
      return new Promise<EncryptedRequest>((resolve, reject) => {
        queued.push({ target, payload, options, resolve, reject });
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
      for (const lane of all) for (const batch of lane.inFlight) batch.jobs.forEach(runInline);
      await Promise.all(all.map((lane) => lane.worker.terminate()));
    },
  };
}
