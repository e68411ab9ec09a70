/**
 * The commander program. Only light modules load here so that --help and --version stay quick;
 * each action imports what it needs (SQLite, web-push, prompts) when it runs.
 */
import { createRequire } from 'node:module';
import { Option, type Command } from 'commander';
import { PushctlCommand } from './command.js';
import { registerConfig } from './commands/config.js';
import { registerInit } from './commands/init.js';
import { registerKeys } from './commands/keys.js';
import { registerSend } from './commands/send.js';
import { registerServe } from './commands/serve.js';
import { registerSchedule } from './commands/schedule.js';
import { registerNotifications } from './commands/notifications.js';
import { registerStats } from './commands/stats.js';
import { registerDispatch } from './commands/dispatch.js';
import { registerSubscriptions } from './commands/subscriptions.js';
import { registerCategories } from './commands/categories.js';
import { registerCompletion } from './commands/completion.js';
import { registerDb } from './commands/db.js';

const require = createRequire(import.meta.url);
const { version } = require('../../package.json') as { version: string };

/** Each command group registers itself here, in the order an operator meets them (that is --help's order). */
const registrations: ((program: Command) => void)[] = [
  registerInit,
  registerConfig,
  registerKeys,
  registerSubscriptions,
  registerCategories,
  registerSend,
  registerSchedule,
  registerNotifications,
  registerStats,
  registerDispatch,
  registerServe,
  registerDb,
  registerCompletion,
];

export function buildProgram(): Command {
  const program = new PushctlCommand('pushctl')
    .description('Administer Web Push notifications: keys, subscriptions, categories, sending, scheduling, and a subscription receiver.')
    .version(version, '-V, --version')
    .addOption(new Option('-c, --config <path>', 'config file (default: push.config.json and friends, searched upward)'))
    .addOption(new Option('--db <path>', 'SQLite database file or postgres:// URL (overrides config and PUSHCTL_DB)'))
    .option('--json', 'machine-readable JSON output')
    .option('--no-color', 'no colour (NO_COLOR is respected too)')
    .option('-q, --quiet', 'only results and errors')
    .option('-v, --verbose', 'more detail, and stack traces for internal errors')
    .configureHelp({ showGlobalOptions: true, sortSubcommands: false })
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  for (const register of registrations) register(program);
  program.addHelpText(
    'after',
    `
Examples:
  pushctl init                                   config file and VAPID keys
  pushctl serve                                  subscribe page and API on http://127.0.0.1:8080/
  pushctl send --category news --title "Hi" --url https://example.com/post
  pushctl schedule --all --title "Digest" --cron "0 9 * * 1" --tz Europe/Berlin
  pushctl notifications list                     what was sent, what is due, with counts

Exit codes: 0 success, 1 failed or refused, 2 usage or input error, 130 interrupted.`,
  );
  return program;
}
