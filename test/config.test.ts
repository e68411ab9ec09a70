/**
 * Configuration as an operator meets it: files found by cosmiconfig upward from the working
 * directory, --config, environment overrides, precedence, and errors that name the file and key.
 * Each test's HOME is its own temp directory, so the search (which stops at HOME, then looks in
 * ~/.config/pushctl) sees nothing outside the test.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openDb, ROOT, runCli, runJson, tempDir, type RunOptions } from './support/cli.js';

interface ShownConfig {
  configPath: string | null;
  database: string;
  vapid: { subject: string | null; keysFrom: string; publicKey: string | null };
  push: { endpointOrigins: string[]; defaultTtl: number; concurrency: number; timeoutSeconds: number; maxAttempts: number; retryDelaySeconds: number; payloadFormat: string; tracking: boolean; trackClicks: boolean };
  serve: { host: string; port: number; corsOrigins: string[]; adminToken: boolean; rateLimit: { windowSeconds: number; max: number }; metrics: boolean; metricsPublic: boolean };
}

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

function home(): string {
  const dir = fs.realpathSync(tempDir('pushctl-config-'));
  dirs.push(dir);
  return dir;
}

/** The temp directory a path belongs to: HOME for the run, where cosmiconfig's search stops. */
function rootOf(dir: string): string {
  return dirs.find((root) => dir === root || dir.startsWith(root + path.sep)) ?? dir;
}

function write(file: string, content: unknown): string {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content, null, 2));
  return file;
}

function inDir(cwd: string, env: Record<string, string | undefined> = {}): RunOptions {
  return { cwd, env: { HOME: rootOf(cwd), XDG_CONFIG_HOME: undefined, ...env } };
}

const show = (cwd: string, args: string[] = [], env: Record<string, string | undefined> = {}) =>
  runJson<ShownConfig>([...args, 'config', 'show'], inDir(cwd, env));

describe('config discovery', () => {
  it('uses the defaults when no file exists, with the database in the working directory', async () => {
    const dir = home();
    const config = await show(dir);
    expect(config).toEqual({
      configPath: null,
      database: path.join(dir, 'pushctl.db'),
      vapid: { subject: null, keysFrom: 'database', publicKey: null },
      push: { endpointOrigins: [], defaultTtl: 86_400, concurrency: 50, timeoutSeconds: 30, maxAttempts: 5, retryDelaySeconds: 1, payloadFormat: 'classic', tracking: true, trackClicks: false },
      serve: { host: '127.0.0.1', port: 8080, corsOrigins: [], publicUrl: null, adminToken: false, rateLimit: { windowSeconds: 60, max: 60 }, metrics: false, metricsPublic: false },
    });
    expect(fs.existsSync(path.join(dir, 'pushctl.db'))).toBe(false);
  });

  it('finds push.config.json in a parent directory; database is relative to the config file', async () => {
    const dir = home();
    const file = write(path.join(dir, 'push.config.json'), { database: 'data/store.db', serve: { port: 9123 } });
    const sub = path.join(dir, 'a', 'b');
    fs.mkdirSync(sub, { recursive: true });
    const config = await show(sub);
    expect(config.configPath).toBe(file);
    expect(config.database).toBe(path.join(dir, 'data', 'store.db'));
    expect(config.serve.port).toBe(9123);
  });

  const formats: [string, string][] = [
    ['.pushctlrc', '{"serve":{"port":9001}}'],
    ['.pushctlrc.json', '{"serve":{"port":9002}}'],
    ['.pushctlrc.yaml', 'serve:\n  port: 9003\n'],
    ['.pushctlrc.yml', '# comment\nserve:\n  port: 9004\n'],
    ['pushctl.config.mjs', 'export default { serve: { port: 9005 } };\n'],
    ['pushctl.config.js', 'module.exports = { serve: { port: 9006 } };\n'],
    ['package.json', '{"name":"site","pushctl":{"serve":{"port":9007}}}'],
  ];
  for (const [name, content] of formats) {
    it(`reads ${name}`, async () => {
      const dir = home();
      const file = write(path.join(dir, name), content);
      const sub = path.join(dir, 'deeper');
      fs.mkdirSync(sub);
      const config = await show(sub);
      expect(config.configPath).toBe(file);
      expect(config.serve.port).toBe(9000 + formats.findIndex(([n]) => n === name) + 1);
    });
  }

  it('skips a package.json without a "pushctl" key and keeps searching upward', async () => {
    const dir = home();
    const file = write(path.join(dir, 'push.config.json'), { push: { concurrency: 7 } });
    write(path.join(dir, 'app', 'package.json'), { name: 'app' });
    const config = await show(path.join(dir, 'app'));
    expect(config.configPath).toBe(file);
    expect(config.push.concurrency).toBe(7);
  });

  it('the nearest file wins over one further up', async () => {
    const dir = home();
    write(path.join(dir, 'push.config.json'), { push: { concurrency: 1 } });
    const near = write(path.join(dir, 'site', '.pushctlrc.yaml'), 'push:\n  concurrency: 2\n');
    const config = await show(path.join(dir, 'site'));
    expect(config.configPath).toBe(near);
    expect(config.push.concurrency).toBe(2);
  });

  it('falls back to ~/.config/pushctl/config.json', async () => {
    const dir = home();
    const file = write(path.join(dir, '.config', 'pushctl', 'config.json'), { push: { concurrency: 9 } });
    fs.mkdirSync(path.join(dir, 'site'));
    const config = await show(path.join(dir, 'site'));
    expect(config.configPath).toBe(file);
    expect(config.push.concurrency).toBe(9);
    const nearer = write(path.join(dir, 'site', 'push.config.json'), { push: { concurrency: 4 } });
    expect((await show(path.join(dir, 'site'))).configPath).toBe(nearer);
  });

  it('--config names a file explicitly, before or after the subcommand, and the search is skipped', async () => {
    const dir = home();
    write(path.join(dir, 'push.config.json'), { push: { concurrency: 1 } });
    const custom = write(path.join(dir, 'elsewhere', 'custom-name.json'), { push: { concurrency: 3 }, database: 'x.db' });
    const before = await runJson<ShownConfig>(['--config', custom, 'config', 'show'], inDir(dir));
    const after = await runJson<ShownConfig>(['config', 'show', '--config', 'elsewhere/custom-name.json'], inDir(dir));
    for (const config of [before, after]) {
      expect(config.configPath).toBe(custom);
      expect(config.push.concurrency).toBe(3);
      expect(config.database).toBe(path.join(dir, 'elsewhere', 'x.db'));
    }
  });

  it('--config to a missing file exits 2 and names it', async () => {
    const dir = home();
    const result = await runCli(['--config', 'nope.json', 'keys', 'show'], inDir(dir));
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(path.join(dir, 'nope.json'));
    expect(result.stderr).toContain('does not exist');
  });
});

describe('precedence: flag > environment > config file > default', () => {
  it('database: --db over PUSHCTL_DB over the file over the default', async () => {
    const dir = home();
    write(path.join(dir, 'push.config.json'), { database: 'from-file.db' });
    expect((await show(dir)).database).toBe(path.join(dir, 'from-file.db'));
    expect((await show(dir, [], { PUSHCTL_DB: 'from-env.db' })).database).toBe(path.join(dir, 'from-env.db'));
    expect((await show(dir, ['--db', 'from-flag.db'], { PUSHCTL_DB: 'from-env.db' })).database).toBe(path.join(dir, 'from-flag.db'));
  });

  it('the database the CLI actually writes follows the same order', async () => {
    const dir = home();
    write(path.join(dir, 'push.config.json'), { database: 'from-file.db', vapid: { subject: 'mailto:ops@example.com' } });
    await runJson(['keys', 'generate'], inDir(dir, { PUSHCTL_DB: 'from-env.db' }));
    expect(fs.existsSync(path.join(dir, 'from-env.db'))).toBe(true);
    expect(fs.existsSync(path.join(dir, 'from-file.db'))).toBe(false);
    await runJson(['keys', 'generate', '--db', 'from-flag.db'], inDir(dir, { PUSHCTL_DB: 'from-env.db' }));
    expect(fs.existsSync(path.join(dir, 'from-flag.db'))).toBe(true);
  });

  it('subject, endpoint origins and admin token: environment over the file', async () => {
    const dir = home();
    write(path.join(dir, 'push.config.json'), {
      vapid: { subject: 'mailto:file@example.com' },
      push: { endpointOrigins: ['https://file.example.net'] },
      serve: { adminToken: 'file-token-0123456789' },
    });
    const fromFile = await show(dir);
    expect(fromFile.vapid.subject).toBe('mailto:file@example.com');
    expect(fromFile.push.endpointOrigins).toEqual(['https://file.example.net']);
    expect(fromFile.serve.adminToken).toBe(true);

    const fromEnv = await show(dir, [], {
      PUSHCTL_VAPID_SUBJECT: 'https://env.example.com',
      PUSHCTL_ENDPOINT_ORIGINS: 'http://127.0.0.1:8090, https://*.push.example.net',
    });
    expect(fromEnv.vapid.subject).toBe('https://env.example.com');
    expect(fromEnv.push.endpointOrigins).toEqual(['http://127.0.0.1:8090', 'https://*.push.example.net']);
  });

  it('keys generate stores --subject over PUSHCTL_VAPID_SUBJECT over vapid.subject; a configured subject signs, with a warning', async () => {
    const dir = home();
    write(path.join(dir, 'push.config.json'), { vapid: { subject: 'mailto:file@example.com' } });
    const storedSubject = () => {
      const db = openDb(path.join(dir, 'pushctl.db'));
      try {
        return (db.prepare('SELECT subject FROM vapid_keys WHERE active = 1').get() as { subject: string }).subject;
      } finally {
        db.close();
      }
    };
    const fromFile = await runJson<{ subject: string }>(['keys', 'generate'], inDir(dir));
    expect(fromFile.subject).toBe('mailto:file@example.com');
    expect(storedSubject()).toBe('mailto:file@example.com');

    const fromEnv = await runJson<{ subject: string }>(['keys', 'generate', '--force'], inDir(dir, { PUSHCTL_VAPID_SUBJECT: 'mailto:env@example.com' }));
    expect(fromEnv.subject).toBe('mailto:env@example.com');
    expect(storedSubject()).toBe('mailto:env@example.com');

    const env = { PUSHCTL_VAPID_SUBJECT: 'mailto:env@example.com' };
    const fromFlag = await runCli(['keys', 'generate', '--force', '--subject', 'https://flag.example.com'], inDir(dir, env));
    expect(fromFlag.code).toBe(0);
    expect(storedSubject()).toBe('https://flag.example.com');
    expect(fromFlag.stdout).toContain('subject:    mailto:env@example.com');
    expect(fromFlag.stderr).toMatch(/warning: pushes will be signed with the configured subject mailto:env@example.com .* overrides https:\/\/flag.example.com/);
    const shown = await runJson<{ subject: string; storedSubject: string }>(['keys', 'show'], inDir(dir, env));
    expect(shown).toMatchObject({ subject: 'mailto:env@example.com', storedSubject: 'https://flag.example.com' });
    const withoutConfig = await runJson<{ subject: string }>(['--config', write(path.join(dir, 'empty.json'), '{}'), 'keys', 'show'], inDir(dir));
    expect(withoutConfig.subject).toBe('https://flag.example.com');
  });

  it('the secret is never shown: config show says only that a token is set', async () => {
    const dir = home();
    const token = 'a-very-secret-admin-token-value';
    const human = await runCli(['config', 'show'], inDir(dir, { PUSHCTL_ADMIN_TOKEN: token }));
    const json = await runCli(['config', 'show', '--json'], inDir(dir, { PUSHCTL_ADMIN_TOKEN: token }));
    expect(human.code).toBe(0);
    expect(human.stdout).toContain('serve.adminToken:     set (hidden)');
    expect(JSON.parse(json.stdout).serve.adminToken).toBe(true);
    for (const output of [human.stdout, human.stderr, json.stdout, json.stderr]) expect(output).not.toContain(token);
  });
});

describe('invalid configuration exits 2 naming the file and the key', () => {
  const cases: [string, unknown, string, RegExp][] = [
    ['an unknown top-level key', { databse: 'x.db' }, 'databse', /unknown key/],
    ['an unknown nested key', { serve: { prot: 80 } }, 'serve.prot', /unknown key/],
    ['a wrong type', { serve: { port: '8080' } }, 'serve.port', /expected number/],
    ['a non-integer', { push: { concurrency: 2.5 } }, 'push.concurrency', /integer|int/i],
    ['an out-of-range port', { serve: { port: 70000 } }, 'serve.port', /65535|too big/i],
    ['a TTL beyond 4 weeks', { push: { defaultTtl: 3_000_000 } }, 'push.defaultTtl', /2419200|too big/i],
    ['a localhost subject', { vapid: { subject: 'mailto:me@localhost' } }, 'vapid.subject', /local host/],
    ['an http subject', { vapid: { subject: 'http://example.com' } }, 'vapid.subject', /mailto: or https:/],
    ['an endpoint origin with a path', { push: { endpointOrigins: ['https://push.example.net/x'] } }, 'push.endpointOrigins.0', /must be an origin/],
    ['a short admin token', { serve: { adminToken: 'short' } }, 'serve.adminToken', /at least 16/],
    ['an admin token with a trailing newline', { serve: { adminToken: 'token-from-a-secret-file\n' } }, 'serve.adminToken', /whitespace \(U\+000A at position 25\) \(a trailing newline/],
    ['an admin token with a space', { serve: { adminToken: 'Bearer 0123456789abcdef' } }, 'serve.adminToken', /whitespace.*visible ASCII characters, at least 16/],
    ['an admin token with an escape character', { serve: { adminToken: '0123456789abcdef\u001b[2J' } }, 'serve.adminToken', /a control character \(U\+001B/],
    ['a wrong type at the top', { vapid: 'mailto:x@example.com' }, 'vapid', /expected object/],
  ];
  for (const [what, content, key, message] of cases) {
    it(`rejects ${what}`, async () => {
      const dir = home();
      const file = write(path.join(dir, 'push.config.json'), content);
      const result = await runCli(['keys', 'show'], inDir(dir));
      expect(result.code).toBe(2);
      expect(result.stderr).toContain(`${file}: ${key}: `);
      expect(result.stderr).toMatch(message);
      expect(result.stderr).not.toMatch(/\n\s+at /);
      expect(fs.existsSync(path.join(dir, 'pushctl.db'))).toBe(false);
    });
  }

  it('names the file of a config found by the search, in a YAML file too', async () => {
    const dir = home();
    const file = write(path.join(dir, '.pushctlrc.yaml'), 'serve:\n  port: eighty\n');
    const result = await runCli(['config', 'show'], inDir(path.join(dir)));
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`${file}: serve.port:`);
  });

  it('--json reports the file and key as data', async () => {
    const dir = home();
    const file = write(path.join(dir, 'push.config.json'), { serve: { bogus: true } });
    const result = await runCli(['keys', 'show', '--json'], inDir(dir));
    expect(result.code).toBe(2);
    const error = JSON.parse(result.stderr) as { error: { message: string; details: Record<string, unknown> } };
    expect(error.error.details).toMatchObject({ kind: 'usage', file, key: 'serve.bogus' });
  });

  const unparsable: [string, string, RegExp][] = [
    ['push.config.json', '{"database": "x.db",', /JSON|end of/i],
    ['.pushctlrc.yaml', 'serve:\n  port: 1\n bad: indentation\n', /indentation|mapping/],
    ['pushctl.config.mjs', 'export default {{\n', /Unexpected token/],
    ['pushctl.config.js', 'throw new Error("config exploded");\n', /config exploded/],
  ];
  for (const [name, content, reason] of unparsable) {
    it(`reports an unparsable ${name} in one line naming it`, async () => {
      const dir = home();
      const file = write(path.join(dir, name), content);
      const result = await runCli(['config', 'show'], inDir(dir));
      expect(result.code).toBe(2);
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
      expect(result.stderr).toContain(file);
      expect(result.stderr).toMatch(reason);
    });
  }

  const badEnv: [Record<string, string>, string][] = [
    [{ PUSHCTL_ENDPOINT_ORIGINS: 'https://ok.example.net,ftp://bad' }, 'PUSHCTL_ENDPOINT_ORIGINS'],
    [{ PUSHCTL_VAPID_SUBJECT: 'mailto:me@127.0.0.1' }, 'PUSHCTL_VAPID_SUBJECT'],
    [{ PUSHCTL_ADMIN_TOKEN: 'tooshort' }, 'PUSHCTL_ADMIN_TOKEN'],
    [{ PUSHCTL_ADMIN_TOKEN: 'token-from-a-secret-file\n' }, 'PUSHCTL_ADMIN_TOKEN'],
    [{ PUSHCTL_VAPID_PUBLIC_KEY: 'BExample' }, 'PUSHCTL_VAPID_PRIVATE_KEY'],
  ];
  for (const [env, name] of badEnv) {
    it(`rejects a bad ${JSON.stringify(env)} naming the variable`, async () => {
      const dir = home();
      const result = await runCli(['config', 'show'], inDir(dir, env));
      expect(result.code).toBe(2);
      expect(result.stderr).toContain(name);
    });
  }
});

describe('push.config.example.json and push.config.schema.json', () => {
  const example = path.join(ROOT, 'push.config.example.json');

  it('the example is a valid config that sets every key', async () => {
    const dir = home();
    const config = await runJson<ShownConfig>(['--config', example, 'config', 'show'], inDir(dir));
    expect(config.configPath).toBe(example);
    expect(config.vapid.subject).toMatch(/^mailto:/);
    expect(config.serve.adminToken).toBe(true);

    const schema = JSON.parse(fs.readFileSync(path.join(ROOT, 'push.config.schema.json'), 'utf8')) as SchemaNode;
    const exampleKeys = leafKeys(JSON.parse(fs.readFileSync(example, 'utf8')) as Record<string, unknown>).sort();
    const schemaKeys = schemaLeafKeys(schema).sort();
    expect(exampleKeys).toEqual(schemaKeys);
  });

  it('the example can set up a working installation', async () => {
    const dir = home();
    const key = await runJson<{ subject: string }>(['--config', example, '--db', path.join(dir, 'p.db'), 'keys', 'generate'], inDir(dir));
    expect(key.subject).toBe('mailto:webmaster@example.com');
  });

  it('push.config.schema.json is generated from the schema pushctl validates with', async () => {
    const { configJsonSchema } = (await import(path.join(ROOT, 'dist/config-schema.js'))) as { configJsonSchema: () => unknown };
    const committed = JSON.parse(fs.readFileSync(path.join(ROOT, 'push.config.schema.json'), 'utf8')) as unknown;
    expect(committed, 'run "npm run build && npm run config-schema" after changing the config schema').toEqual(configJsonSchema());
  });

  it('every key in the schema has a description', () => {
    const schema = JSON.parse(fs.readFileSync(path.join(ROOT, 'push.config.schema.json'), 'utf8')) as SchemaNode;
    const missing: string[] = [];
    const walk = (node: SchemaNode, at: string) => {
      for (const [name, child] of Object.entries(node.properties ?? {})) {
        if (!child.description) missing.push(`${at}${name}`);
        walk(child, `${at}${name}.`);
      }
    };
    walk(schema, '');
    expect(missing).toEqual([]);
  });
});

interface SchemaNode {
  description?: string;
  properties?: Record<string, SchemaNode>;
}

function leafKeys(value: Record<string, unknown>, at = ''): string[] {
  return Object.entries(value).flatMap(([name, child]) =>
    child && typeof child === 'object' && !Array.isArray(child) ? leafKeys(child as Record<string, unknown>, `${at}${name}.`) : [`${at}${name}`],
  );
}

function schemaLeafKeys(node: SchemaNode, at = ''): string[] {
  return Object.entries(node.properties ?? {}).flatMap(([name, child]) =>
    child.properties ? schemaLeafKeys(child, `${at}${name}.`) : [`${at}${name}`],
  );
}
