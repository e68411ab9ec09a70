/**
 * The command line as a whole: --help and --version (and that they load no heavy module), global
 * options before or after the subcommand, exit codes, --json output and errors.
 */
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { spawnSync } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { missingStoreMessage, ON_POSTGRES, storeExists, storeName } from './support/backend.js';
import { BIN, cliEnv, ROOT, runCli, runJson, tempDir } from './support/cli.js';
import { FCM_ORIGIN, fakeSubscription } from './support/subscriptions.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

function workdir(): string {
  const dir = fs.realpathSync(tempDir('pushctl-cli-'));
  dirs.push(dir);
  return dir;
}

const packageVersion = (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

/**
 * Runs the CLI with an ESM resolve hook and a CommonJS load hook that record every module it
 * loads, so a test can say which packages a command pulled in.
 */
function loadedPackages(args: string[], cwd: string): { code: number | null; packages: Set<string> } {
  const trace = path.join(cwd, 'trace.txt');
  const hooks = path.join(cwd, 'trace-hooks.mjs');
  const register = path.join(cwd, 'trace-register.mjs');
  fs.writeFileSync(
    hooks,
    `import fs from 'node:fs';
export async function resolve(specifier, context, next) {
  const result = await next(specifier, context);
  fs.appendFileSync(${JSON.stringify(trace)}, result.url + '\\n');
  return result;
}
`,
  );
  // CommonJS requires too (bin/pushctl.js and the fast path's bundles are CommonJS).
  fs.writeFileSync(
    register,
    `import fs from 'node:fs';
import Module, { register } from 'node:module';
register(${JSON.stringify(pathToFileURL(hooks).href)});
const load = Module._load;
Module._load = function (request, parent, isMain) {
  try {
    fs.appendFileSync(${JSON.stringify(trace)}, Module._resolveFilename(request, parent, isMain) + '\\n');
  } catch {}
  return load.apply(this, arguments);
};
`,
  );
  fs.writeFileSync(trace, '');
  const result = spawnSync(process.execPath, ['--import', pathToFileURL(register).href, BIN, ...args], { cwd, env: cliEnv({ HOME: cwd }), encoding: 'utf8' });
  const packages = new Set(
    fs
      .readFileSync(trace, 'utf8')
      .split('\n')
      .map((url) => /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url)?.[1])
      .filter((name): name is string => Boolean(name)),
  );
  return { code: result.status, packages };
}

const HEAVY = ['better-sqlite3', 'web-push', '@inquirer/prompts', 'undici', 'cosmiconfig', 'zod', 'cli-table3', 'cli-progress', 'luxon', 'croner'];

describe('help and version', () => {
  it('--version prints the package version', async () => {
    const result = await runCli(['--version']);
    expect(result).toMatchObject({ code: 0, stdout: `${packageVersion}\n` });
    expect((await runCli(['-V'])).stdout).toBe(`${packageVersion}\n`);
  });

  it('--help lists the commands and the global options', async () => {
    const result = await runCli(['--help']);
    expect(result.code).toBe(0);
    for (const text of ['init', 'keys', 'config', '--config <path>', '--db <path>', '--json', '--no-color', '--quiet', '--verbose']) {
      expect(result.stdout).toContain(text);
    }
    const keysHelp = await runCli(['keys', 'generate', '--help']);
    expect(keysHelp.code).toBe(0);
    expect(keysHelp.stdout).toContain('--subject <url>');
    expect(keysHelp.stdout).toContain('--force');
    // Global options are shown on subcommands too, since they are accepted there.
    expect(keysHelp.stdout).toContain('--db <path>');
  });

  it('--help loads no heavy module, --version no package at all; a command loads what it needs', () => {
    const dir = workdir();
    for (const args of [['--help'], ['keys', '--help'], ['keys', 'generate', '--help']]) {
      const { code, packages } = loadedPackages(args, dir);
      expect(code, args.join(' ')).toBe(0);
      expect(packages.has('commander'), 'the trace works').toBe(true);
      expect(HEAVY.filter((name) => packages.has(name)), args.join(' ')).toEqual([]);
    }
    const version = loadedPackages(['--version'], dir);
    expect(version.code).toBe(0);
    expect([...version.packages]).toEqual([]);
    // No config file anywhere: neither the config search library nor the schema library loads.
    const show = loadedPackages(['keys', 'generate', '--subject', 'mailto:ops@example.com'], dir);
    expect(show.code).toBe(0);
    expect(show.packages.has('better-sqlite3')).toBe(true);
    expect(show.packages.has('cosmiconfig')).toBe(false);
    expect(show.packages.has('zod')).toBe(false);
    // The count a cron job runs in a loop skips commander (src/cli/fast-path.ts): only the SQLite driver loads.
    for (const args of [['subscriptions', 'count'], ['--json', 'subs', 'count', '--db', 'pushctl.db', '--category', 'news', '-q']]) {
      const count = loadedPackages(args, dir);
      expect(count.code, args.join(' ')).toBe(args.includes('news') ? 1 : 0);
      expect(count.packages.has('better-sqlite3'), args.join(' ')).toBe(true);
      expect([...count.packages].filter((name) => name === 'commander' || (HEAVY.includes(name) && name !== 'better-sqlite3')), args.join(' ')).toEqual([]);
    }
    // With one, both do.
    fs.writeFileSync(path.join(dir, 'push.config.json'), JSON.stringify({ database: 'pushctl.db' }));
    const configured = loadedPackages(['keys', 'show'], dir);
    expect(configured.code).toBe(0);
    expect(configured.packages.has('cosmiconfig')).toBe(true);
    expect(configured.packages.has('zod')).toBe(true);
  });
});

describe('the fast path', () => {
  it('answers exactly as commander does, and leaves every other shape to commander', async () => {
    const dir = workdir();
    await runJson(['keys', 'generate', '--subject', 'mailto:ops@example.com', '--db', 'x.db'], { cwd: dir });
    // Each pair: a shape the fast path takes, and one commander parses (`--opt=value`, repeated options).
    const pairs = [
      [['subscriptions', 'count', '--db', 'x.db'], ['subscriptions', 'count', '--db=x.db']],
      [['--json', 'subs', 'count', '--db', 'x.db', '--category', 'nope'], ['subs', 'count', '--json', '--db=x.db', '--category=nope']],
      [['subs', 'count', '--category', 'nope', '--db', 'x.db'], ['subs', 'count', '--category=nope', '--db', 'y.db', '--db', 'x.db']],
      [['-c', 'missing.json', 'subscriptions', 'count'], ['--config=missing.json', 'subscriptions', 'count']],
      [['subscriptions', 'count', '--db', 'missing.db', '--no-color', '-q'], ['subscriptions', 'count', '--db=missing.db', '--no-color', '-q']],
      [['subscriptions', 'count', '--db', 'x.db', 'extra'], ['subscriptions', 'count', '--db=x.db', 'extra']],
      [['subscriptions', 'count', '--db', 'x.db', '--help'], ['subscriptions', 'count', '--db=x.db', '--help']],
    ];
    for (const [fast, commander] of pairs) {
      const [a, b] = await Promise.all([runCli(fast!, { cwd: dir }), runCli(commander!, { cwd: dir })]);
      expect(a, fast!.join(' ')).toEqual(b);
    }
    expect((await runCli(['subscriptions', 'count', '--db', 'x.db'], { cwd: dir })).stdout).toBe('0\n');
  });
});

describe('global options', () => {
  it('are accepted before or after the subcommand', async () => {
    const dir = workdir();
    await runJson(['keys', 'generate', '--subject', 'mailto:ops@example.com', '--db', 'x.db'], { cwd: dir });
    const variants = [
      ['--db', 'x.db', '--json', 'keys', 'show'],
      ['--db', 'x.db', 'keys', '--json', 'show'],
      ['keys', 'show', '--json', '--db', 'x.db'],
      ['--json', 'keys', 'show', '--db=x.db', '--no-color', '--quiet'],
      ['--no-color', '--verbose', 'keys', 'show', '--json', '--db', 'x.db'],
    ];
    const outputs = [];
    for (const args of variants) {
      const result = await runCli(args, { cwd: dir });
      expect(result.code, args.join(' ')).toBe(0);
      outputs.push(JSON.parse(result.stdout) as { publicKey: string });
    }
    expect(new Set(outputs.map((o) => o.publicKey)).size).toBe(1);
    expect(storeExists(path.join(dir, 'pushctl.db'))).toBe(false);
  });

  it('--quiet silences warnings but not results or errors', async () => {
    const dir = workdir();
    const loud = await runCli(['keys', 'generate'], { cwd: dir });
    expect(loud.stderr).toContain('warning:');
    const quiet = await runCli(['keys', 'generate', '--force', '-q'], { cwd: dir });
    expect(quiet.code).toBe(0);
    expect(quiet.stderr).toBe('');
    expect(quiet.stdout).toContain('public key:');
    const failing = await runCli(['keys', 'generate', '-q'], { cwd: dir });
    expect(failing.code).toBe(1);
    expect(failing.stderr).toContain('error:');
  });

  it('no colour codes when output is not a terminal, even without NO_COLOR', async () => {
    const dir = workdir();
    const plain = await runCli(['keys', 'generate'], { cwd: dir, env: { NO_COLOR: undefined } });
    expect(plain.stdout + plain.stderr).not.toContain('\u001b[');
  });
});

describe('exit codes and errors', () => {
  const usage: string[][] = [
    ['bogus'],
    ['keys', 'bogus'],
    ['keys', 'generate', '--bogus'],
    ['keys', 'import'],
    ['keys', 'generate', '--subject'],
  ];
  for (const args of usage) {
    it(`exits 2 for a usage error: pushctl ${args.join(' ')}`, async () => {
      const result = await runCli(args, { cwd: workdir() });
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(/error: /);
      expect(result.stderr).not.toMatch(/\n\s+at /);
    });
  }

  it('--json: usage errors from the command line are the same JSON error object, exit 2', async () => {
    const cases: [string[], string, RegExp][] = [
      [['keys', 'generate', '--bogus', '--json'], 'commander.unknownOption', /unknown option '--bogus'/],
      [['--json', 'keys', 'import'], 'commander.missingArgument', /missing required argument 'file'/],
      [['send', '--all', '--urgency', 'now', '--json'], 'commander.invalidArgument', /--urgency/],
      [['keys', 'gen', '--json'], 'commander.unknownCommand', /unknown command 'gen' \(Did you mean generate\?\)/],
    ];
    for (const [args, code, message] of cases) {
      const result = await runCli(args, { cwd: workdir() });
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.stdout).toBe('');
      const lines = result.stderr.trim().split('\n');
      expect(lines, result.stderr).toHaveLength(1);
      const error = JSON.parse(lines[0]!) as { error: { message: string; details: Record<string, unknown> } };
      expect(error.error.message).toMatch(message);
      expect(error.error.details).toEqual({ kind: 'usage', code });
    }
  });

  it('an abbreviated command suggests the commands it starts', async () => {
    const result = await runCli(['keys', 'gen'], { cwd: workdir() });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("error: unknown command 'gen'\n(Did you mean generate?)");
  });

  it('a missing command shows help on stderr and exits 2; asking for help exits 0', async () => {
    for (const args of [[], ['keys'], ['subscriptions']]) {
      const result = await runCli(args, { cwd: workdir() });
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.stderr).toMatch(/Usage: pushctl/);
      expect(result.stdout).toBe('');
    }
    for (const args of [['help'], ['--help'], ['help', 'keys'], ['keys', '--help']]) {
      const result = await runCli(args, { cwd: workdir() });
      expect(result.code, args.join(' ')).toBe(0);
      expect(result.stdout).toMatch(/Usage: pushctl/);
    }
  });

  it('exits 0 on success, 1 when the operation fails, 2 for bad input', async () => {
    const dir = workdir();
    expect((await runCli(['keys', 'generate', '--subject', 'mailto:ops@example.com'], { cwd: dir })).code).toBe(0);
    expect((await runCli(['keys', 'generate'], { cwd: dir })).code).toBe(1);
    expect((await runCli(['keys', 'generate', '--subject', 'mailto:me@localhost', '--force'], { cwd: dir })).code).toBe(2);
  });

  it('--json: the result on stdout and errors on stderr are JSON', async () => {
    const dir = workdir();
    const ok = await runCli(['keys', 'generate', '--subject', 'mailto:ops@example.com', '--json'], { cwd: dir });
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout)).toHaveProperty('publicKey');
    expect(ok.stderr).toBe('');
    const failed = await runCli(['keys', 'generate', '--json'], { cwd: dir });
    expect(failed.code).toBe(1);
    expect(failed.stdout).toBe('');
    expect(JSON.parse(failed.stderr)).toMatchObject({ error: { message: expect.stringContaining('already exist'), details: { kind: 'conflict' } } });
    const config = await runCli(['config', 'show', '--json'], { cwd: dir });
    expect(JSON.parse(config.stdout)).toHaveProperty('database', storeName(path.join(dir, 'pushctl.db')));
  });
});

describe('a directory without a store', () => {
  it('only init, keys generate|import and serve create one; every other command refuses, naming the file and how to create it', async () => {
    const dir = workdir();
    const db = path.join(dir, 'pushctl.db');
    const commands = [
      ['subscriptions', 'list'],
      ['subscriptions', 'count'],
      ['subscriptions', 'export'],
      ['subscriptions', 'prune', '--older-than', '30d'],
      ['subscriptions', 'import', '-'],
      ['categories', 'list'],
      ['categories', 'add', 'news'],
      ['send', '--all', '--title', 'Hi'],
      ['schedule', '--all', '--title', 'Hi', '--in', '1h'],
      ['dispatch'],
      ['notifications', 'list'],
      ['keys', 'show'],
      ['keys', 'export'],
    ];
    for (const args of commands) {
      const result = await runCli(args, { cwd: dir, input: '' });
      expect(result.code, `${args.join(' ')}: ${result.stderr}`).toBe(1);
      expect(result.stderr).toContain(missingStoreMessage(db));
      expect(result.stderr).toContain('"pushctl init"');
      expect(storeExists(db), args.join(' ')).toBe(false);
    }
    const json = await runCli(['send', '--all', '--title', 'Hi', '--json'], { cwd: dir });
    const where = ON_POSTGRES ? { database: storeName(db) } : { file: db };
    expect(JSON.parse(json.stderr)).toMatchObject({ error: { details: { kind: 'not-found', ...where } } });
    expect((await runCli(['keys', 'generate', '--subject', 'mailto:ops@example.com'], { cwd: dir })).code).toBe(0);
    expect(storeExists(db)).toBe(true);
  });

  it('send to nobody exits 1 and records nothing, unless --allow-empty', async () => {
    const dir = workdir();
    expect((await runCli(['keys', 'generate', '--subject', 'mailto:ops@example.com'], { cwd: dir })).code).toBe(0);
    const refused = await runCli(['send', '--all', '--title', 'Hi'], { cwd: dir });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/no subscription matches the target: nothing sent \(pass --allow-empty/);
    expect(await runJson<unknown[]>(['notifications', 'list'], { cwd: dir })).toEqual([]);
    const allowed = await runCli(['send', '--all', '--title', 'Hi', '--allow-empty'], { cwd: dir });
    expect(allowed.code, allowed.stderr).toBe(0);
    expect(allowed.stderr).toMatch(/nobody gets it/);
    expect(await runJson<unknown[]>(['notifications', 'list'], { cwd: dir })).toHaveLength(1);
  });
});

describe('small things', () => {
  it('counts read right in the singular: "1 subscriber", "1 recipient"', async () => {
    const dir = workdir();
    expect((await runCli(['keys', 'generate', '--subject', 'mailto:ops@example.com'], { cwd: dir })).code).toBe(0);
    expect((await runCli(['subscriptions', 'import', '-'], { cwd: dir, input: JSON.stringify(fakeSubscription({ origin: FCM_ORIGIN })) })).code).toBe(0);
    const scheduled = await runCli(['schedule', '--all', '--title', 'Hi', '--in', '1h'], { cwd: dir });
    expect(scheduled.code, scheduled.stderr).toBe(0);
    expect(scheduled.stdout).toContain('(1 subscriber now;');
    const id = /notification (\d+) scheduled/.exec(scheduled.stdout)![1]!;
    const shown = await runCli(['notifications', 'show', id], { cwd: dir });
    expect(shown.stdout).toMatch(/counts: +0 recipients/);
  });

  it('ships the MIT licence it declares', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { license: string; files: string[] };
    expect(pkg.license).toBe('MIT');
    expect(pkg.files).toContain('LICENSE');
    const text = fs.readFileSync(path.join(ROOT, 'LICENSE'), 'utf8');
    expect(text).toMatch(/^MIT License\n\nCopyright \(c\) 2026 pushctl contributors\n/);
  });
});
