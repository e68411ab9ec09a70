/**
 * `serve --dispatch`: the dispatcher loop (core/dispatcher.ts `watch`) running next to the server
 * on the same connection, stopped through its AbortSignal when the server shuts down (the send in
 * progress stops after its requests in flight and stays resumable).
 */
import type { Context } from '../core/context.js';
import { newOwnerId } from '../core/delivery.js';
import { watch } from '../core/dispatcher.js';

export function runDispatcherLoop(ctx: Context, info: (line: string) => void): { stop(): Promise<void> } {
  const controller = new AbortController();
  const loop = watch(ctx, {
    owner: newOwnerId(),
    signal: controller.signal,
    onEvent: (event) => {
      if (event.type === 'delivered') info(`dispatch: notification ${event.summary.id} ${event.summary.status} (${event.summary.counts.sent} sent, ${event.summary.counts.gone} gone, ${event.summary.counts.failed} failed)`);
      else if (event.type === 'skipped') info(`dispatch: notification ${event.id} skipped: ${event.reason}`);
      else if (event.type === 'error') info(`dispatch: notification ${event.id}: ${event.message}`);
    },
    onPassError: (error) => info(`dispatch: ${error.message}`),
  }).catch((error: unknown) => info(`dispatch stopped: ${(error as Error).message}`));
  return {
    async stop() {
      controller.abort();
      await loop;
    },
  };
}
