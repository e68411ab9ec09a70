// Copies the subscribe page (plain HTML/JS, no build step) next to the compiled server.
import { cpSync, existsSync } from 'node:fs';
const from = new URL('../src/http/static/', import.meta.url);
const to = new URL('../dist/http/static/', import.meta.url);
if (existsSync(from)) cpSync(from, to, { recursive: true });
