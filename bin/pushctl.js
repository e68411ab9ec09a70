#!/usr/bin/env node
import module from 'node:module';

// Node 22.1+ keeps compiled code between runs (faster start-up); older Node has no such function.
module.enableCompileCache?.();
await import('../dist/cli/main.js');
