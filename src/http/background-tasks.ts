/**
 * Work started by a request that outlives it (a send-now delivery), stopped on shutdown. Its own
 * module so the routes that start such work need not import the server that owns it.
 */
export class BackgroundTasks {
  private readonly controller = new AbortController();
  private readonly running = new Set<Promise<unknown>>();

  constructor(private readonly onError: (error: unknown, name: string) => void) {}

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  start<T>(name: string, task: (signal: AbortSignal) => Promise<T>): Promise<T | undefined> {
    const promise = task(this.controller.signal).catch((error: unknown) => {
      this.onError(error, name);
      return undefined;
    });
    this.running.add(promise);
    void promise.finally(() => this.running.delete(promise));
    return promise;
  }

  /** Asks running tasks to stop after what they have in flight, and waits for them. */
  async stop(): Promise<void> {
    this.controller.abort();
    await Promise.all([...this.running]);
  }
}
