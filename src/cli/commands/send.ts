/** `pushctl send`: create a notification and deliver it now, in this process. */
import type { Command } from 'commander';
import { addNotificationOptions, parseConcurrency, specFromOptions, type NotificationFlags } from '../notification-flags.js';
import { exitCodeForSummary, printSummary, startProgress, stopOnSignals } from '../delivery-report.js';
import { confirmOrRefuse } from '../prompts.js';
import { fail, isDiskFull, msg, ref } from '../../errors.js';
import { MAX_PLAINTEXT_BYTES } from '../../limits.js';
import { plural } from '../plural.js';
import { readTextInput } from '../input.js';
import { printable } from '../printable.js';
import { action, type ActionEnv } from '../run.js';

type SendFlags = NotificationFlags & { allowEmpty?: boolean; subscriptionJson?: string; enqueue?: boolean };

/** The title of a test push that names no content of its own (as POST /push_v1/ uses). */
const TEST_MESSAGE = 'Push Test v1';

/** What this process encrypts with (the addon is found by its path beside the code, so a build that moved it would quietly fall back). */
async function encryptionInUse(): Promise<string> {
  const { keyAgreementKind } = await import('../../push/rfc8291.js');
  return keyAgreementKind() === 'native' ? "the system's libcrypto (dist/native/ecdh.node)" : 'node:crypto';
}

/** `send --subscription-json`: one push to a subscription that is not stored; recorded, not subscribed. */
async function sendToUnstored({ options, out, context }: ActionEnv<SendFlags>): Promise<void> {
  if (options.all || options.category?.length || options.subscription?.length) {
    throw fail('invalid_request', msg`the subscription is the target; do not combine it with ${ref('all')}, ${ref('category')} or ${ref('subscriptions')}`, { field: 'subscriptionJson' });
  }
  const raw = options.subscriptionJson!;
  const text = raw === '-' || raw.startsWith('@') ? (await readTextInput(raw === '-' ? '-' : raw.slice(1), '--subscription-json')).text : raw;
  const hasContent = [options.title, options.body, options.payload].some((v) => v !== undefined);
  // The target here is the subscription; specFromOptions only needs one to read the other flags.
  const spec = await specFromOptions({ ...options, all: true, ...(hasContent ? {} : { title: TEST_MESSAGE }) });
  const { pushToSubscription, previewPushToSubscription, subscriptionFromJson } = await import('../../core/single-push.js');
  const subscription = subscriptionFromJson(text.trim(), 'subscriptionJson');
  const ctx = await context();
  if (options.dryRun) {
    const preview = await previewPushToSubscription(ctx, subscription, spec.message, spec.delivery, '--subscription-json');
    out.result({ dryRun: true, ...preview }, () => [
      `endpoint:     ${printable(preview.endpoint)}`,
      `payload size: ${preview.payloadBytes} bytes (limit ${MAX_PLAINTEXT_BYTES})`,
      `payload:      ${printable(JSON.stringify(preview.payload))}`,
      out.color.dim('dry run: nothing was sent'),
    ]);
    return;
  }
  const result = await pushToSubscription(ctx, subscription, spec.message, spec.delivery, '--subscription-json');
  const value = { id: result.notification.id, delivered: result.delivered, outcome: result.outcome, status: result.status ?? null, ...(result.message ? { message: result.message } : {}) };
  if (result.delivered || out.json) {
    out.result(value, () => out.color.green('✓ ') + `delivered (the push service answered ${result.status ?? '2xx'}); recorded as notification ${result.notification.id}; the subscription is not stored`);
  } else {
    out.error(`not delivered: ${result.message ?? result.outcome}; recorded as notification ${result.notification.id}`);
  }
  if (!result.delivered) process.exitCode = 1;
}

/**
 * Runs a step of a send; when the disk fills up, replaces the bare store error with `explain()`,
 * which says what was committed (reading still works on a full disk).
 */
async function whenDiskFull<T>(step: () => T | Promise<T>, explain: () => string | Promise<string>): Promise<T> {
  try {
    return await step();
  } catch (error) {
    if (!isDiskFull(error)) throw error;
    throw fail('disk_full', await explain(), { details: { diskFull: true } });
  }
}

/** Asking before a send to a handful of subscribers would only get in the way. */
const CONFIRM_FROM = 10;

export function registerSend(program: Command): void {
  const send = program
    .command('send')
    .description('encrypt and deliver a notification now (e.g. --category news --title "Hi" --body "...")');
  addNotificationOptions(send)
    .option('--allow-empty', 'record the notification and exit 0 even when no subscription matches the target')
    .option('--subscription-json <json|@file|->', 'one subscription that is not stored (a test push): its PushSubscription JSON inline, @FILE, or - for stdin')
    .option('--enqueue', 'record the notification and print its id at once; "pushctl dispatch --watch" workers (any host) send it');
  send.action(
    action<SendFlags>(async (env) => {
      const { options } = env;
      if (options.subscriptionJson !== undefined) {
        if (options.enqueue) throw fail('invalid_request', msg`a test push to one subscription goes out at once; do not combine it with ${ref('enqueue')}`, { field: 'subscriptionJson' });
        return sendToUnstored(env);
      }
      const { out, context } = env;
      const spec = await specFromOptions(options);
      const concurrency = parseConcurrency(options.concurrency);
      const { previewNotification, createNotification, getNotification } = await import('../../core/notifications.js');
      const { deliverNotification, newOwnerId, DEFAULT_LEASE_MS } = await import('../../core/delivery.js');
      const { RETRY_BUDGET } = await import('../../core/context.js');
      // A send waits out a database restart or failover (minutes) rather than stopping half way.
      const ctx = await context({ retryForMs: RETRY_BUDGET.worker });
      const preview = await previewNotification(ctx, spec);
      if (options.dryRun) {
        out.result({ dryRun: true, ...preview }, () => [
          `recipients:   ${preview.recipients}`,
          `payload size: ${preview.payloadBytes} bytes (limit ${MAX_PLAINTEXT_BYTES})`,
          `payload:      ${JSON.stringify(preview.payload)}`,
          out.color.dim('dry run: nothing was sent'),
        ]);
        return;
      }
      if (preview.recipients === 0) {
        // A cron job sending to nobody (wrong store, emptied category) must not "succeed" for ever.
        if (!options.allowEmpty) throw fail('no_recipients', msg`no subscription matches the target: nothing sent (pass ${ref('allowEmpty')} to record the notification anyway)`, { details: { recipients: 0 } });
        out.warn('no subscription matches the target: the notification is recorded, but nobody gets it');
      }
      if (preview.recipients >= CONFIRM_FROM && !options.yes && out.interactive) {
        const ok = await confirmOrRefuse(out, `Send to ${preview.recipients} subscribers?`, false, 'confirmation needed');
        if (!ok) {
          out.info('nothing sent');
          return;
        }
      }
      if (options.enqueue) {
        // Due now, leased by nobody: the first worker to see it leads the send, the others join.
        const queued = await whenDiskFull(
          () => createNotification(ctx, spec),
          () => 'the disk is full: the notification could not be recorded. Free some space and send again',
        );
        out.result({ ...queued, elapsedMs: 0, ratePerSecond: 0 }, () => [
          `notification ${queued.id} queued for ${plural(preview.recipients, 'subscriber')}: "pushctl dispatch --watch" workers send it (follow it with "pushctl notifications show ${queued.id}")`,
        ]);
        return;
      }
      const owner = newOwnerId();
      const created = await whenDiskFull(
        () => createNotification(ctx, spec, { leaseFor: { owner, leaseMs: DEFAULT_LEASE_MS } }),
        () => 'the disk is full: the notification could not be recorded, and nothing was sent. Free some space and send again',
      );
      out.debug(`notification ${created.id}, owner ${owner}`);
      if (out.verbose) out.debug(`encryption: ${await encryptionInUse()}`);
      const { progress, onProgress } = await startProgress(out, preview.recipients);
      const stop = stopOnSignals();
      const started = Date.now();
      try {
        const summary = await whenDiskFull(
          () => deliverNotification(ctx, created.id, { owner, alreadyLeased: true, concurrency, onProgress, signal: stop.signal }),
          async () => {
            const c = (await getNotification(ctx, created.id)).counts;
            const done = c.sent + c.gone + c.failed;
            return (
              `the disk is full: notification ${created.id} stopped with ${plural(done, 'delivery', 'deliveries')} committed (${c.sent} sent, ${c.gone} gone, ${c.failed} failed) and ${c.total ? `${c.pending} pending` : 'its recipients not yet recorded'}. ` +
              `Free some space, then finish it with "pushctl notifications resume ${created.id}" (the requests in flight when it stopped may arrive twice)`
            );
          },
        );
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
