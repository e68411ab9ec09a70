/**
 * The error contract on the terminal face: exact codes, messages, fields and exit codes for a
 * representative set of failures, in the CLI's words (flags, hints naming commands), while the
 * core's own text names no flag. The HTTP face's exact answers are in serve-bad-input.test.ts.
 * Also: every code in the catalogue is documented in docs/errors.md.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeForCli } from '../src/cli/errors.js';
import { ERRORS, exitCodeFor, KINDS, usageError } from '../src/errors.js';
import { errorReply } from '../src/http/http-error.js';
import { missingStoreMessage } from './support/backend.js';
import { ROOT, runCli, runJson, tempDir } from './support/cli.js';

let dir: string;
let db: string;
const cli = (args: string[]) => runCli([...args, '--db', db, '--json'], { cwd: dir });

beforeAll(async () => {
  dir = tempDir('pushctl-errors-');
  db = path.join(dir, 'push.db');
  await runJson(['keys', 'generate', '--subject', 'mailto:ops@example.com', '--db', db], { cwd: dir });
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

interface Case {
  args: string[];
  exit: number;
  code: string;
  field?: string;
  message: string | RegExp;
}

const CASES: Record<string, Case> = {
  'unknown status filter': {
    args: ['notifications', 'list', '--status', 'done'],
    exit: 2,
    code: 'invalid_input',
    field: '--status',
    message: '--status: "done" is not one of scheduled, sending, sent, partial, failed, cancelled, skipped',
  },
  'unknown category in a target': {
    args: ['send', '--category', 'nope', '--title', 'x'],
    exit: 2,
    code: 'unknown_category',
    field: '--category',
    message: '--category: category "nope" does not exist (create it with "pushctl categories add nope")',
  },
  'whole-number flag': {
    args: ['subscriptions', 'prune', '--failed-more-than', 'x'],
    exit: 2,
    code: 'invalid_request',
    field: '--failed-more-than',
    message: '--failed-more-than: "x" must be a whole number 0 or more',
  },
  'prune without a condition': {
    args: ['subscriptions', 'prune'],
    exit: 2,
    code: 'invalid_request',
    message: 'say what is stale with --inactive DURATION, --failed-more-than N and/or --expired',
  },
  'time in the past': {
    args: ['schedule', '--all', '--title', 'x', '--at', '2001-01-01T00:00:00Z'],
    exit: 2,
    code: 'time_in_past',
    field: '--at',
    message: /^--at: 2001-01-01T00:00:00\.000Z is in the past \(now is .*\) \(pass --now-if-past to send it at once\)$/,
  },
  'two schedule kinds': {
    args: ['schedule', '--all', '--title', 'x', '--in', '2h', '--cron', '0 9 * * *'],
    exit: 2,
    code: 'invalid_request',
    field: '--cron',
    message: '--cron: choose one of --at, --in or --cron, not --in and --cron',
  },
  'unknown notification': {
    args: ['notifications', 'show', '424242'],
    exit: 1,
    code: 'notification_not_found',
    message: 'notification 424242 does not exist (see "pushctl notifications list")',
  },
  'unknown category filter': {
    args: ['subscriptions', 'list', '--category', 'nope'],
    exit: 1,
    code: 'category_not_found',
    field: '--category',
    message: '--category: category "nope" does not exist (see "pushctl categories list")',
  },
  'keys exist': {
    args: ['keys', 'generate', '--subject', 'mailto:ops@example.com'],
    exit: 1,
    code: 'keys_exist',
    message: /^VAPID keys already exist \(0 subscriptions made under them\)\. .* \(re-run with --force to replace it\)$/,
  },
};

describe('CLI errors', () => {
  it.each(Object.entries(CASES))('%s', async (_name, c) => {
    const result = await cli(c.args);
    expect(result.code, result.stderr).toBe(c.exit);
    const { error } = JSON.parse(result.stderr) as { error: { code: string; message: string; field?: string } };
    expect(error.code).toBe(c.code);
    expect(error.field).toBe(c.field);
    if (typeof c.message === 'string') expect(error.message).toBe(c.message);
    else expect(error.message).toMatch(c.message);
  });

  it('a missing store: exit 1, code store_not_found, and a hint naming the commands that create one', async () => {
    const missing = path.join(dir, 'missing.db');
    const result = await runCli(['notifications', 'list', '--db', missing], { cwd: dir });
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      `error: ${missingStoreMessage(missing)} (create it with "pushctl init" (or "pushctl keys generate"), or name an existing one with --db, PUSHCTL_DB or a config file's "database")\n`,
    );
  });
});

describe('the catalogue', () => {
  it('generic helpers keep a message worded by its author, on both faces', () => {
    const error = usageError('--lease: must be at least 1s', { field: '--lease' });
    expect(error).toMatchObject({ code: 'invalid_request', field: '--lease', message: '--lease: must be at least 1s' });
    expect(exitCodeFor(error)).toBe(2);
    expect(describeForCli(error)).toBe('--lease: must be at least 1s');
    expect(errorReply(error)).toMatchObject({ status: 400, body: { error: { code: 'invalid_request', message: '--lease: must be at least 1s', field: '--lease' } } });
  });

  it('maps every kind to an HTTP status and an exit code', () => {
    for (const [code, entry] of Object.entries(ERRORS)) {
      expect(KINDS[entry.kind], code).toBeDefined();
      expect(code).toMatch(/^[a-z]+(_[a-z]+)*$/);
    }
  });

  it('is documented: docs/errors.md lists every code with its status and exit code', () => {
    const doc = fs.readFileSync(path.join(ROOT, 'docs/errors.md'), 'utf8');
    for (const [code, entry] of Object.entries(ERRORS)) {
      const { status, exit } = KINDS[entry.kind];
      expect(doc, code).toMatch(new RegExp(`^\\| \`${code}\` \\| ${status} \\| ${exit} \\|`, 'm'));
    }
  });
});
