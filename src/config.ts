/**
 * Configuration: cosmiconfig finds the file, zod validates it, the environment overrides it and
 * command-line flags override both. Everything else receives one resolved Config object.
 */
import path from 'node:path';
import { cosmiconfig } from 'cosmiconfig';
import { z } from 'zod';
import { PushctlError, usageError } from './errors.js';

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

const originPattern = /^https?:\/\/(\*\.)?[a-z0-9.-]+(:\d{1,5})?$/i;

export const fileSchema = z
  .strictObject({
    $schema: z.string().optional(),
    database: z.string().min(1).optional(),
    vapid: z.strictObject({ subject: z.string().min(1).optional() }).optional(),
    push: z
      .strictObject({
        endpointOrigins: z
          .array(z.string().regex(originPattern, 'must be an origin like "https://push.example.net", "https://*.example.net" or "http://127.0.0.1:8090"'))
          .optional(),
        defaultTtl: z.number().int().min(0).max(2_419_200).optional(),
        concurrency: z.number().int().min(1).max(1000).optional(),
      })
      .optional(),
    serve: z
      .strictObject({
        host: z.string().min(1).optional(),
        port: z.number().int().min(0).max(65535).optional(),
        corsOrigins: z.array(z.string().min(1)).optional(),
        adminToken: z.string().min(16, 'must be at least 16 characters').optional(),
        rateLimit: z
          .strictObject({
            windowSeconds: z.number().int().min(1).optional(),
            max: z.number().int().min(1).optional(),
          })
          .optional(),
      })
      .optional(),
  });

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
  };
}

export interface ConfigOverrides {
  /** --config */
  config?: string | undefined;
  /** --db */
  db?: string | undefined;
}

export const DEFAULTS = {
  database: 'pushctl.db',
  defaultTtl: 86_400,
  concurrency: 50,
  host: '127.0.0.1',
  port: 8080,
  rateLimit: { windowSeconds: 60, max: 60 },
};

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
  });
  let found: { config: unknown; filepath: string; isEmpty?: boolean } | null;
  try {
    found = overrides.config ? await explorer.load(path.resolve(cwd, overrides.config)) : await explorer.search(cwd);
  } catch (error) {
    const where = overrides.config ? path.resolve(cwd, overrides.config) : 'configuration file';
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw usageError(`--config: ${where} does not exist`, { file: where });
    throw usageError(`${where}: cannot be read: ${(error as Error).message.split('\n')[0]}`, { file: where });
  }
  const file = found && !found.isEmpty ? parseFile(found.config ?? {}, found.filepath) : {};
  const fileDir = found ? path.dirname(found.filepath) : cwd;

  const envOrigins = env.PUSHCTL_ENDPOINT_ORIGINS?.split(',').map((s) => s.trim()).filter(Boolean);
  if (envOrigins) {
    for (const origin of envOrigins) {
      if (!originPattern.test(origin)) {
        throw usageError(`PUSHCTL_ENDPOINT_ORIGINS: "${origin}" is not an origin like "https://push.example.net" or "http://127.0.0.1:8090"`, { env: 'PUSHCTL_ENDPOINT_ORIGINS' });
      }
    }
  }
  const envPublic = nonEmpty(env.PUSHCTL_VAPID_PUBLIC_KEY);
  const envPrivate = nonEmpty(env.PUSHCTL_VAPID_PRIVATE_KEY);
  if (Boolean(envPublic) !== Boolean(envPrivate)) {
    throw usageError('PUSHCTL_VAPID_PUBLIC_KEY and PUSHCTL_VAPID_PRIVATE_KEY must be set together', { env: envPublic ? 'PUSHCTL_VAPID_PRIVATE_KEY' : 'PUSHCTL_VAPID_PUBLIC_KEY' });
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
      subject: nonEmpty(env.PUSHCTL_VAPID_SUBJECT) ?? file.vapid?.subject,
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
      adminToken: nonEmpty(env.PUSHCTL_ADMIN_TOKEN) ?? file.serve?.adminToken,
      rateLimit: {
        windowSeconds: file.serve?.rateLimit?.windowSeconds ?? DEFAULTS.rateLimit.windowSeconds,
        max: file.serve?.rateLimit?.max ?? DEFAULTS.rateLimit.max,
      },
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

function nonEmpty(value: string | undefined): string | undefined {
  return value !== undefined && value.trim() !== '' ? value : undefined;
}
