/**
 * Messages between the pipeline sender (pipeline.ts, main thread) and its worker threads
 * (pipeline-worker.ts). Compact on purpose: copying between threads is the pipeline's overhead,
 * so each distinct payload, options object and VAPID key crosses once per batch, not per message.
 */
import type { PushOptions, PushOutcomeKind, VapidCredentials } from './types.js';

export interface PipelineWorkerData {
  concurrency: number;
  connectTimeoutMs?: number | undefined;
  requestTimeoutMs?: number | undefined;
  ca?: string | undefined;
  http2?: boolean | undefined;
}

/** One request: [job id, endpoint, p256dh, auth, payload index, options index, vapid index]. */
export type PipelineJob = [number, string, string, string, number, number, number];

/** A hint before the first batch: the first requests go to these endpoints (see PushSender.preconnect). */
export interface PipelinePreconnect {
  preconnect: readonly string[];
  /** This thread's share of the requests in flight. */
  inFlight: number;
}

export interface PipelineBatch {
  jobs: PipelineJob[];
  payloads: Uint8Array[];
  options: PushOptions[];
  vapids: VapidCredentials[];
}

/** One answer: [job id, kind, status or 0, retryAfterMs or -1, message or '']. */
export type PipelineResult = [number, PushOutcomeKind, number, number, string];

export interface PipelineReply {
  results: PipelineResult[];
  /** JWTs this worker has signed so far. */
  jwtSigned: number;
  /** Connections this worker has opened ahead so far. */
  openedAhead: number;
}
