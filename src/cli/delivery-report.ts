/** Shows a send as it runs (progress on stderr) and when it ends (table or JSON), for send/resume/dispatch. */
import type { DeliverySummary } from '../core/delivery.js';
import type { NotificationCounts } from '../core/notification-spec.js';
import type { Output, Progress } from './output.js';

export async function startProgress(out: Output, total: number): Promise<{ progress: Progress; onProgress: (c: NotificationCounts) => void }> {
  const progress = await out.progress(total, 'sending', ' | sent {sent} gone {gone} failed {failed} | {rate}/s');
  const started = Date.now();
  let last = 0;
  const onProgress = (c: NotificationCounts) => {
    const now = Date.now();
    const done = c.total - c.pending;
    if (now - last < 100 && done < c.total) return; // redraw at most ten times a second
    last = now;
    const rate = Math.round(done / Math.max((now - started) / 1000, 0.001));
    progress.setTotal(c.total);
    progress.update(done, { sent: c.sent, gone: c.gone, failed: c.failed, rate });
  };
  return { progress, onProgress };
}

export async function printSummary(out: Output, summary: DeliverySummary, elapsedMs: number): Promise<void> {
  const c = summary.counts;
  const rate = Math.round((c.total - c.pending) / Math.max(elapsedMs / 1000, 0.001));
  const value = { ...summary, elapsedMs, ratePerSecond: rate };
  if (out.json) {
    out.result(value, () => undefined);
    return;
  }
  const table = await out.table(['notification', 'status', 'recipients', 'sent', 'gone', 'failed', 'pending', 'time'], [
    [summary.id, colourStatus(out, summary.status), c.total, c.sent, c.gone, c.failed, c.pending, `${(elapsedMs / 1000).toFixed(1)} s (${rate}/s)`],
  ]);
  out.result(value, () => [table, ...(summary.stoppedReason ? [out.color.yellow(`stopped: ${summary.stoppedReason}`)] : [])]);
  if (c.gone) out.info(`${c.gone} subscription${c.gone === 1 ? ' was' : 's were'} gone (404/410) and removed from the store`);
  if (summary.waiting) {
    out.info(`the rest go out zone by zone with "pushctl dispatch" as each subscriber's local time comes, the next at ${summary.waiting.dueAt}`);
  }
  if (summary.deferred) {
    out.info(`the deferred deliveries go out with "pushctl dispatch" (or "pushctl notifications resume ${summary.id}") once due, from ${summary.deferred.dueAt}`);
  }
  if (c.capped) out.info(`${c.capped} subscriber${c.capped === 1 ? ' had' : 's had'} reached a frequency cap and ${c.capped === 1 ? 'was' : 'were'} skipped (--urgent bypasses caps)`);
  if (summary.error && !summary.stoppedReason) out.warn(summary.error);
}

/** 0 when every recipient got it or is gone; 1 when any delivery failed or the send stopped. */
export function exitCodeForSummary(summary: DeliverySummary): number {
  if (summary.stoppedReason === 'interrupted') return 130;
  if (summary.status === 'failed' || summary.counts.failed > 0) return 1;
  // Waiting for subscribers' local time (--local-time) is the plan, not a problem.
  if (summary.counts.pending > 0 && summary.status !== 'cancelled' && !(summary.waiting && !summary.deferred)) return 1;
  return 0;
}

export function colourStatus(out: Output, status: string): string {
  switch (status) {
    case 'sent':
      return out.color.green(status);
    case 'partial':
    case 'sending':
    case 'scheduled':
      return out.color.yellow(status);
    case 'failed':
      return out.color.red(status);
    default:
      return out.color.dim(status);
  }
}

/** SIGINT/SIGTERM stop after the requests in flight; a second signal exits at once. */
export function stopOnSignals(): { signal: AbortSignal; dispose: () => void } {
  const controller = new AbortController();
  const handler = () => {
    if (controller.signal.aborted) process.exit(130);
    process.stderr.write('\nstopping after the requests in flight (again to quit at once)...\n');
    controller.abort();
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return {
    signal: controller.signal,
    dispose: () => {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
    },
  };
}
