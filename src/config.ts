/**
 * Configuration: cosmiconfig finds the file, zod validates it, the environment overrides it and
 * command-line flags override both. Everything else receives one resolved Config object.
 */
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { cosmiconfig } from 'cosmiconfig';
import { z } from 'zod';
import { parseDuration } from './core/durations.js';
import { parseFrequencyCap } from './core/frequency-cap.js';
import { parseQuietHours } from './core/quiet-hours.js';
import { validateSubject } from './core/vapid-keys.js';
import { PushctlError, usageError } from './errors.js';
import { isPostgresUrl } from './store/location.js';

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
  timeoutSeconds: 30,
  maxAttempts: 5,
  retryDelaySeconds: 1,
  payloadFormat: 'classic' as 'classic' | 'declarative',
  tracking: true,
  trackClicks: false,
  host: '127.0.0.1',
  port: 8080,
  rateLimit: { windowSeconds: 60, max: 60 },
};

// Scheme and host only: a wildcard may stand for the leftmost labels; IPv6 hosts in brackets.
const originPattern = /^https?:\/\/((\*\.)?[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:\d{1,5})?$/;
const originMessage = 'must be an origin like "https://push.example.net", "https://*.example.net" or "http://127.0.0.1:8090"';
const ADMIN_TOKEN_MIN = 16;

/**
 * Why a token could never authenticate, or undefined when it can: a client sends it in an HTTP
 * header, so whitespace (often a secret file's trailing newline), control or non-ASCII characters
 * would be lost or mangled on the way, and the admin API would answer 401 for ever.
 */
function adminTokenProblem(token: string): string | undefined {
  if (token.length < ADMIN_TOKEN_MIN) return `must be at least ${ADMIN_TOKEN_MIN} characters (it has ${token.length})`;
  const bad = /[^\x21-\x7e]/.exec(token);
  if (bad) {
    const code = bad[0].codePointAt(0)!;
    const what = /\s/.test(bad[0]) ? 'whitespace' : code < 0x20 || (code >= 0x7f && code <= 0x9f) ? 'a control character' : 'a non-ASCII character';
    const where = bad.index === token.length - 1 && /[\r\n]/.test(bad[0]) ? ' (a trailing newline, as from a secret file?)' : '';
    return `contains ${what} (U+${code.toString(16).toUpperCase().padStart(4, '0')} at position ${bad.index + 1})${where}: use only visible ASCII characters, at least ${ADMIN_TOKEN_MIN} of them`;
  }
  return undefined;
}

/** A subject that push services accept; the message is validateSubject's, minus its "source: " prefix. */
const subjectSchema = z.string().superRefine((value, ctx) => {
  try {
    validateSubject(value, '');
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: (error as Error).message.replace(/^: /, '') });
  }
});

const DAY_MS = 86_400_000;

/** A duration ("60d", "12h") of at least a day: housekeeping on a shorter horizon would delete what is still in use. */
const housekeepingDuration = z.string().superRefine((value, ctx) => {
  let ms: number;
  try {
    ms = parseDuration(value, '');
  } catch {
    ctx.addIssue({ code: 'custom', message: `"${value}" is not a duration (examples: 60d, 90d, 12w)` });
    return;
  }
  if (ms < DAY_MS) ctx.addIssue({ code: 'custom', message: `"${value}" is shorter than a day; use at least 1d` });
});

/** "3/day": checked by the same parser as `categories update --cap`. */
const frequencyCap = z.string().superRefine((value, ctx) => {
  try {
    parseFrequencyCap(value, '');
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: (error as Error).message.replace(/^: /, '') });
  }
});

/** {"start": "22:00", "end": "08:00"}: checked by the same parser as `categories update --quiet-hours`. */
const quietHours = z
  .strictObject({
    start: z.string().meta({ description: 'Local time the quiet window starts, HH:MM.', examples: ['22:00'] }),
    end: z.string().meta({ description: 'Local time it ends, HH:MM (may be the next morning).', examples: ['08:00'] }),
  })
  .superRefine((value, ctx) => {
    try {
      parseQuietHours(value, '');
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: (error as Error).message.replace(/^: /, '') });
    }
  });

/**
 * The config file's shape. Every key is optional; the descriptions end up in
 * push.config.schema.json (scripts/config-schema.mjs), which editors use to complete and check it.
 */
export const fileSchema = z
  .strictObject({
    $schema: z.string().optional().describe('Path or URL of push.config.schema.json, for editors. Ignored by pushctl.'),
    database: z
      .string()
      .min(1)
      .optional()
      .meta({ description: 'SQLite database file, relative to this config file, or a postgres:// URL. Env: PUSHCTL_DB; flag: --db.', default: DEFAULTS.database }),
    vapid: z
      .strictObject({
        subject: subjectSchema
          .optional()
          .meta({
            description:
              'Contact that push services see in every VAPID JWT: a mailto: or https: URL, not a localhost address (Apple rejects those). Env: PUSHCTL_VAPID_SUBJECT.',
            examples: ['mailto:webmaster@example.com', 'https://example.com'],
          }),
      })
      .optional()
      .describe('VAPID (RFC 8292) settings. The keys themselves live in the database, or in PUSHCTL_VAPID_PUBLIC_KEY + PUSHCTL_VAPID_PRIVATE_KEY.'),
    push: z
      .strictObject({
        endpointOrigins: z
          .array(z.string().regex(originPattern, originMessage).transform((origin) => origin.toLowerCase()))
          .optional()
          .meta({
            description:
              'Origins that subscription endpoints may use besides the built-in push services (Google, Mozilla, Apple, Microsoft); "*." matches any subdomain. Env: PUSHCTL_ENDPOINT_ORIGINS (comma separated).',
            examples: [['http://127.0.0.1:8090', 'https://*.push.example.net']],
          }),
        defaultTtl: z
          .number()
          .int()
          .min(0)
          .max(2_419_200)
          .optional()
          .meta({ description: 'Seconds a push service keeps an undelivered message (TTL header) when a notification names none. At most 4 weeks.', default: DEFAULTS.defaultTtl }),
        concurrency: z
          .number()
          .int()
          .min(1)
          .max(1000)
          .optional()
          .meta({ description: 'Requests in flight at once while sending one notification.', default: DEFAULTS.concurrency }),
        timeoutSeconds: z
          .number()
          .min(0.05)
          .max(600)
          .optional()
          .meta({
            description:
              'One deadline for each push request, from asking for a connection to the answer (headers and the part of the body that is kept). A request without an answer by then is retried.',
            default: DEFAULTS.timeoutSeconds,
          }),
        maxAttempts: z
          .number()
          .int()
          .min(1)
          .max(20)
          .optional()
          .meta({ description: 'Attempts per recipient (the first included) before a timeout, 429 or 5xx counts as failed.', default: DEFAULTS.maxAttempts }),
        retryDelaySeconds: z
          .number()
          .min(0)
          .max(3600)
          .optional()
          .meta({
            description: 'Wait before the first retry of a recipient; it doubles with each attempt (with jitter, at most 60 s), and a longer Retry-After from the push service wins.',
            default: DEFAULTS.retryDelaySeconds,
          }),
        payloadFormat: z
          .enum(['classic', 'declarative'])
          .optional()
          .meta({
            description:
              'Payload built from --title/--body/... when a notification names no --format: "classic" (pushctl\'s JSON for its service worker) or "declarative" (Declarative Web Push, shown by Safari 18.4+ without a service worker; needs a title and an https url).',
            default: DEFAULTS.payloadFormat,
          }),
        tracking: z
          .boolean()
          .optional()
          .meta({
            description:
              'Put an unguessable per-delivery token in each built payload, so pushctl\'s service worker can report shown, clicked and dismissed to POST /events. false: no tokens, no events.',
            default: DEFAULTS.tracking,
          }),
        trackClicks: z
          .boolean()
          .optional()
          .meta({
            description: 'Make each notification\'s url <serve.publicUrl>/c/<token>, which counts the click and redirects to the real url (works without a service worker, e.g. declarative pushes). Flag: --track-clicks.',
            default: DEFAULTS.trackClicks,
          }),
        frequencyCap: frequencyCap
          .optional()
          .meta({
            description:
              'At most this many notifications per subscriber in a rolling window, e.g. "3/day" (N/hour, N/day, N/week or N/<duration>); more are skipped and counted "capped". Categories may have their own ("categories update NAME --cap"). Notifications sent with --urgent are never capped. Unset or "none": no cap.',
            examples: ['3/day'],
          }),
        quietHours: quietHours
          .optional()
          .describe(
            'No pushes in this window of each subscriber\'s local time (the zone their browser reported; the server\'s when unknown): deliveries that fall inside wait until it ends, and dispatch sends them then. Categories may have their own ("categories update NAME --quiet-hours"). --urgent notifications are never held. Unset: none.',
          ),
        pruneInactiveAfter: housekeepingDuration
          .optional()
          .meta({
            description:
              'Once a day "pushctl dispatch" removes subscriptions with no successful push for this long (counted from creation when never successful), like "subscriptions prune --inactive". At least 1d. Unset: never.',
            examples: ['60d'],
          }),
        keepHistoryFor: housekeepingDuration
          .optional()
          .meta({
            description:
              'Once a day "pushctl dispatch" drops the per-delivery rows of notifications that finished longer ago than this, keeping their counts, like "notifications prune --older-than". At least 1d. Unset: keep them.',
            examples: ['90d'],
          }),
      })
      .optional()
      .describe('Delivery through the browsers\' push services.'),
    serve: z
      .strictObject({
        host: z.string().min(1).optional().meta({ description: 'Address "pushctl serve" listens on.', default: DEFAULTS.host }),
        port: z.number().int().min(0).max(65535).optional().meta({ description: 'Port "pushctl serve" listens on (0: any free port).', default: DEFAULTS.port }),
        corsOrigins: z
          .array(z.string().min(1))
          .optional()
          .meta({ description: 'Origins of other sites whose pages may call the public subscribe API (CORS).', examples: [['https://www.example.com']] }),
        publicUrl: z
          .url({ protocol: /^https?$/, error: 'must be an http(s) URL like "https://push.example.com"' })
          .refine((value) => !/[?#]/.test(value), 'must have no query or fragment')
          .transform((value) => value.replace(/\/+$/, ''))
          .optional()
          .meta({ description: 'The address browsers reach "pushctl serve" at (behind a proxy: the public one). Tracked click links are <publicUrl>/c/<token>.', examples: ['https://push.example.com'] }),
        adminToken: z
          .string()
          .min(ADMIN_TOKEN_MIN, `must be at least ${ADMIN_TOKEN_MIN} characters`)
          .superRefine((value, ctx) => {
            const problem = adminTokenProblem(value);
            if (problem) ctx.addIssue({ code: 'custom', message: problem });
          })
          .optional()
          .meta({ description: `Bearer token for the admin API (at least ${ADMIN_TOKEN_MIN} visible ASCII characters: no spaces, newlines or control characters); without one the admin API is off. Env: PUSHCTL_ADMIN_TOKEN.` }),
        rateLimit: z
          .strictObject({
            windowSeconds: z.number().int().min(1).optional().meta({ description: 'Length of the rate-limit window in seconds.', default: DEFAULTS.rateLimit.windowSeconds }),
            max: z.number().int().min(1).optional().meta({ description: 'Public API requests one client address may make per window.', default: DEFAULTS.rateLimit.max }),
          })
          .optional()
          .describe('Per-address limit on the public subscribe API.'),
        metrics: z.boolean().optional().meta({ description: 'Serve Prometheus metrics at GET /metrics.', default: false }),
        metricsPublic: z
          .boolean()
          .optional()
          .meta({ description: 'Serve /metrics without the admin token (for a scraper on a private network); otherwise it needs "Authorization: Bearer <adminToken>".', default: false }),
      })
      .optional()
      .describe('The HTTP receiver, "pushctl serve".'),
  })
  .describe('pushctl configuration (push.config.json, .pushctlrc*, pushctl.config.(js|mjs) or the "pushctl" key of package.json).');

export type ConfigFile = z.infer<typeof fileSchema>;

export interface Config {
  /** The config file that was read, if any. */
  configPath: string | undefined;
  database: string;
  vapid: { subject: string | undefined; publicKey: string | undefined; privateKey: string | undefined };
  push: {
    endpointOrigins: string[];
    defaultTtl: number;
    concurrency: number;
    timeoutSeconds: number;
    maxAttempts: number;
    retryDelaySeconds: number;
    payloadFormat: 'classic' | 'declarative';
    tracking: boolean;
    trackClicks: boolean;
    /** "3/day" as written; checked when loaded */
    frequencyCap: string | undefined;
    quietHours: { start: string; end: string } | undefined;
    /** durations as written ("60d"); checked when loaded */
    pruneInactiveAfter: string | undefined;
    keepHistoryFor: string | undefined;
  };
  serve: {
    host: string;
    port: number;
    corsOrigins: string[];
    publicUrl: string | undefined;
    adminToken: string | undefined;
    rateLimit: { windowSeconds: number; max: number };
    metrics: boolean;
    metricsPublic: boolean;
  };
}

export interface ConfigOverrides {
  /** --config */
  config?: string | undefined;
  /** --db */
  db?: string | undefined;
}


/** Loads, validates and resolves configuration. Precedence: flag > env > file > default. */
export async function loadConfig(
  overrides: ConfigOverrides = {},
  env: NodeJS.ProcessEnv = process.env,
  cwd: string = process.cwd(),
): Promise<Config> {
  const explorer = cosmiconfig(CONFIG_MODULE, {
    searchPlaces: CONFIG_SEARCH_PLACES,
    searchStrategy: 'global',
    cache: false,
    loaders: { '.js': loadJsModule, '.mjs': loadJsModule },
  });
  let found: { config: unknown; filepath: string; isEmpty?: boolean } | null;
  const explicit = overrides.config ? path.resolve(cwd, overrides.config) : undefined;
  try {
    found = explicit ? await explorer.load(explicit) : await explorer.search(cwd);
  } catch (error) {
    throw unreadableConfig(error, explicit);
  }
  const file = found && !found.isEmpty ? parseFile(found.config ?? {}, found.filepath) : {};
  const fileDir = found ? path.dirname(found.filepath) : cwd;

  const envOrigins = env.PUSHCTL_ENDPOINT_ORIGINS?.split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);
  for (const origin of envOrigins ?? []) {
    if (!originPattern.test(origin)) {
      throw usageError(`PUSHCTL_ENDPOINT_ORIGINS: "${origin}" ${originMessage}`, { env: 'PUSHCTL_ENDPOINT_ORIGINS' });
    }
  }
  const envSubject = nonEmpty(env.PUSHCTL_VAPID_SUBJECT);
  if (envSubject) validateSubject(envSubject, 'PUSHCTL_VAPID_SUBJECT');
  const envAdminToken = nonEmpty(env.PUSHCTL_ADMIN_TOKEN);
  const tokenProblem = envAdminToken === undefined ? undefined : adminTokenProblem(envAdminToken);
  if (tokenProblem) throw usageError(`PUSHCTL_ADMIN_TOKEN: ${tokenProblem}`, { env: 'PUSHCTL_ADMIN_TOKEN' });
  const envPublic = nonEmpty(env.PUSHCTL_VAPID_PUBLIC_KEY);
  const envPrivate = nonEmpty(env.PUSHCTL_VAPID_PRIVATE_KEY);
  if (Boolean(envPublic) !== Boolean(envPrivate)) {
    throw usageError('PUSHCTL_VAPID_PUBLIC_KEY and PUSHCTL_VAPID_PRIVATE_KEY must be set together', { env: envPublic ? 'PUSHCTL_VAPID_PRIVATE_KEY' : 'PUSHCTL_VAPID_PUBLIC_KEY' });
  }

  // A PostgreSQL URL is kept as given; a SQLite file is resolved against where it was named.
  const located = (base: string, value: string) => (isPostgresUrl(value) ? value.trim() : path.resolve(base, value));
  const database = overrides.db
    ? located(cwd, overrides.db)
    : nonEmpty(env.PUSHCTL_DB)
      ? located(cwd, env.PUSHCTL_DB as string)
      : file.database
        ? located(fileDir, file.database)
        : path.resolve(cwd, DEFAULTS.database);

  return {
    configPath: found?.filepath,
    database,
    vapid: {
      subject: envSubject ?? file.vapid?.subject,
      publicKey: envPublic,
      privateKey: envPrivate,
    },
    push: {
      endpointOrigins: envOrigins ?? file.push?.endpointOrigins ?? [],
      defaultTtl: file.push?.defaultTtl ?? DEFAULTS.defaultTtl,
      concurrency: file.push?.concurrency ?? DEFAULTS.concurrency,
      timeoutSeconds: file.push?.timeoutSeconds ?? DEFAULTS.timeoutSeconds,
      maxAttempts: file.push?.maxAttempts ?? DEFAULTS.maxAttempts,
      retryDelaySeconds: file.push?.retryDelaySeconds ?? DEFAULTS.retryDelaySeconds,
      payloadFormat: file.push?.payloadFormat ?? DEFAULTS.payloadFormat,
      tracking: file.push?.tracking ?? DEFAULTS.tracking,
      trackClicks: file.push?.trackClicks ?? DEFAULTS.trackClicks,
      frequencyCap: file.push?.frequencyCap,
      quietHours: file.push?.quietHours,
      pruneInactiveAfter: file.push?.pruneInactiveAfter,
      keepHistoryFor: file.push?.keepHistoryFor,
    },
    serve: {
      host: file.serve?.host ?? DEFAULTS.host,
      port: file.serve?.port ?? DEFAULTS.port,
      corsOrigins: file.serve?.corsOrigins ?? [],
      publicUrl: file.serve?.publicUrl,
      adminToken: envAdminToken ?? file.serve?.adminToken,
      rateLimit: {
        windowSeconds: file.serve?.rateLimit?.windowSeconds ?? DEFAULTS.rateLimit.windowSeconds,
        max: file.serve?.rateLimit?.max ?? DEFAULTS.rateLimit.max,
      },
      metrics: file.serve?.metrics ?? false,
      metricsPublic: file.serve?.metricsPublic ?? false,
    },
  };
}

function parseFile(raw: unknown, filepath: string): ConfigFile {
  const result = fileSchema.safeParse(raw);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  let key = issue.path.join('.');
  let message = issue.message;
  if (issue.code === 'unrecognized_keys') {
    const unknown = issue.keys[0] ?? '';
    key = [...issue.path, unknown].join('.');
    message = 'unknown key';
  }
  throw new PushctlError('usage', `${filepath}: ${key || '(top level)'}: ${message}`, { file: filepath, key });
}

/**
 * A config file that cannot be read or parsed: name the file and give the parser's reason in one
 * line (cosmiconfig's messages carry a multi-line code frame meant for a terminal).
 */
function unreadableConfig(error: unknown, explicit: string | undefined): PushctlError {
  const err = error as NodeJS.ErrnoException;
  if (explicit && err.code === 'ENOENT') return usageError(`--config: ${explicit} does not exist`, { file: explicit });
  if (explicit && err.code === 'EISDIR') return usageError(`--config: ${explicit} is a directory`, { file: explicit });
  const lines = String(err.message ?? error).split('\n');
  const located = /^(?:JSON|YAML|TypeScript|JavaScript) Error in (.+):$/.exec(lines[0]!.trim());
  const file = located?.[1] ?? explicit ?? 'configuration file';
  const reason =
    (located ? lines.slice(1) : lines)
      .map((line) => line.trim())
      .find((line) => line !== '' && !/^(>|\||\d+ \|)/.test(line))
      ?.replace(/ while parsing .*$/, '') ?? 'cannot be parsed';
  return usageError(`${file}: ${reason}`, { file });
}

/**
 * cosmiconfig's own JS loader retries a failed import() with require() and reports that second,
 * confusing error without the file name; this one keeps the real error and says which file.
 */
async function loadJsModule(filepath: string): Promise<unknown> {
  try {
    const { href } = pathToFileURL(await fs.promises.realpath(filepath));
    return ((await import(href)) as { default?: unknown }).default;
  } catch (error) {
    throw new Error(`JavaScript Error in ${filepath}:\n${(error as Error).message}`);
  }
}

function nonEmpty(value: string | undefined): string | undefined {
  return value !== undefined && value.trim() !== '' ? value : undefined;
}

/** The config file's JSON Schema, shipped as push.config.schema.json for editors (scripts/config-schema.mjs). */
export function configJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(fileSchema, { io: 'input' }) as Record<string, unknown>;
  return { ...schema, title: 'pushctl configuration' };
}

export type RedactedConfig = Omit<Config, 'configPath' | 'vapid' | 'serve'> & {
  configPath: string | null;
  vapid: { subject: string | null; keysFrom: 'database' | 'environment'; publicKey: string | null };
  serve: Omit<Config['serve'], 'adminToken' | 'publicUrl'> & { adminToken: boolean; publicUrl: string | null };
};

/** The configuration with its secrets replaced by whether they are set, for display (null, not absent, in JSON). */
export function redactedConfig(config: Config): RedactedConfig {
  return {
    ...config,
    configPath: config.configPath ?? null,
    vapid: {
      subject: config.vapid.subject ?? null,
      keysFrom: config.vapid.publicKey ? 'environment' : 'database',
      publicKey: config.vapid.publicKey ?? null,
    },
    serve: { ...config.serve, publicUrl: config.serve.publicUrl ?? null, adminToken: Boolean(config.serve.adminToken) },
  };
}
