/** Entry point: parse the command line; commander's own usage errors exit 2. */
import { CommanderError } from 'commander';
import { buildProgram } from './program.js';

const program = buildProgram();
try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    // Help asked for (--help, help, --version) exits 0; help shown because a command was missing
    // (`pushctl`, `pushctl keys`) is a usage error like any other.
    process.exitCode = error.exitCode === 0 ? 0 : 2;
  } else {
    process.stderr.write(`error: ${(error as Error).message}\n`);
    process.exitCode = 1;
  }
}
