/**
 * The commander program: declarations only. Each command group's module loads when the command
 * line names it (`pushctl subscriptions count` loads the subscriptions group and nothing else);
 * help, completion and unknown commands load them all. Each action imports what it needs
 * (SQLite, web-push, prompts) when it runs.
 */
import { Option, type Command } from 'commander';
import { PushctlCommand } from './command.js';
import { packageVersion } from './version.js';

type Register = (program: Command) => void;

/** The command groups, in the order an operator meets them (that is --help's order). */
const GROUPS: { names: string[]; load: () => Promise<Register> }[] = [
  { names: ['init'], load: async () => (await import('./commands/init.js')).registerInit },
  { names: ['config'], load: async () => (await import('./commands/config.js')).registerConfig },
  { names: ['keys'], load: async () => (await import('./commands/keys.js')).registerKeys },
  { names: ['subscriptions', 'subs'], load: async () => (await import('./commands/subscriptions.js')).registerSubscriptions },
  { names: ['categories'], load: async () => (await import('./commands/categories.js')).registerCategories },
  { names: ['send'], load: async () => (await import('./commands/send.js')).registerSend },
  { names: ['schedule'], load: async () => (await import('./commands/schedule.js')).registerSchedule },
  { names: ['notifications'], load: async () => (await import('./commands/notifications.js')).registerNotifications },
  { names: ['stats'], load: async () => (await import('./commands/stats.js')).registerStats },
  { names: ['dispatch', 'cron'], load: async () => (await import('./commands/dispatch.js')).registerDispatch },
  { names: ['serve'], load: async () => (await import('./commands/serve.js')).registerServe },
  { names: ['db'], load: async () => (await import('./commands/db.js')).registerDb },
  // Completion describes the whole tree: it is never loaded alone.
  { names: [], load: async () => (await import('./commands/completion.js')).registerCompletion },
];

/** Global options that take a value: the word after them is not the command's name. */
const VALUE_OPTIONS = new Set(['-c', '--config', '--db']);

/** The command named on the command line (the first word that is not a global option), if any. */
export function commandName(args: readonly string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (VALUE_OPTIONS.has(arg)) i++;
    else if (!arg.startsWith('-')) return arg;
  }
  return undefined;
}

/** The program for `args` (the command line without node and the script); no args: every command. */
export async function buildProgram(args: readonly string[] = []): Promise<Command> {
  const name = commandName(args);
  const group = name === undefined ? undefined : GROUPS.find((g) => g.names.includes(name));
  const registrations = await Promise.all((group ? [group] : GROUPS).map((g) => g.load()));
  const version = packageVersion();

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
