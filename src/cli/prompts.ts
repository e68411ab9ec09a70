/** Prompts (inquirer), only ever shown when a person is at the terminal. */
import { fail } from '../errors.js';
import type { Output } from './output.js';

/**
 * Asks for confirmation when interactive; without a TTY it refuses unless `--yes` was given,
 * naming the flag, so a cron job never hangs on a question.
 */
export async function confirmOrRefuse(out: Output, question: string, yes: boolean | undefined, refusal: string): Promise<boolean> {
  if (yes) return true;
  if (!out.interactive) throw fail('invalid_request', `${refusal}: re-run with --yes (stdin is not a terminal, so pushctl will not ask)`);
  const { confirm } = await import('@inquirer/prompts');
  return confirm({ message: question, default: false });
}
