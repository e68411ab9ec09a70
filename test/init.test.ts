/**
 * `pushctl init`: without a terminal it never asks (flags and defaults only); with one it is a
 * wizard (driven here through tmux, a real terminal). Either way it writes a 0600 config file that
 * pushctl then reads, and generates keys.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { BIN, openDb, runCli, runJson, tempDir } from './support/cli.js';
import { hasTmux, killSession, killTerminals, tmux, waitForScreen } from './support/terminal.js';
import { skipWithout } from './support/commands.js';

interface InitResult {
  config: string;
  database: string;
  publicKey: string;
  subject: string;
  keysCreated: boolean;
  port: number;
}

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

function workdir(): string {
  const dir = fs.realpathSync(tempDir('pushctl-init-'));
  dirs.push(dir);
  return dir;
}

const readConfig = (file: string) => JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, Record<string, unknown> | string>;
const mode = (file: string) => fs.statSync(file).mode & 0o777;

function activeKey(db: string): { public_key: string; subject: string } | undefined {
  const conn = openDb(db);
  try {
    return conn.prepare('SELECT public_key, subject FROM vapid_keys WHERE active = 1').get() as { public_key: string; subject: string } | undefined;
  } finally {
    conn.close();
  }
}

describe('init without a terminal', () => {
  it('never prompts: with no flags it uses the defaults, writes a 0600 config and generates keys', async () => {
    const dir = workdir();
    // stdin is a closed pipe: a prompt would fail or hang; init must finish on its own.
    const result = await runCli(['init'], { cwd: dir, env: { HOME: dir }, timeoutMs: 30_000 });
    expect(result.signal).toBeNull();
    expect(result.code).toBe(0);
    expect(result.stdout).not.toContain('?');
    expect(result.stderr).toMatch(/warning: no subject given; using mailto:webpush@example.com/);

    const file = path.join(dir, 'push.config.json');
    expect(mode(file)).toBe(0o600);
    const config = readConfig(file);
    expect(config.database).toBe('pushctl.db');
    expect(config.serve).toMatchObject({ port: 8080 });
    const token = (config.serve as { adminToken: string }).adminToken;
    expect(token.length).toBeGreaterThanOrEqual(16);
    expect(result.stdout + result.stderr).not.toContain(token);

    const key = activeKey(path.join(dir, 'pushctl.db'));
    expect(key?.public_key).toBeTruthy();
    expect(mode(path.join(dir, 'pushctl.db'))).toBe(0o600);
  });

  it('--yes with flags: the config says what the flags said, and pushctl then reads it from a subdirectory', async () => {
    const dir = workdir();
    const result = await runJson<InitResult>(
      ['init', '--yes', '--subject', 'mailto:ops@example.com', '--database', 'data/push.db', '--port', '9191'],
      { cwd: dir, env: { HOME: dir } },
    );
    const file = path.join(dir, 'push.config.json');
    expect(result).toMatchObject({ config: file, database: path.join(dir, 'data/push.db'), subject: 'mailto:ops@example.com', keysCreated: true, port: 9191 });
    expect(readConfig(file)).toMatchObject({ database: 'data/push.db', vapid: { subject: 'mailto:ops@example.com' }, serve: { port: 9191 } });
    expect(activeKey(path.join(dir, 'data/push.db'))).toEqual({ public_key: result.publicKey, subject: 'mailto:ops@example.com' });

    fs.mkdirSync(path.join(dir, 'site', 'deep'), { recursive: true });
    const shown = await runJson<{ publicKey: string; subject: string }>(['keys', 'show'], { cwd: path.join(dir, 'site', 'deep'), env: { HOME: dir } });
    expect(shown).toMatchObject({ publicKey: result.publicKey, subject: 'mailto:ops@example.com' });
    const config = await runJson<{ configPath: string; serve: { port: number; adminToken: boolean } }>(['config', 'show'], { cwd: path.join(dir, 'site'), env: { HOME: dir } });
    expect(config).toMatchObject({ configPath: file, serve: { port: 9191, adminToken: true } });
  });

  it('--config names the file to write', async () => {
    const dir = workdir();
    const result = await runJson<InitResult>(['init', '--config', 'conf/pushctl.json', '--subject', 'https://example.com'], { cwd: dir, env: { HOME: dir } });
    expect(result.config).toBe(path.join(dir, 'conf/pushctl.json'));
    expect(fs.existsSync(path.join(dir, 'push.config.json'))).toBe(false);
    expect(result.database).toBe(path.join(dir, 'conf/pushctl.db'));
    expect(mode(path.join(dir, 'conf/pushctl.json'))).toBe(0o600);
  });

  it('refuses to overwrite a config file without --force, and keeps existing keys when it may', async () => {
    const dir = workdir();
    const first = await runJson<InitResult>(['init', '--subject', 'mailto:ops@example.com'], { cwd: dir, env: { HOME: dir } });
    const before = fs.readFileSync(path.join(dir, 'push.config.json'), 'utf8');

    const refused = await runCli(['init', '--subject', 'mailto:other@example.com'], { cwd: dir, env: { HOME: dir } });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/push.config.json already exists; re-run with --force/);
    expect(fs.readFileSync(path.join(dir, 'push.config.json'), 'utf8')).toBe(before);

    const forced = await runJson<InitResult>(['init', '--force', '--subject', 'mailto:other@example.com', '--port', '8181'], { cwd: dir, env: { HOME: dir } });
    expect(forced).toMatchObject({ keysCreated: false, publicKey: first.publicKey, subject: 'mailto:other@example.com', port: 8181 });
    expect(readConfig(path.join(dir, 'push.config.json'))).toMatchObject({ vapid: { subject: 'mailto:other@example.com' }, serve: { port: 8181 } });
  });

  const invalid: [string[], RegExp][] = [
    [['--subject', 'mailto:me@localhost'], /local host/],
    [['--subject', 'http://example.com'], /mailto: or https:/],
    [['--port', '70000'], /--port: "70000" must be a whole number from 1 to 65535/],
    [['--port', 'http'], /--port: "http" must be a whole number from 1 to 65535/],
  ];
  for (const [args, message] of invalid) {
    it(`exits 2 for ${args.join(' ')} and writes nothing`, async () => {
      const dir = workdir();
      const result = await runCli(['init', '--yes', ...args], { cwd: dir, env: { HOME: dir } });
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(message);
      expect(fs.readdirSync(dir)).toEqual([]);
    });
  }
});

afterAll(() => killTerminals());

describe.skipIf(skipWithout(hasTmux))('init in a terminal (tmux)', () => {
  function start(dir: string, name: string): string {
    const session = `${name}-${Date.now()}`;
    const command = `cd '${dir}' && HOME='${dir}' NO_COLOR=1 '${process.execPath}' '${BIN}' init; echo "EXIT=$?"; sleep 30`;
    tmux('new-session', '-d', '-s', session, '-x', '150', '-y', '40', command);
    return session;
  }

  it('asks for the subject (re-asking after an invalid one), the database and the port', async () => {
    const dir = workdir();
    const session = start(dir, 'wizard');
    try {
      await waitForScreen(session, /Contact for push services/);
      tmux('send-keys', '-t', session, 'mailto:me@localhost', 'Enter');
      await waitForScreen(session, /reject localhost subjects/);
      tmux('send-keys', '-t', session, ...Array<string>(30).fill('BSpace'));
      tmux('send-keys', '-t', session, 'mailto:ops@example.com', 'Enter');
      await waitForScreen(session, /Database file/);
      tmux('send-keys', '-t', session, 'store.db', 'Enter');
      await waitForScreen(session, /Port for "pushctl serve"/);
      tmux('send-keys', '-t', session, '9292', 'Enter');
      const screen = await waitForScreen(session, /EXIT=\d+/);
      expect(screen).toContain('EXIT=0');
      expect(screen).toContain('generated VAPID keys');
    } finally {
      killSession(session);
    }
    expect(readConfig(path.join(dir, 'push.config.json'))).toMatchObject({ database: 'store.db', vapid: { subject: 'mailto:ops@example.com' }, serve: { port: 9292 } });
    expect(activeKey(path.join(dir, 'store.db'))?.subject).toBe('mailto:ops@example.com');
  });

  it('Ctrl-C cancels without writing anything', async () => {
    const dir = workdir();
    const session = start(dir, 'cancel');
    try {
      await waitForScreen(session, /Contact for push services/);
      tmux('send-keys', '-t', session, 'C-c');
      const screen = await waitForScreen(session, /EXIT=\d+/);
      expect(screen).toContain('EXIT=130');
      expect(screen).not.toMatch(/\n\s+at /);
    } finally {
      killSession(session);
    }
    expect(fs.existsSync(path.join(dir, 'push.config.json'))).toBe(false);
  });

  it('colours output in a terminal, and not with --no-color or NO_COLOR', async () => {
    const dir = workdir();
    const screens: Record<string, string> = {};
    const variants: Record<string, string> = { plain: '', flag: '--no-color', env: '' };
    for (const [name, flag] of Object.entries(variants)) {
      const session = `colour-${name}-${Date.now()}`;
      const env = name === 'env' ? 'NO_COLOR=1 ' : '';
      tmux('new-session', '-d', '-s', session, '-x', '150', '-y', '40',
        `cd '${dir}' && HOME='${dir}' ${env}'${process.execPath}' '${BIN}' keys generate --force --db ${name}.db --subject mailto:ops@example.com ${flag}; echo "EXIT=$?"; sleep 30`);
      try {
        await waitForScreen(session, /EXIT=\d+/);
        screens[name] = tmux('capture-pane', '-p', '-e', '-t', session);
      } finally {
        killSession(session);
      }
    }
    expect(screens.plain).toContain('\u001b[32m');
    expect(screens.flag).toContain('VAPID keys generated');
    expect(screens.flag).not.toContain('\u001b[32m');
    expect(screens.env).toContain('VAPID keys generated');
    expect(screens.env).not.toContain('\u001b[32m');
  });

  it('--yes in a terminal does not ask', async () => {
    const dir = workdir();
    const session = `yes-${Date.now()}`;
    tmux('new-session', '-d', '-s', session, '-x', '150', '-y', '40', `cd '${dir}' && HOME='${dir}' '${process.execPath}' '${BIN}' init --yes --subject mailto:ops@example.com; echo "EXIT=$?"; sleep 30`);
    try {
      const screen = await waitForScreen(session, /EXIT=\d+/);
      expect(screen).toContain('EXIT=0');
      expect(screen).not.toContain('Contact for push services');
    } finally {
      killSession(session);
    }
  });
});
