/**
 * Configuration: cosmiconfig finds the file, zod validates it (config-schema.ts, loaded only when
 * there is a file), the environment overrides it and command-line flags override both. Everything else receives one resolved Config object.
 */
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import os from 'node:os';
import { adminTokenProblem, CONFIG_MODULE, CONFIG_SEARCH_PLACES, DEFAULTS, isPostgresUrl, originMessage, originPattern } from './config-defaults.js';
import type { ConfigFile } from './config-schema.js';
import { fail, type PushctlError } from './errors.js';
import { validateSubject } from './push/vapid-subject.js';

export { DEFAULTS } from './config-defaults.js';

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
    /** "600/min" as written; checked when loaded */
    defaultRate: string | undefined;
    /** IANA zone of subscribers without one; checked when loaded */
    defaultTimeZone: string | undefined;
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
  let found: { config: unknown; filepath: string; isEmpty?: boolean } | null = null;
  const explicit = overrides.config ? path.resolve(cwd, overrides.config) : undefined;
  if (explicit || mayHaveConfigFile(cwd, env)) {
    const { cosmiconfig } = await import('cosmiconfig');
    const explorer = cosmiconfig(CONFIG_MODULE, {
      searchPlaces: CONFIG_SEARCH_PLACES,
      searchStrategy: 'global',
      cache: false,
      loaders: { '.js': loadJsModule, '.mjs': loadJsModule },
    });
    try {
      found = explicit ? await explorer.load(explicit) : await explorer.search(cwd);
    } catch (error) {
      throw unreadableConfig(error, explicit);
    }
  }
  // zod loads only when there is a file to check.
  const file: ConfigFile = found && !found.isEmpty ? (await import('./config-schema.js')).parseFile(found.config ?? {}, found.filepath) : {};
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
  const tokenProblem = envAdminToken === undefined ? undefined : adminTokenProblem(envAdminToken);
  if (tokenProblem) throw fail('invalid_config', tokenProblem, { at: 'PUSHCTL_ADMIN_TOKEN' });
  const envPublic = nonEmpty(env.PUSHCTL_VAPID_PUBLIC_KEY);
  const envPrivate = nonEmpty(env.PUSHCTL_VAPID_PRIVATE_KEY);
  if (Boolean(envPublic) !== Boolean(envPrivate)) {
    throw fail('invalid_config', 'PUSHCTL_VAPID_PUBLIC_KEY and PUSHCTL_VAPID_PRIVATE_KEY must be set together', { details: { env: envPublic ? 'PUSHCTL_VAPID_PRIVATE_KEY' : 'PUSHCTL_VAPID_PUBLIC_KEY' } });
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
      defaultRate: file.push?.defaultRate,
      defaultTimeZone: file.push?.defaultTimeZone,
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

/**
 * Could cosmiconfig's search find anything? Any search place from `cwd` up to the home directory
 * (or the root), a package.json with a "pushctl" (or "cosmiconfig") key, the global config
 * directory, or a meta config directory. When nothing is there, cosmiconfig (a tree of CommonJS
 * modules, a noticeable part of start-up) is not loaded at all: the usual case for a cron job
 * that sets PUSHCTL_DB. Anything doubtful answers yes and cosmiconfig decides.
 */
function mayHaveConfigFile(cwd: string, env: NodeJS.ProcessEnv): boolean {
  const home = os.homedir();
  for (let dir = path.resolve(cwd); ; dir = path.dirname(dir)) {
    for (const place of CONFIG_SEARCH_PLACES) {
      const file = path.join(dir, place);
      if (place === 'package.json' ? packageNamesUs(file) : fs.existsSync(file)) return true;
    }
    if (dir === home || path.dirname(dir) === dir) break;
  }
  // cosmiconfig's own meta configuration, read from the working directory only.
  if (META_PLACES.some((place) => (place === 'package.json' ? packageNamesUs(path.join(cwd, place)) : fs.existsSync(path.join(cwd, place))))) return true;
  const globalDirs = [env.XDG_CONFIG_HOME, path.join(home, '.config'), path.join(home, 'Library', 'Preferences'), env.APPDATA];
  return globalDirs.some((dir) => dir !== undefined && dir !== '' && fs.existsSync(path.join(dir, CONFIG_MODULE)));
}

const META_PLACES = ['package.json', 'package.yaml', '.config/config.json', '.config/config.yaml', '.config/config.yml', '.config/config.js', '.config/config.ts', '.config/config.cjs', '.config/config.mjs'];

function packageNamesUs(file: string): boolean {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return false;
  }
  try {
    const json = JSON.parse(text) as Record<string, unknown>;
    return json !== null && typeof json === 'object' && (CONFIG_MODULE in json || 'cosmiconfig' in json);
  } catch {
    return true;
  }
}

function nonEmpty(value: string | undefined): string | undefined {
  return value !== undefined && value.trim() !== '' ? value : undefined;
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
