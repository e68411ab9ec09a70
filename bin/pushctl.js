#!/usr/bin/env node
// CommonJS (bin/package.json): Node starts a CommonJS entry several milliseconds sooner than an ES
// module one, and `--version`, the one command a script may run in a loop, then needs nothing else.
'use strict';
const args = process.argv.slice(2);
if (args.length === 1 && (args[0] === '--version' || args[0] === '-V')) {
  process.stdout.write(`${require('../package.json').version}\n`);
} else {
  // Node 22.1+ keeps compiled code between runs (faster start-up); older Node has no such function.
  require('node:module').enableCompileCache?.();
  import('../dist/cli/main.js');
}
