/**
 * Configuration constants both the loader (config.ts) and the schema (config-schema.ts) need:
 * where the file is searched for, the defaults, what an origin looks like. No dependencies, so
 * the loader can use them without loading the schema library.
 */
export const CONFIG_MODULE = 'pushctl';
export const CONFIG_SEARCH_PLACES = [
  'package.json',
  'push.config.json',
  '.pushctlrc',
  '.pushctlrc.json',
  '.pushctlrc.yaml',
  '.pushctlrc.yml',
  'pushctl.config.js',
  'pushctl.config.mjs',
];

export const DEFAULTS = {
  database: 'pushctl.db',
  defaultTtl: 86_400,
  concurrency: 50,
  host: '127.0.0.1',
  port: 8080,
  rateLimit: { windowSeconds: 60, max: 60 },
};

// Scheme and host only: a wildcard may stand for the leftmost labels; IPv6 hosts in brackets.
export const originPattern = /^https?:\/\/((\*\.)?[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:\d{1,5})?$/;
export const originMessage = 'must be an origin like "https://push.example.net", "https://*.example.net" or "http://127.0.0.1:8090"';
