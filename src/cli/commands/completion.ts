/** `pushctl completion bash|zsh|fish`: a completion script made from this program's own commands and flags. */
import { Argument, type Command } from 'commander';
import { action } from '../run.js';

export function registerCompletion(program: Command): void {
  program
    .command('completion')
    .description('print a shell completion script (commands, flags, category names)')
    .addArgument(new Argument('<shell>', 'bash, zsh or fish').choices(['bash', 'zsh', 'fish']))
    .addHelpText(
      'after',
      '\nInstall:\n  bash  source <(pushctl completion bash)   (in ~/.bashrc)\n  zsh   source <(pushctl completion zsh)    (in ~/.zshrc)\n  fish  pushctl completion fish > ~/.config/fish/completions/pushctl.fish',
    )
    .action(
      action(async ({ command }, shell: string) => {
        const { completionScript } = await import('../completion.js');
        process.stdout.write(completionScript(command.parent!, shell as 'bash' | 'zsh' | 'fish'));
      }),
    );
}
