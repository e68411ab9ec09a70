/**
 * Starts a worker thread with this process's node flags where the thread accepts them. Some
 * flags apply to a whole process only (V8 heap and compiler flags such as
 * --max-semi-space-size or --no-lazy-feedback-allocation): Worker refuses them, and a send run
 * with one must still encrypt and post, so the thread then starts without any.
 */
import { Worker, type WorkerOptions } from 'node:worker_threads';

export function startWorker(source: string | URL, options: Omit<WorkerOptions, 'execArgv'>): Worker {
  // A parent started with --input-type=module must not pass it on: the eval'd CommonJS source
  // would fail at once (require is not defined).
  const execArgv = process.execArgv.filter((arg) => !arg.startsWith('--input-type'));
  try {
    return new Worker(source, { ...options, execArgv });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ERR_WORKER_INVALID_EXEC_ARGV') throw error;
    return new Worker(source, { ...options, execArgv: [] });
  }
}
