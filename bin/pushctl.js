#!/usr/bin/env node
// CommonJS (bin/package.json): Node starts a CommonJS entry several milliseconds sooner than an ES
// module one. `--version` needs nothing else; the commands scripts run in a loop (src/cli/fast-path.ts)
// run from CommonJS bundles in dist/fast/ (scripts/bundle-fast-path.mjs); every other command
// imports dist/cli/main.js.
'use strict';
const args = process.argv.slice(2);
if (args.length === 1 && (args[0] === '--version' || args[0] === '-V')) {
  process.stdout.write(`${require('../package.json').version}\n`);
} else {
  // Node 22.1+ keeps compiled code between runs (faster start-up); older Node has no such function.
  require('node:module').enableCompileCache?.();
  const fast = fastPathBundle()?.fastPath(args);
  if (fast) fast();
  else import('../dist/cli/main.js');
}

/** The bundle `npm run build` makes; a build by `tsc` alone has none, and commander answers instead. */
function fastPathBundle() {
  try {
    return require('../dist/fast/fast-path.cjs');
  } catch (error) {
    if (error.code === 'MODULE_NOT_FOUND' && error.message.includes('fast-path.cjs')) return undefined;
    throw error;
  }
}
