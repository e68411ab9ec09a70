/**
 * `serve --dispatch`: the dispatcher loop (core/dispatcher.ts `watch`) running next to the server
 * on the same connection, stopped through its AbortSignal when the server shuts down (the send in
 * progress stops after its requests in flight and stays resumable). Its log lines read like
 * `pushctl dispatch`'s, prefixed "dispatch:".
 */
import type { Context } from '../core/context.js';
import { newOwnerId } from '../core/delivery.js';
import { watch } from '../core/dispatcher.js';
import { describeDispatchEvent } from './dispatch-events.js';

export function runDispatcherLoop(ctx: Context, info: (line: string) => void): { stop(): Promise<void> } {
  const controller = new AbortController();
  const loop = watch(ctx, {
    owner: newOwnerId(),
    signal: controller.signal,
    onEvent: (event) => {
      for (const line of describeDispatchEvent(event)) info(`dispatch: ${line.text}`);
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
