/**
 * The terminal's words for core errors: neutral fields become the flags an operator typed, and
 * some codes get a hint naming the command that helps. The codes themselves are in src/errors.ts.
 */
import type { ErrorCode, PushctlError } from '../errors.js';

/** Neutral field -> the flag that carries it. Fields not listed are not flags (keys.p256dh, name). */
const FLAGS: Record<string, string> = {
  sendAt: '--at',
  in: '--in',
  cron: '--cron',
  tz: '--tz',
  until: '--until',
  count: '--count',
  staleAfter: '--stale-after',
  nowIfPast: '--now-if-past',
  status: '--status',
  since: '--since',
  limit: '--limit',
  olderThan: '--older-than',
  failedMoreThan: '--failed-more-than',
  category: '--category',
  categories: '--category',
  subscriptions: '--subscription',
  all: '--all',
  title: '--title',
  body: '--body',
  url: '--url',
  icon: '--icon',
  badge: '--badge',
  tag: '--tag',
  data: '--data',
  payload: '--payload',
  ttl: '--ttl',
  urgency: '--urgency',
  topic: '--topic',
  subject: '--subject',
  concurrency: '--concurrency',
  lease: '--lease',
  interval: '--interval',
  schedule: '--schedule',
  port: '--port',
  watch: '--watch',
  metricsPort: '--metrics-port',
  metricsHost: '--metrics-host',
  description: '--description',
  config: '--config',
  from: '--from',
  to: '--to',
  force: '--force',
  image: '--image',
  actions: '--action',
  requireInteraction: '--require-interaction',
  renotify: '--renotify',
  silent: '--silent',
  lang: '--lang',
  dir: '--dir',
  timestamp: '--timestamp',
  badgeCount: '--badge-count',
  format: '--format',
  trackClicks: '--track-clicks',
  subscriptionJson: '--subscription-json',
  allowEmpty: '--allow-empty',
  urgent: '--urgent',
  cap: '--cap',
  quietHours: '--quiet-hours',
  timeZone: '--time-zone',
  language: '--language',
  inactive: '--inactive',
  expired: '--expired',
  rate: '--rate',
  localTime: '--local-time',
  staleKey: '--stale-key',
  enqueue: '--enqueue',
};

export const flagFor = (field: string): string => FLAGS[field] ?? field;

const first = (value: unknown): string | undefined => (Array.isArray(value) ? String(value[0]) : typeof value === 'string' ? value : undefined);

/** What to run next, by code; `undefined` when the message says it all. */
const HINTS: Partial<Record<ErrorCode, (error: PushctlError) => string | undefined>> = {
  invalid_input: (e) => (e.details?.file !== undefined && e.details.field === 'privateKey' ? 'export with --private to include it' : undefined),
  store_not_found: () => 'create it with "pushctl init" (or "pushctl keys generate"), or name an existing one with --db, PUSHCTL_DB or a config file\'s "database"',
  no_keys: () => 'run "pushctl keys generate --subject mailto:you@example.com" (or "pushctl init")',
  keys_exist: () => 're-run with --force to replace it',
  time_in_past: () => 'pass --now-if-past to send it at once',
  unknown_category: (e) => {
    const name = first(e.details?.category) ?? first(e.details?.missing);
    if (e.at) return 'create it first, or pass --create-categories';
    return `create it with "pushctl categories add ${name ?? 'NAME'}"${e.field === 'category' ? ', or pass --create-categories' : ''}`;
  },
  category_not_found: () => 'see "pushctl categories list"',
  unknown_key: () => 'import it first with "pushctl keys import"',
  unknown_subscription: () => 'see "pushctl subscriptions list"',
  subscription_not_found: () => 'see "pushctl subscriptions list"',
  notification_not_found: () => 'see "pushctl notifications list"',
};

/** The message as the terminal shows it: flag names, and a hint in parentheses. */
export function describeForCli(error: PushctlError): string {
  const message = error.describe(flagFor);
  const hint = HINTS[error.code]?.(error);
  return hint ? `${message} (${hint})` : message;
}
