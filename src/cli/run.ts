/**
 * Wraps command actions: resolves global options and configuration, opens the store when asked,
 * and turns errors into a message and an exit code (2 usage/input, 1 otherwise) without a stack
 * trace unless --verbose.
 */
import type { Command } from 'commander';
import type { Config } from '../config.js';
import type { Context } from '../core/context.js';
import type { OpenOptions } from '../store/db.js';
import { Output, type GlobalOptions } from './output.js';

/** What an action body needs besides commander: the fast path (fast-path.ts) runs bodies with this alone. */
export interface ActionBase<O> {
  options: O & GlobalOptions;
  out: Output;
  config(): Promise<Config>;
  /**
   * Opens the store and closes it when the action ends. Only commands that set pushctl up
   * (`init`, `keys generate|import`, `serve`) pass `create`: any other command run in the wrong
   * directory (a cron job's working directory) must fail loudly, not work on a new empty store.
   */
  context(options?: ContextOptions): Promise<Context>;
}

export interface ActionEnv<O> extends ActionBase<O> {
  command: Command;
}

export interface ContextOptions extends Omit<OpenOptions, 'mustExist'> {
  create?: boolean;
  /** How long a PostgreSQL store retries a lost server before store_unavailable (RETRY_BUDGET). */
  retryForMs?: number | undefined;
}

export function action<O = Record<string, unknown>, A extends unknown[] = unknown[]>(
  fn: (env: ActionEnv<O>, ...args: A) => Promise<void> | void,
) {
  return async (...raw: unknown[]): Promise<void> => {
    const command = raw[raw.length - 1] as Command;
    const args = raw.slice(0, -2) as A;
    await runAction(command.optsWithGlobals() as O & GlobalOptions, (env) => fn({ ...env, command }, ...args));
  };
}

/** Runs one action body with its options resolved: the same configuration, store and error face with or without commander. */
export async function runAction<O>(options: O & GlobalOptions, fn: (env: ActionBase<O>) => Promise<void> | void): Promise<void> {
  const out = new Output(options);
  let config: Config | undefined;
  let ctx: Context | undefined;
  const env: ActionBase<O> = {
    options,
    out,
    async config() {
      if (!config) {
        const { loadConfig } = await import('../config.js');
        config = await loadConfig({ config: options.config, db: options.db });
      }
      return config;
    },
    async context(openOptions: ContextOptions = {}) {
      if (!ctx) {
        const { openContext } = await import('../core/context.js');
        const { create, ...rest } = openOptions;
        // A missing store is store_not_found; cli/errors.ts adds how to create or name one.
        ctx = await openContext(await env.config(), { ...rest, mustExist: !create, ...(await import('./clock.js')).clockFromEnv() });
      }
      return ctx;
    },
  };
  try {
    await fn(env);
  } catch (error) {
    await reportError(out, error);
  } finally {
    if (ctx) await ctx.store.close();
  }
}

export async function reportError(out: Output, error: unknown): Promise<void> {
  const { PushctlError, exitCodeFor, fromStoreError } = await import('../errors.js');
  error = fromStoreError(error) ?? error;
  if (error instanceof PushctlError) {
    const { describeForCli, flagFor } = await import('./errors.js');
    const field = error.field && error.at === undefined && !error.worded ? flagFor(error.field) : error.field;
    out.error(describeForCli(error), { kind: error.kind, ...error.details }, { code: error.code, field });
  } else if (isPromptAbort(error)) {
    out.error('cancelled');
    process.exitCode = 130;
    return;
  } else {
    const message = error instanceof Error ? error.message : String(error);
    out.error(`internal error: ${message}${out.verbose ? '' : ' (run with --verbose for details)'}`);
    if (out.verbose && error instanceof Error && error.stack) process.stderr.write(error.stack + '\n');
  }
  process.exitCode = exitCodeFor(error);
}

function isPromptAbort(error: unknown): boolean {
  return error instanceof Error && error.name === 'ExitPromptError';
}
