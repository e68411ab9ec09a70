/**
 * commander's Command with pushctl's usage errors: under --json they are the same
 * `{"error": {"code": "invalid_request", ...}}` object on stderr as every other usage error (scripts parse one shape), and an
 * unknown command also suggests the commands it is the start of (`keys gen` -> `generate`), which
 * commander's edit-distance suggestion misses for abbreviations.
 */
import { Command, type ErrorOptions } from 'commander';

export class PushctlCommand extends Command {
  override createCommand(name?: string): Command {
    return new PushctlCommand(name);
  }

  override error(message: string, errorOptions?: ErrorOptions): never {
    const code = errorOptions?.code ?? 'commander.error';
    if (code === 'commander.unknownCommand' && !message.includes('Did you mean')) message += prefixSuggestion(this);
    if (jsonRequested(process.argv)) {
      const text = message.replace(/^error: /, '').replace(/\n\(Did you mean/, ' (Did you mean');
      this.configureOutput({ outputError: (_str, write) => write(JSON.stringify({ error: { code: 'invalid_request', message: text, details: { kind: 'usage', code } } }) + '\n') });
      this.showHelpAfterError(false);
    }
    return super.error(message, errorOptions);
  }
}

/** `--json` among the arguments (before a `--` that ends the options). */
export function jsonRequested(argv: string[]): boolean {
  const end = argv.indexOf('--');
  return (end === -1 ? argv : argv.slice(0, end)).includes('--json');
}

function prefixSuggestion(command: Command): string {
  const unknown = command.args[0];
  if (!unknown) return '';
  const names = command.commands.flatMap((c) => [c.name(), ...c.aliases()]).filter((name) => name.startsWith(unknown) && name !== unknown);
  return names.length ? `\n(Did you mean ${names.join(' or ')}?)` : '';
}
