/**
 * The target, content and delivery flags shared by `send` and `schedule`, and their translation
 * into the one NotificationSpec the core validates.
 */
import { Option, type Command } from 'commander';
import { fail } from '../errors.js';
import { CONCURRENCY, DIRECTIONS, MAX_ACTIONS, MAX_PLAINTEXT_BYTES, MAX_TTL_SECONDS, PAYLOAD_FORMATS, URGENCIES } from '../limits.js';
import { wholeNumber } from './numbers.js';
import type { MessageInput, NotificationAction, NotificationSpec, PayloadFormat, TargetInput, Urgency } from '../core/notification-spec.js';
import { readTextInput } from './input.js';

export interface NotificationFlags {
  all?: boolean;
  category?: string[];
  subscription?: string[];
  title?: string;
  body?: string;
  url?: string;
  icon?: string;
  badge?: string;
  tag?: string;
  data?: string;
  image?: string;
  action?: string[];
  requireInteraction?: boolean;
  renotify?: boolean;
  silent?: boolean;
  lang?: string;
  dir?: string;
  timestamp?: string;
  badgeCount?: string;
  format?: string;
  trackClicks?: boolean;
  payload?: string;
  ttl?: string;
  urgency?: string;
  topic?: string;
  urgent?: boolean;
  rate?: string;
  concurrency?: string;
  dryRun?: boolean;
  yes?: boolean;
}

const collect = (value: string, previous: string[] | undefined) => [...(previous ?? []), value];

export function addNotificationOptions(command: Command): Command {
  return command
    .option('--all', 'every subscription')
    .option('--category <name>', 'subscriptions in this category (repeatable; each subscriber gets one copy)', collect)
    .option('--subscription <id|endpoint>', 'one subscription (repeatable)', collect)
    .option('--title <text>', 'notification title')
    .option('--body <text>', 'notification body')
    .option('--url <url>', 'page opened when the notification is clicked')
    .option('--icon <url>', 'icon URL')
    .option('--badge <url>', 'badge URL (small monochrome icon)')
    .option('--tag <tag>', 'tag: a newer notification with the same tag replaces the older one on screen')
    .option('--image <url>', 'large picture shown in the notification')
    .option('--action <id:title[:url]>', `a button (repeatable, at most ${MAX_ACTIONS}); a click opens its URL, or --url without one`, collect)
    .option('--require-interaction', 'keep it on screen until the user acts on it')
    .option('--renotify', 'alert again when it replaces a notification with the same --tag')
    .option('--silent', 'show it without sound or vibration')
    .option('--lang <tag>', 'language of title and body (BCP 47, e.g. en, de-CH)')
    .addOption(new Option('--dir <dir>', 'text direction').choices(DIRECTIONS))
    .option('--timestamp <time>', 'when the event it tells of happened: ISO 8601 (2030-05-01T09:30:00Z) or ms since 1970')
    .option('--badge-count <n>', 'set the app badge to this number (0 clears it)')
    .addOption(new Option('--format <format>', 'payload shape (default: push.payloadFormat, else classic); see docs/payloads.md').choices(PAYLOAD_FORMATS))
    .option('--track-clicks', 'links go through <serve.publicUrl>/c/<token>, which counts the click and redirects (default: push.trackClicks)')
    .option('--data <json>', 'extra fields for the service worker, as a JSON object')
    .option('--payload <json|@file|->', `raw JSON payload instead of --title/--body/...: inline, @FILE, or - for stdin (at most ${MAX_PLAINTEXT_BYTES} bytes)`)
    .option('--ttl <seconds|duration>', `how long the push service keeps it for an offline browser (e.g. 3600, 90m, 2d; at most ${MAX_TTL_SECONDS} s)`)
    .addOption(new Option('--urgency <level>', 'delivery urgency (RFC 8030)').choices(URGENCIES))
    .option('--topic <topic>', 'replace an undelivered message with the same topic (default: one per notification)')
    .option('--urgent', 'never held back by frequency caps; sent with Urgency high')
    .option('--rate <n/period>', 'throttle: at most N deliveries started per second, minute or hour (N/s, N/min, N/h), across all processes on it; "none": unthrottled (default: push.defaultRate)')
    .option('--concurrency <n>', 'requests in flight at once (default: push.concurrency)')
    .option('--dry-run', 'count recipients and show the payload size; send nothing')
    .option('-y, --yes', 'do not ask for confirmation');
}

export async function specFromOptions(options: NotificationFlags): Promise<NotificationSpec> {
  const { parseDurationSeconds } = await import('../core/durations.js');
  const targets: TargetInput[] = [];
  if (options.all) targets.push({ all: true });
  if (options.category?.length) targets.push({ categories: options.category });
  if (options.subscription?.length) targets.push({ subscriptions: options.subscription });
  if (targets.length !== 1) {
    throw fail('invalid_request', targets.length ? 'choose one of --all, --category or --subscription, not several' : 'choose who gets it: --all, --category NAME or --subscription ID');
  }
  let payload: string | undefined;
  if (options.payload !== undefined) {
    const raw = options.payload;
    payload = raw === '-' || raw.startsWith('@') ? (await readTextInput(raw === '-' ? '-' : raw.slice(1), '--payload')).text.trim() : raw;
    parseJson(payload, 'payload');
  }
  const data = options.data === undefined ? undefined : parseJson(options.data, 'data');
  if (data !== undefined && (typeof data !== 'object' || data === null || Array.isArray(data))) throw fail('invalid_request', 'must be a JSON object, like {"orderId": 42}', { field: 'data' });
  return {
    target: targets[0]!,
    message: {
      title: options.title,
      body: options.body,
      url: options.url,
      icon: options.icon,
      badge: options.badge,
      tag: options.tag,
      image: options.image,
      actions: options.action?.map(parseActionFlag),
      requireInteraction: options.requireInteraction,
      renotify: options.renotify,
      silent: options.silent,
      lang: options.lang,
      dir: options.dir as MessageInput['dir'],
      timestamp: options.timestamp,
      badgeCount: parseBadgeCount(options.badgeCount),
      format: options.format as PayloadFormat | undefined,
      trackClicks: options.trackClicks,
      data: data as Record<string, unknown> | undefined,
      payload,
    },
    delivery: {
      ttl: options.ttl === undefined ? undefined : parseDurationSeconds(options.ttl, 'ttl'),
      urgency: options.urgency as Urgency | undefined,
      topic: options.topic,
      urgent: options.urgent,
      rate: options.rate,
    },
  };
}

export function parseConcurrency(value: string | undefined): number | undefined {
  return value === undefined ? undefined : wholeNumber(value, 'concurrency', CONCURRENCY.min, CONCURRENCY.max);
}

/**
 * `--action ID:TITLE[:URL]`: the id ends at the first colon; a URL (http://, https:// or a path
 * starting with /) after the last title colon is the button's link, so titles may contain colons.
 */
export function parseActionFlag(value: string): NotificationAction {
  const colon = value.indexOf(':');
  if (colon <= 0) throw fail('invalid_request', `"${value}" must be ID:TITLE or ID:TITLE:URL (e.g. "open:Read it:https://example.com/post")`, { field: 'actions' });
  const action = value.slice(0, colon);
  const rest = value.slice(colon + 1);
  const withUrl = /^(.*?):((?:https?:\/\/|\/).*)$/s.exec(rest);
  const title = withUrl ? withUrl[1]! : rest;
  if (!title.trim()) throw fail('invalid_request', `"${value}" has no title (ID:TITLE[:URL])`, { field: 'actions' });
  return withUrl ? { action, title, url: withUrl[2]! } : { action, title };
}

function parseBadgeCount(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) throw fail('invalid_request', `"${value}" must be a whole number (0 clears the badge)`, { field: 'badgeCount' });
  return Number(value);
}

function parseJson(text: string, field: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw fail('invalid_request', `not valid JSON (${(error as Error).message})`, { field });
  }
}
