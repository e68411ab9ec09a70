/** `pushctl send`: create a notification and deliver it now, in this process. */
import type { Command } from 'commander';
import { addNotificationOptions, parseConcurrency, specFromOptions, type NotificationFlags } from '../notification-flags.js';
import { exitCodeForSummary, printSummary, startProgress, stopOnSignals } from '../delivery-report.js';
import { confirmOrRefuse } from '../prompts.js';
import { action } from '../run.js';
import { MAX_PLAINTEXT_BYTES } from '../../limits.js';

/** Asking before a send to a handful of subscribers would only get in the way. */
const CONFIRM_FROM = 10;

export function registerSend(program: Command): void {
  const send = program
    .command('send')
    .description('encrypt and deliver a notification now (e.g. --category news --title "Hi" --body "...")');
  addNotificationOptions(send).action(
    action<NotificationFlags>(async ({ options, out, context }) => {
      const spec = await specFromOptions(options);
      const concurrency = parseConcurrency(options.concurrency);
      const { previewNotification, createNotification } = await import('../../core/notifications.js');
      const { deliverNotification, newOwnerId, DEFAULT_LEASE_MS } = await import('../../core/delivery.js');
      const ctx = await context();
      const preview = previewNotification(ctx, spec);
      if (options.dryRun) {
        out.result({ dryRun: true, ...preview }, () => [
          `recipients:   ${preview.recipients}`,
          `payload size: ${preview.payloadBytes} bytes (limit ${MAX_PLAINTEXT_BYTES})`,
          `payload:      ${JSON.stringify(preview.payload)}`,
          out.color.dim('dry run: nothing was sent'),
        ]);
        return;
      }
      if (preview.recipients === 0) out.warn('no subscription matches the target: the notification is recorded, but nobody gets it');
      if (preview.recipients >= CONFIRM_FROM && !options.yes && out.interactive) {
        const ok = await confirmOrRefuse(out, `Send to ${preview.recipients} subscribers?`, false, 'confirmation needed');
        if (!ok) {
          out.info('nothing sent');
          return;
        }
      }
      const owner = newOwnerId();
      const created = createNotification(ctx, spec, { leaseFor: { owner, leaseMs: DEFAULT_LEASE_MS } });
      out.debug(`notification ${created.id}, owner ${owner}`);
      const { progress, onProgress } = await startProgress(out, preview.recipients);
      const stop = stopOnSignals();
      const started = Date.now();
      try {
        const summary = await deliverNotification(ctx, created.id, { owner, alreadyLeased: true, concurrency, onProgress, signal: stop.signal });
        progress.stop();
        await printSummary(out, summary, Date.now() - started);
        if (summary.stoppedReason === 'interrupted') out.info(`interrupted: resume with "pushctl notifications resume ${summary.id}" or cancel with "pushctl notifications cancel ${summary.id}"`);
        process.exitCode = exitCodeForSummary(summary);
      } finally {
        progress.stop();
        stop.dispose();
      }
    }),
  );
}
