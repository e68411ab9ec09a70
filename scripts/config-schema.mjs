// Writes push.config.schema.json from the config schema in src/config.ts (run after a build);
// with --check it only verifies that the committed file is current (the tests do the same).
import { readFileSync, writeFileSync } from 'node:fs';
import { configJsonSchema } from '../dist/config-schema.js';

const file = new URL('../push.config.schema.json', import.meta.url);
const text = JSON.stringify(configJsonSchema(), null, 2) + '\n';
if (process.argv.includes('--check')) {
  let current = '';
  try {
    current = readFileSync(file, 'utf8');
  } catch {
    // missing: reported below
  }
  if (current !== text) {
    console.error('push.config.schema.json is out of date: run "npm run build && npm run config-schema"');
    process.exit(1);
  }
} else {
  writeFileSync(file, text);
  console.log('wrote push.config.schema.json');
}
