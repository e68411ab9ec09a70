/**
 * Configuration: cosmiconfig finds the file, zod validates it, the environment overrides it and
 * command-line flags override both. Everything else receives one resolved Config object.
 */
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { cosmiconfig } from 'cosmiconfig';
import { z } from 'zod';
import { validateSubject } from './push/vapid-subject.js';
import { fail, type PushctlError } from './errors.js';
import { ADMIN_TOKEN_MIN_LENGTH as ADMIN_TOKEN_MIN, CONCURRENCY, MAX_TTL_SECONDS } from './limits.js';

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
const originPattern = /^https?:\/\/((\*\.)?[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:\d{1,5})?$/;
const originMessage = 'must be an origin like "https://push.example.net", "https://*.example.net" or "http://127.0.0.1:8090"';

/** A subject that push services accept; the message is validateSubject's, minus its "source: " prefix. */
const subjectSchema = z.string().superRefine((value, ctx) => {
  try {
    validateSubject(value, '');
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
      .meta({ description: 'SQLite database file, relative to this config file. Env: PUSHCTL_DB; flag: --db.', default: DEFAULTS.database }),
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
          .max(MAX_TTL_SECONDS)
          .optional()
          .meta({ description: 'Seconds a push service keeps an undelivered message (TTL header) when a notification names none. At most 4 weeks.', default: DEFAULTS.defaultTtl }),
        concurrency: z
          .number()
          .int()
          .min(CONCURRENCY.min)
          .max(CONCURRENCY.max)
          .optional()
          .meta({ description: 'Requests in flight at once while sending one notification.', default: DEFAULTS.concurrency }),
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
        adminToken: z
          .string()
          .min(ADMIN_TOKEN_MIN, `must be at least ${ADMIN_TOKEN_MIN} characters`)
          .optional()
          .meta({ description: `Bearer token for the admin API (at least ${ADMIN_TOKEN_MIN} characters); without one the admin API is off. Env: PUSHCTL_ADMIN_TOKEN.` }),
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
  push: { endpointOrigins: string[]; defaultTtl: number; concurrency: number };
  serve: {
    host: string;
    port: number;
    corsOrigins: string[];
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
      throw fail('invalid_config', `"${origin}" ${originMessage}`, { at: 'PUSHCTL_ENDPOINT_ORIGINS' });
    }
  }
  const envSubject = nonEmpty(env.PUSHCTL_VAPID_SUBJECT);
  if (envSubject) validateSubject(envSubject, 'PUSHCTL_VAPID_SUBJECT');
  const envAdminToken = nonEmpty(env.PUSHCTL_ADMIN_TOKEN);
  if (envAdminToken && envAdminToken.length < ADMIN_TOKEN_MIN) {
    throw fail('invalid_config', `must be at least ${ADMIN_TOKEN_MIN} characters`, { at: 'PUSHCTL_ADMIN_TOKEN' });
  }
  const envPublic = nonEmpty(env.PUSHCTL_VAPID_PUBLIC_KEY);
  const envPrivate = nonEmpty(env.PUSHCTL_VAPID_PRIVATE_KEY);
  if (Boolean(envPublic) !== Boolean(envPrivate)) {
    throw fail('invalid_config', 'PUSHCTL_VAPID_PUBLIC_KEY and PUSHCTL_VAPID_PRIVATE_KEY must be set together', { details: { env: envPublic ? 'PUSHCTL_VAPID_PRIVATE_KEY' : 'PUSHCTL_VAPID_PUBLIC_KEY' } });
  }

  const database = overrides.db
    ? path.resolve(cwd, overrides.db)
    : nonEmpty(env.PUSHCTL_DB)
      ? path.resolve(cwd, env.PUSHCTL_DB as string)
      : file.database
        ? path.resolve(fileDir, file.database)
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
    },
    serve: {
      host: file.serve?.host ?? DEFAULTS.host,
      port: file.serve?.port ?? DEFAULTS.port,
      corsOrigins: file.serve?.corsOrigins ?? [],
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
  throw fail('invalid_config', `${key || '(top level)'}: ${message}`, { at: filepath, details: { file: filepath, key } });
}

/**
 * A config file that cannot be read or parsed: name the file and give the parser's reason in one
 * line (cosmiconfig's messages carry a multi-line code frame meant for a terminal).
 */
function unreadableConfig(error: unknown, explicit: string | undefined): PushctlError {
  const err = error as NodeJS.ErrnoException;
  if (explicit && err.code === 'ENOENT') return fail('invalid_config', `${explicit} does not exist`, { field: 'config', details: { file: explicit } });
  if (explicit && err.code === 'EISDIR') return fail('invalid_config', `${explicit} is a directory`, { field: 'config', details: { file: explicit } });
  const lines = String(err.message ?? error).split('\n');
  const located = /^(?:JSON|YAML|TypeScript|JavaScript) Error in (.+):$/.exec(lines[0]!.trim());
  const file = located?.[1] ?? explicit ?? 'configuration file';
  const reason =
    (located ? lines.slice(1) : lines)
      .map((line) => line.trim())
      .find((line) => line !== '' && !/^(>|\||\d+ \|)/.test(line))
      ?.replace(/ while parsing .*$/, '') ?? 'cannot be parsed';
  return fail('invalid_config', reason, { at: file, details: { file } });
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
  serve: Omit<Config['serve'], 'adminToken'> & { adminToken: boolean };
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
    serve: { ...config.serve, adminToken: Boolean(config.serve.adminToken) },
  };
}
