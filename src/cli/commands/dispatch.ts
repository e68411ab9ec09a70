/** `pushctl dispatch [--watch]` (send what is due; the cron entry point) and `pushctl cron` (a crontab line for it). */
import { plural } from '../plural.js';
import path from 'node:path';
import type { Command } from 'commander';
import type { Config } from '../../config.js';
import { stopOnSignals } from '../delivery-report.js';
import { parseConcurrency } from '../notification-flags.js';
import { fail, msg, ref } from '../../errors.js';
import { wholeNumber } from '../numbers.js';
import { action } from '../run.js';
import { launcherPath } from '../launcher.js';
import { describeDispatchEvent } from '../dispatch-events.js';
import type { DispatchEvent, DispatchResult } from '../../core/dispatcher.js';
import type { Output } from '../output.js';

interface DispatchFlags {
  watch?: boolean;
  interval?: string;
  lease?: string;
  concurrency?: string;
  metricsPort?: string;
  metricsHost?: string;
}

export function registerDispatch(program: Command): void {
  program
    .command('dispatch')
    .description('send every due notification, finish interrupted sends, start due occurrences of recurring ones; safe to run from cron, overlapping or after a crash')
    .option('--watch', 'keep running: send within about a second of each due time (SIGINT/SIGTERM stop after the requests in flight)')
    .option('--interval <duration>', 'with --watch: longest time between full passes', '15s')
    .option('--lease <duration>', 'how long a claimed notification stays ours without renewal (renewed every third of it while sending)', '60s')
    .option('--concurrency <n>', 'requests in flight at once (default: push.concurrency)')
    .option('--metrics-port <port>', 'with --watch: serve Prometheus metrics at http://<host>:<port>/metrics (admin token unless serve.metricsPublic)')
    .option('--metrics-host <host>', 'address for --metrics-port (default: serve.host, else 127.0.0.1)')
    .action(
      action<DispatchFlags>(async ({ options, out, context }) => {
        const { parseDuration } = await import('../../core/durations.js');
        const leaseMs = parseDuration(options.lease ?? '60s', 'lease');
        if (leaseMs < 1000) throw fail('invalid_request', 'must be at least 1s', { field: 'lease' });
        const intervalMs = parseDuration(options.interval ?? '15s', 'interval');
        if (intervalMs < 100) throw fail('invalid_request', 'must be at least 100ms', { field: 'interval' });
        const concurrency = parseConcurrency(options.concurrency);
        if (options.metricsPort !== undefined && !options.watch) throw fail('invalid_request', msg`only with ${ref('watch')}`, { field: 'metricsPort' });
        const metricsPort = options.metricsPort === undefined ? undefined : parseMetricsPort(options.metricsPort);
        if (options.metricsHost !== undefined && metricsPort === undefined) throw fail('invalid_request', msg`only with ${ref('metricsPort')}`, { field: 'metricsHost' });
        const { dispatchOnce, dispatchSucceeded, watch } = await import('../../core/dispatcher.js');
        const { newOwnerId } = await import('../../core/delivery.js');
        const { RETRY_BUDGET } = await import('../../core/context.js');
        // A worker waits out a database restart or failover (minutes) rather than failing a send.
        const ctx = await context({ retryForMs: RETRY_BUDGET.worker });
        const owner = newOwnerId();
        out.debug(`dispatcher ${owner}, lease ${leaseMs} ms`);
        const stop = stopOnSignals();
        const onEvent = (event: DispatchEvent) => logEvent(out, event);
        let metricsServer: { close(): Promise<void> } | undefined;
        try {
          if (options.watch) {
            if (metricsPort !== undefined) {
              const { startMetricsServer } = await import('../../http/metrics-server.js');
              const started = await startMetricsServer(ctx, metricsPort, options.metricsHost ?? ctx.config.serve.host);
              metricsServer = started;
              const host = started.address.family === 'IPv6' ? `[${started.address.address}]` : started.address.address;
              out.info(`${stamp()} metrics on http://${host}:${started.address.port}/metrics`);
            }
            out.info(`${stamp()} watching for due notifications (full pass every ${options.interval ?? '15s'}; Ctrl-C to stop)`);
            await watch(ctx, {
              owner,
              leaseMs,
              concurrency,
              intervalMs,
              signal: stop.signal,
              onEvent,
              onPass: (result) => {
                // Deferred deliveries alone are not news on every pass of a watcher: they are still waiting.
                if (out.json && didSomething({ ...result, deferred: [] })) out.line(JSON.stringify({ at: new Date().toISOString(), ...result }));
              },
              onPassError: (error) => out.error(`${stamp()} dispatch pass failed: ${error.message} (trying again next pass)`),
            });
            out.info(`${stamp()} stopped`);
            return;
          }
          const result = await dispatchOnce(ctx, { owner, leaseMs, concurrency, signal: stop.signal, onEvent });
          if (out.json) out.result(result, () => undefined);
          else if (didSomething(result) || !out.quiet) out.line(`${stamp()} ${summaryLine(result)}`);
          process.exitCode = result.interrupted ? 130 : dispatchSucceeded(result) ? 0 : 1;
        } finally {
          stop.dispose();
          await metricsServer?.close();
        }
      }),
    );

  program
    .command('cron')
    .description('print a crontab line that runs "pushctl dispatch" every minute for this installation')
    .option('--schedule <expr>', 'when cron runs it', '* * * * *')
    .option('--log <file>', 'where its output goes (default: pushctl-dispatch.log next to the config or database)')
    .action(
      action<{ schedule?: string; log?: string }>(async ({ options, out, config }) => {
        const resolved = await config();
        const line = crontabLine(resolved, { schedule: options.schedule ?? '* * * * *', log: options.log, dbFlag: options.db, env: process.env });
        out.result(line, () => line.line);
        out.info(`install it with: (crontab -l 2>/dev/null; pushctl cron${options.config ? ` --config ${options.config}` : ''}) | crontab -`);
        for (const warning of line.warnings) out.warn(warning);
      }),
    );
}

function parseMetricsPort(value: string): number {
  return wholeNumber(value, 'metricsPort', 0, 65535);
}

function didSomething(r: DispatchResult): boolean {
  return (
    r.delivered.length > 0 || r.joined.length > 0 || r.skipped.length > 0 || r.errors.length > 0 || r.occurrencesCreated > 0 || r.occurrencesMissed > 0 ||
    r.interrupted || r.deferred.length > 0 || r.helped.length > 0
  );
}

function summaryLine(r: DispatchResult): string {
  if (!didSomething(r)) return 'dispatch: nothing due';
  const parts = [
    `${plural(r.delivered.length, 'notification')} handled`,
    `${r.totals.sent} sent, ${r.totals.gone} gone, ${r.totals.failed} failed, ${r.totals.pending} pending`,
  ];
  if (r.joined.length) parts.push(`joined ${plural(r.joined.length, 'send')} in progress`);
  if (r.deferred.length) parts.push(deferredText(r.deferred));
  if (r.waiting.length) parts.push(waitingText(r.waiting));
  if (r.helped.length) parts.push(`helped with throttled send${r.helped.length === 1 ? '' : 's'} ${r.helped.map((h) => `${h.id} (${h.sent} sent)`).join(', ')}`);
  if (r.skipped.length) parts.push(`${r.skipped.length} skipped (stale)`);
  if (r.occurrencesCreated || r.occurrencesMissed) parts.push(`${plural(r.occurrencesCreated, 'occurrence')} started, ${plural(r.occurrencesMissed, 'missed slot')}`);
  if (r.errors.length) parts.push(plural(r.errors.length, 'error'));
  if (r.interrupted) parts.push('interrupted: the rest is resumed by the next run');
  return `dispatch: ${parts.join('; ')}`;
}

/** "3 deliveries deferred (notification 5), the first due 2030-01-01T10:00:00.000Z": what exit 1 waits for. */
function deferredText(deferred: DispatchResult['deferred']): string {
  const deliveries = deferred.reduce((sum, d) => sum + d.deliveries, 0);
  const ids = deferred.map((d) => d.id).join(', ');
  return `${deliveries} ${deliveries === 1 ? 'delivery' : 'deliveries'} deferred (notification${deferred.length === 1 ? '' : 's'} ${ids}), the first due ${deferred[0]!.dueAt}: a later run sends them`;
}

/** "2 deliveries wait for their local time (notification 5), the next due ...": normal, exit 0. */
function waitingText(waiting: DispatchResult['waiting']): string {
  const deliveries = waiting.reduce((sum, d) => sum + d.deliveries, 0);
  const ids = waiting.map((d) => d.id).join(', ');
  const next = waiting.map((d) => d.dueAt).sort()[0];
  return `${deliveries} ${deliveries === 1 ? 'delivery waits' : 'deliveries wait'} for the local time in their zones (notification${waiting.length === 1 ? '' : 's'} ${ids}), the next due ${next}: a later run sends them`;
}

function logEvent(out: Output, event: DispatchEvent): void {
  if (out.json) return;
  for (const line of describeDispatchEvent(event)) out[line.level](`${stamp()} ${line.text}`);
}

function stamp(): string {
  return new Date().toISOString();
}

export interface CrontabLine {
  line: string;
  schedule: string;
  cwd: string;
  node: string;
  bin: string;
  config: string | null;
  database: string;
  log: string;
  warnings: string[];
}

/**
 * A crontab line for this installation: absolute paths everywhere (cron runs with a bare PATH and
 * HOME as the working directory), the config or database made explicit, output appended to a log.
 */
export function crontabLine(config: Config, options: { schedule: string; log?: string | undefined; dbFlag?: string | undefined; env: NodeJS.ProcessEnv }): CrontabLine {
  const fields = options.schedule.trim().split(/\s+/);
  if (fields.length !== 5 && !/^@(hourly|daily|weekly|monthly|yearly|annually|midnight)$/.test(options.schedule.trim())) {
    throw fail('invalid_request', 'a crontab schedule has 5 fields, like "* * * * *"', { field: 'schedule' });
  }
  const bin = launcherPath();
  const home = config.configPath ? path.dirname(config.configPath) : path.dirname(config.database);
  const log = path.resolve(options.log ?? path.join(home, 'pushctl-dispatch.log'));
  const args = [shellQuote(process.execPath), shellQuote(bin)];
  if (config.configPath) args.push('--config', shellQuote(config.configPath));
  // The database is implied by the config unless it came from --db or PUSHCTL_DB (cron sees neither).
  if (!config.configPath || options.dbFlag || options.env.PUSHCTL_DB) args.push('--db', shellQuote(config.database));
  args.push('dispatch', '--quiet');
  const warnings: string[] = [];
  const envOnly = ['PUSHCTL_VAPID_PUBLIC_KEY', 'PUSHCTL_VAPID_PRIVATE_KEY', 'PUSHCTL_VAPID_SUBJECT', 'PUSHCTL_ENDPOINT_ORIGINS'].filter((name) => options.env[name]);
  if (envOnly.length) warnings.push(`${envOnly.join(', ')} ${envOnly.length === 1 ? 'is' : 'are'} set here, but cron will not see ${envOnly.length === 1 ? 'it' : 'them'}: put the settings in the config file or the crontab`);
  const line = `${options.schedule.trim()} cd ${shellQuote(home)} && ${args.join(' ')} >> ${shellQuote(log)} 2>&1`;
  return {
    line: line.replace(/%/g, '\\%'), // cron turns an unescaped % into a newline
    schedule: options.schedule.trim(),
    cwd: home,
    node: process.execPath,
    bin,
    config: config.configPath ?? null,
    database: config.database,
    log,
    warnings,
  };
}

function shellQuote(text: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
}
