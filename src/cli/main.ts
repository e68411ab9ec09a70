/**
 * Entry point: parse the command line; commander's own usage errors exit 2. `--version` answers
 * before commander or any command loads. (bin/pushctl.js answers `--version` and the fast path's
 * shapes, fast-path.ts, before this module loads; here they go through commander, same answers.)
 * No top-level await: the build bundles this module into CommonJS (scripts/bundle-cli.mjs).
 */
async function main(args: string[]): Promise<void> {
  if (args.length === 1 && (args[0] === '--version' || args[0] === '-V')) {
    const { packageVersion } = await import('./version.js');
    process.stdout.write(`${packageVersion()}\n`);
    return;
  }
  const [{ CommanderError }, { buildProgram }] = await Promise.all([import('commander'), import('./program.js')]);
  const program = await buildProgram(args);
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
}

void main(process.argv.slice(2));
