#!/usr/bin/env node
// CommonJS (bin/package.json): Node starts a CommonJS entry several milliseconds sooner than an ES
// module one. `--version` needs nothing else; every other command runs from the CommonJS bundles
// `npm run build` makes (scripts/bundle-cli.mjs): the commands scripts run in a loop from the
// fast path's (dist/fast/, src/cli/fast-path.ts), which decides from the words alone before it
// loads anything, the rest from the whole program's (dist/cjs/, src/cli/main.ts).
'use strict';
const args = process.argv.slice(2);
if (args.length === 1 && (args[0] === '--version' || args[0] === '-V')) {
  process.stdout.write(`${require('../package.json').version}\n`);
} else {
  // Node 22.1+ keeps compiled code between runs (faster start-up); older Node has no such function.
  require('node:module').enableCompileCache?.();
  const fast = bundled('fast/fast-path')?.fastPath(args);
  if (fast) fast();
  else if (!bundled('cjs/main')) import('../dist/cli/main.js');
}

/**
 * A bundle's entry, run by requiring it; undefined when the build was `tsc` alone (no bundles),
 * and the ES modules in dist/ answer instead.
 */
function bundled(name) {
  try {
    return require(`../dist/${name}.cjs`);
  } catch (error) {
    if (error.code === 'MODULE_NOT_FOUND' && error.message.includes(`${name}.cjs`)) return undefined;
    throw error;
  }
}
