/** `pushctl subscriptions import|list|count|show|update|remove|export|prune` */
import type { Command } from 'commander';
import { plural } from '../plural.js';
import { printable, printableOr } from '../printable.js';
import { action } from '../run.js';
import { wholeNumber } from '../numbers.js';
import type { CountFlags } from './subscriptions-count.js';

interface ImportFlags {
  category: string[];
  createCategories?: boolean;
  strict?: boolean;
  dryRun?: boolean;
}

const MAX_SHOWN_REJECTIONS = 100;

const collect = (value: string, previous: string[]) => [...previous, value];

export function registerSubscriptions(program: Command): void {
  const subs = program.command('subscriptions').alias('subs').description('browser push subscriptions: import, list, export, remove, prune');

  subs
    .command('import')
    .description('import subscriptions from a JSON array, NDJSON, or {"subscriptions": [...]} (detected); upserts by endpoint')
    .argument('<file>', 'file to read, or - for standard input')
    .option('--category <name>', 'put every imported subscription in this category (repeatable)', collect, [])
    .option('--create-categories', 'create categories named by --category or by records that do not exist yet')
    .option('--strict', 'write nothing if any record is bad')
    .option('--dry-run', 'validate and report what would happen; write nothing')
    .addHelpText('after', `
Bad records are reported with their line (or index) and reason. Without --strict the good ones
are imported and the command exits 1; with --strict nothing is written and it exits 2.

Examples:
  pushctl subscriptions import subs.ndjson --category news
  other-system-export | pushctl subscriptions import - --strict --dry-run`)
    .action(
      action<ImportFlags, [string]>(async ({ options, out, context }, file) => {
        const { openInputStream } = await import('../input.js');
        const { importSubscriptions } = await import('../../core/subscription-import.js');
        const { stream, source } = openInputStream(file, 'subscriptions import');
        const ctx = await context();
        const fs = await import('node:fs');
        const size = source === 'stdin' ? 0 : fs.statSync(file).size;
        const progress = size > 4 << 20 ? await out.progress(size, 'importing', ' bytes, {records} records') : undefined;
        let shown = 0;
        let summary;
        try {
          summary = await importSubscriptions(ctx, stream as AsyncIterable<Buffer>, {
            categories: options.category,
            createCategories: options.createCategories,
            strict: options.strict,
            dryRun: options.dryRun,
            onRejected: (rejection) => {
              // A file of a million bad lines should not become a million lines of warnings.
              if (!out.json && shown++ < MAX_SHOWN_REJECTIONS) out.warn(`rejected ${rejection.message}`);
            },
            onProgress: (bytes, records) => progress?.update(bytes, { records }),
          });
        } finally {
          progress?.stop();
        }
        out.result({ source, ...summary }, () => {
          const what = summary.dryRun
            ? `would import ${summary.imported}, update ${summary.updated}, reject ${summary.rejected}`
            : summary.written
              ? `imported ${summary.imported}, updated ${summary.updated}, rejected ${summary.rejected}`
              : `would have imported ${summary.imported}, updated ${summary.updated}; rejected ${summary.rejected}`;
          const lines = shown > MAX_SHOWN_REJECTIONS ? [`(${shown - MAX_SHOWN_REJECTIONS} more rejections not shown; --json lists the first ${summary.rejections.length})`] : [];
          lines.push(`${what} (${plural(summary.records, 'record')}, ${summary.format})`);
          if (summary.createdCategories.length) lines.push(`${summary.dryRun ? 'would create' : 'created'} categories: ${summary.createdCategories.join(', ')}`);
          if (summary.dryRun) lines.push('dry run: nothing written');
          else if (!summary.written) lines.push(`--strict: nothing written because ${summary.rejected} record${summary.rejected === 1 ? ' is' : 's are'} bad`);
          return lines;
        });
        if (summary.rejected > 0) process.exitCode = summary.strict ? 2 : 1;
      }),
    );

  subs
    .command('list')
    .description('list subscriptions (a table shows the first 100 unless --limit; --json streams all)')
    .option('--category <name>', 'only members of this category')
    .option('--limit <n>', 'at most this many')
    .option('--stale-key', 'only those whose pushes were refused as not matching their VAPID key (left out of broadcasts)')
    .action(
      action<{ category?: string; limit?: string; staleKey?: boolean }>(async ({ options, out, context }) => {
        const { listSubscriptions, countSubscriptions } = await import('../../core/subscriptions.js');
        const limit = options.limit === undefined ? undefined : wholeNumber(options.limit, 'limit', 1);
        const ctx = await context();
        const staleKey = options.staleKey === true;
        if (out.json) {
          await writeJsonArray(listSubscriptions(ctx, { category: options.category, limit, staleKey }));
          return;
        }
        const shown = limit ?? 100;
        const rows: string[][] = [];
        for await (const s of listSubscriptions(ctx, { category: options.category, limit: shown, staleKey })) {
          rows.push([
            String(s.id), printable(shortEndpoint(s.endpoint)), s.categories.join(','), printableOr(s.label), s.timeZone ?? '', s.language ?? '',
            s.createdAt.slice(0, 19).replace('T', ' '), s.lastSuccessAt?.slice(0, 19).replace('T', ' ') ?? '', String(s.failureCount) + (s.staleKey ? ' (stale key)' : ''),
          ]);
        }
        if (rows.length === 0) {
          out.info(staleKey ? 'no subscriptions with a stale key' : 'no subscriptions');
          return;
        }
        process.stdout.write((await out.table(['ID', 'ENDPOINT', 'CATEGORIES', 'LABEL', 'TIME ZONE', 'LANGUAGE', 'CREATED (UTC)', 'LAST SUCCESS', 'FAILURES'], rows)) + '\n');
        const total = staleKey ? rows.length : await countSubscriptions(ctx, { category: options.category });
        if (limit === undefined && total > rows.length) out.info(`showing ${rows.length} of ${total}: use --limit N, --json or "subscriptions export" for more`);
      }),
    );

  subs
    .command('count')
    .description('print the number of subscriptions (a bare number, for scripts)')
    .option('--category <name>', 'only members of this category')
    .action(action<CountFlags>(async (env) => (await import('./subscriptions-count.js')).countAction(env)));

  subs
    .command('show')
    .description('show one subscription')
    .argument('<id-or-endpoint>', 'subscription id or endpoint URL')
    .action(
      action<Record<string, never>, [string]>(async ({ out, context }, ref) => {
        const { getSubscription } = await import('../../core/subscriptions.js');
        const s = await getSubscription(await context(), ref);
        out.result(s, () => describeSubscription(s));
      }),
    );

  subs
    .command('update')
    .description("change a subscriber's time zone and/or language")
    .argument('<id-or-endpoint>', 'subscription id or endpoint URL')
    .option('--time-zone <zone>', 'IANA time zone, e.g. Europe/Berlin ("none" clears it)')
    .option('--language <tag>', 'BCP 47 language tag, e.g. de-DE ("none" clears it)')
    .addHelpText('after', `
Examples:
  pushctl subscriptions update 42 --time-zone America/New_York --language en-US
  pushctl subscriptions update 42 --time-zone none`)
    .action(
      action<{ timeZone?: string; language?: string }, [string]>(async ({ options, out, context }, ref) => {
        const { updateSubscriptionLocale } = await import('../../core/subscriptions.js');
        const clearable = (value: string | undefined) => (value === undefined ? undefined : value.trim().toLowerCase() === 'none' ? null : value);
        const s = await updateSubscriptionLocale(await context(), ref, { timeZone: clearable(options.timeZone), language: clearable(options.language) });
        out.result(s, () => [out.color.green('✓ ') + `subscription ${s.id} updated`, ...describeSubscription(s)]);
      }),
    );

  subs
    .command('remove')
    .alias('rm')
    .description('remove subscriptions by id or endpoint')
    .argument('<id-or-endpoint...>', 'subscription ids or endpoint URLs')
    .action(
      action<Record<string, never>, [string[]]>(async ({ out, context }, refs) => {
        const { removeSubscription } = await import('../../core/subscriptions.js');
        const ctx = await context();
        const removed: string[] = [];
        const missing: string[] = [];
        for (const ref of refs) (await removeSubscription(ctx, ref) ? removed : missing).push(ref);
        out.result({ removed, missing }, () => (removed.length ? [`removed ${removed.length} subscription${removed.length === 1 ? '' : 's'}`] : []));
        if (missing.length) throw (await import('../../errors.js')).fail('subscription_not_found', `no such subscription${missing.length === 1 ? '' : 's'}: ${missing.join(', ')}`, { details: { missing } });
      }),
    );

  subs
    .command('export')
    .description('write subscriptions as NDJSON that "subscriptions import" reads back (includes keys: treat as sensitive)')
    .argument('[file]', 'output file (created with mode 0600); default standard output')
    .option('--category <name>', 'only members of this category')
    .action(
      action<{ category?: string }, [string | undefined]>(async ({ options, out, context }, file) => {
        const { exportSubscriptions } = await import('../../core/subscriptions.js');
        const ctx = await context();
        const records = exportSubscriptions(ctx, { category: options.category });
        const count = await writeNdjson(records, file);
        if (file) out.success(`exported ${count} subscription${count === 1 ? '' : 's'} to ${file}`);
      }),
    );

  subs
    .command('prune')
    .description('drop stale subscriptions (--inactive and --failed-more-than must both hold when both are given)')
    .option('--inactive <duration>', 'no successful push (or, never successful, created) for this long, e.g. 60d')
    .option('--older-than <duration>', 'the same as --inactive (its older name)')
    .option('--failed-more-than <n>', 'failure count above N')
    .option('--expired', 'also every subscription whose expirationTime has passed')
    .option('--dry-run', 'only count what would be removed')
    .action(
      action<{ inactive?: string; olderThan?: string; failedMoreThan?: string; expired?: boolean; dryRun?: boolean }>(async ({ options, out, context }) => {
        const { pruneSubscriptions } = await import('../../core/subscriptions.js');
        const { parseDuration } = await import('../../core/durations.js');
        if (options.inactive !== undefined && options.olderThan !== undefined) {
          const { fail, msg, ref } = await import('../../errors.js');
          throw fail('invalid_request', msg`give ${ref('inactive')} or ${ref('olderThan')} (the same thing), not both`);
        }
        const [field, duration] = options.olderThan !== undefined ? ['olderThan', options.olderThan] : ['inactive', options.inactive];
        const olderThanMs = duration === undefined ? undefined : parseDuration(duration, field);
        const failedMoreThan = options.failedMoreThan === undefined ? undefined : wholeNumber(options.failedMoreThan, 'failedMoreThan');
        const result = await pruneSubscriptions(await context(), { olderThanMs, failedMoreThan, expired: options.expired, dryRun: options.dryRun });
        out.result(result, () =>
          result.dryRun
            ? `would remove ${result.matched} subscription${result.matched === 1 ? '' : 's'} (dry run)`
            : `removed ${result.removed} stale subscription${result.removed === 1 ? '' : 's'}`,
        );
      }),
    );
}

type SubscriptionView = import('../../core/subscriptions.js').SubscriptionInfo;

function describeSubscription(s: SubscriptionView): string[] {
  return [
    `id:            ${s.id}`,
    `endpoint:      ${printable(s.endpoint)}`,
    `categories:    ${s.categories.join(', ') || '(none)'}`,
    `label:         ${printableOr(s.label)}`,
    `user agent:    ${printableOr(s.userAgent)}`,
    `time zone:     ${s.timeZone ?? '(unknown)'}`,
    `language:      ${s.language ?? '(unknown)'}`,
    `keys.p256dh:   ${s.keys.p256dh}`,
    `keys.auth:     ${s.keys.auth}`,
    `expiration:    ${s.expirationTime === null ? 'none' : new Date(s.expirationTime).toISOString()}`,
    `VAPID key:     ${s.vapidPublicKey ? `${s.vapidPublicKey.slice(0, 16)}... (id ${s.keyId})` : '(none)'}`,
    `created:       ${s.createdAt}`,
    `updated:       ${s.updatedAt}`,
    `last success:  ${s.lastSuccessAt ?? 'never'}`,
    `failures:      ${s.failureCount}`,
    ...(s.staleKey ? [`stale key:     since ${s.staleKeySince} its pushes were refused as not matching its VAPID key; left out of broadcasts until one succeeds or it subscribes again`] : []),
  ];
}

function shortEndpoint(endpoint: string): string {
  return endpoint.length <= 60 ? endpoint : `${endpoint.slice(0, 44)}...${endpoint.slice(-12)}`;
}

/** Writes text with backpressure, in chunks of lines. */
class ChunkedWriter {
  private pending = '';
  constructor(private readonly stream: NodeJS.WritableStream) {}

  async write(text: string): Promise<void> {
    this.pending += text;
    if (this.pending.length >= 1 << 16) await this.flush();
  }

  async flush(): Promise<void> {
    if (!this.pending) return;
    const text = this.pending;
    this.pending = '';
    if (!this.stream.write(text)) {
      await new Promise((resolve) => this.stream.once('drain', resolve));
    }
  }
}

/** Quietly stop when the reader of standard output goes away (`... | head`). */
function tolerateClosedStdout(): void {
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw error;
  });
}

async function writeJsonArray(items: AsyncIterable<unknown>): Promise<void> {
  tolerateClosedStdout();
  const writer = new ChunkedWriter(process.stdout);
  let first = true;
  await writer.write('[');
  for await (const item of items) {
    await writer.write(`${first ? '\n' : ',\n'}${JSON.stringify(item)}`);
    first = false;
  }
  await writer.write(first ? ']\n' : '\n]\n');
  await writer.flush();
}

/** NDJSON (records come in pages) to a file (mode 0600, replaced atomically) or standard output; returns the count. */
async function writeNdjson(pages: AsyncIterable<unknown[]>, file: string | undefined): Promise<number> {
  const ndjson = (page: unknown[]) => page.map((record) => JSON.stringify(record) + '\n').join('');
  const fs = await import('node:fs');
  let count = 0;
  if (!file) {
    tolerateClosedStdout();
    const writer = new ChunkedWriter(process.stdout);
    for await (const page of pages) {
      await writer.write(ndjson(page));
      count += page.length;
    }
    await writer.flush();
    return count;
  }
  const tmp = `${file}.${process.pid}.tmp`;
  const stream = fs.createWriteStream(tmp, { mode: 0o600 });
  const failed = new Promise<never>((_, reject) => stream.on('error', reject));
  failed.catch(() => {});
  try {
    const writer = new ChunkedWriter(stream);
    for await (const page of pages) {
      await Promise.race([writer.write(ndjson(page)), failed]);
      count += page.length;
    }
    await Promise.race([writer.flush(), failed]);
    await Promise.race([new Promise<void>((resolve) => stream.end(resolve)), failed]);
    fs.renameSync(tmp, file);
  } catch (error) {
    stream.destroy();
    fs.rmSync(tmp, { force: true });
    const { fail } = await import('../../errors.js');
    throw fail('invalid_input', `cannot write: ${(error as Error).message}`, { at: file, details: { file } });
  }
  return count;
}
