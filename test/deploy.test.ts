/**
 * The deployment files shipped in the repository: the systemd units pass `systemd-analyze verify`
 * (where systemd is installed) with their hardening in place and command lines the CLI accepts;
 * the Dockerfile parses, runs Node 20 slim as a non-root user with a data volume, copies only
 * files that exist and are not docker-ignored, and its HEALTHCHECK command really probes /healthz.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasCommand, skipWithout } from './support/commands.js';
import { BIN, ROOT, runCli, tempDir } from './support/cli.js';
import { startServe, type ServeHandle } from './support/serve.js';

const UNITS = ['pushctl.service', 'pushctl-dispatch.service'];
const INSTALLED_BIN = '/usr/local/bin/pushctl';

/** systemd unit files: section -> key -> values (a key may repeat). */
function parseUnit(text: string): Map<string, Map<string, string[]>> {
  const sections = new Map<string, Map<string, string[]>>();
  let current: Map<string, string[]> | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      current = new Map();
      sections.set(header[1]!, current);
      continue;
    }
    const eq = line.indexOf('=');
    if (!current || eq < 0) throw new Error(`not a unit-file line: ${line}`);
    const key = line.slice(0, eq).trim();
    current.set(key, [...(current.get(key) ?? []), line.slice(eq + 1).trim()]);
  }
  return sections;
}

describe('systemd units (deploy/systemd)', () => {
  const units = Object.fromEntries(UNITS.map((name) => [name, fs.readFileSync(path.join(ROOT, 'deploy/systemd', name), 'utf8')]));

  it.skipIf(skipWithout(hasCommand('systemd-analyze')))('pass systemd-analyze verify without a warning', () => {
    const dir = tempDir('pushctl-units-');
    try {
      // The installed binary is not on this machine: point ExecStart at a stand-in that exists.
      const shim = path.join(dir, 'pushctl');
      fs.writeFileSync(shim, `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)} "$@"\n`, { mode: 0o755 });
      const files = UNITS.map((name) => {
        const file = path.join(dir, name);
        fs.writeFileSync(file, units[name]!.replaceAll(INSTALLED_BIN, shim));
        return file;
      });
      const result = spawnSync('systemd-analyze', ['verify', ...files], { encoding: 'utf8', timeout: 60_000 });
      const complaints = `${result.stdout}${result.stderr}`.split('\n').filter((line) => UNITS.some((name) => line.includes(name)));
      expect(complaints).toEqual([]);
      expect(result.status).toBe(0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  for (const name of UNITS) {
    it(`${name}: hardened, state in /var/lib/pushctl, secrets from a 0600 file, a command line the CLI accepts`, async () => {
      const unit = parseUnit(units[name]!);
      const service = unit.get('Service')!;
      const one = (key: string) => service.get(key)?.at(-1);
      expect(one('DynamicUser')).toBe('yes');
      expect(one('User')).toBe('pushctl'); // same name in both units: the same dynamic UID, one database
      expect(one('ProtectSystem')).toBe('strict');
      expect(one('StateDirectory')).toBe('pushctl');
      expect(one('NoNewPrivileges')).toBe('yes');
      expect(one('CapabilityBoundingSet')).toBe('');
      expect(one('EnvironmentFile')).toBe('/etc/pushctl/pushctl.env');
      expect(service.get('Environment')!.join(' ')).toContain('PUSHCTL_DB=/var/lib/pushctl/pushctl.db');
      expect(unit.get('Install')!.get('WantedBy')).toEqual(['multi-user.target']);
      const [binary, ...args] = one('ExecStart')!.split(/\s+/);
      expect(binary).toBe(INSTALLED_BIN);
      // Every flag of the command line exists (commander refuses unknown ones with exit 2).
      const help = await runCli([...args, '--help']);
      expect(help.code, help.stderr).toBe(0);
    });
  }
});

interface Instruction {
  keyword: string;
  args: string;
  line: number;
}

const KNOWN = new Set(['FROM', 'RUN', 'CMD', 'LABEL', 'EXPOSE', 'ENV', 'ADD', 'COPY', 'ENTRYPOINT', 'VOLUME', 'USER', 'WORKDIR', 'ARG', 'ONBUILD', 'STOPSIGNAL', 'HEALTHCHECK', 'SHELL']);

/** Dockerfile instructions, with line continuations joined and comments dropped. */
function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  let pending = '';
  let start = 0;
  text.split('\n').forEach((raw, index) => {
    const line = raw.trimEnd();
    if (!pending && (line.trim() === '' || line.trim().startsWith('#'))) return;
    if (pending && line.trim().startsWith('#')) return;
    if (!pending) start = index + 1;
    if (line.endsWith('\\')) {
      pending += line.slice(0, -1) + ' ';
      return;
    }
    const full = (pending + line).trim();
    pending = '';
    const match = /^([A-Za-z]+)\s+(.*)$/.exec(full);
    if (!match) throw new Error(`Dockerfile line ${start}: cannot parse "${full}"`);
    out.push({ keyword: match[1]!.toUpperCase(), args: match[2]!, line: start });
  });
  if (pending) throw new Error('Dockerfile ends in a line continuation');
  return out;
}

describe('Dockerfile', () => {
  const instructions = parseDockerfile(fs.readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8'));
  const lastFrom = instructions.map((i) => i.keyword).lastIndexOf('FROM');
  const final = instructions.slice(lastFrom);
  const get = (keyword: string) => final.filter((i) => i.keyword === keyword);
  /** The exec-form command of a HEALTHCHECK, after its --options. */
  const exec = (instruction: Instruction) => JSON.parse(instruction.args.replace(/^.*?\bCMD\s+/, '')) as string[];

  it('uses only known instructions, builds from node:20-slim and runs as a non-root user', () => {
    for (const i of instructions) expect(KNOWN.has(i.keyword), `line ${i.line}: ${i.keyword}`).toBe(true);
    for (const from of instructions.filter((i) => i.keyword === 'FROM')) expect(from.args).toMatch(/^node:20-slim\b/);
    const users = get('USER');
    expect(users.length).toBeGreaterThan(0);
    expect(users.at(-1)!.args).not.toMatch(/^(root|0)(:|$)/);
    // Nothing after the last USER switches back to root.
    expect(final.indexOf(users.at(-1)!)).toBeGreaterThan(final.findLastIndex((i) => i.keyword === 'RUN'));
  });

  it('keeps the database in a volume and checks its health on /healthz of the port it serves', () => {
    expect(get('VOLUME').map((i) => i.args)).toEqual(['["/data"]']);
    expect(get('WORKDIR').at(-1)!.args).toBe('/data');
    const port = get('EXPOSE')[0]!.args;
    const cmd = JSON.parse(get('CMD')[0]!.args) as string[];
    expect(cmd.slice(cmd.indexOf('--port'), cmd.indexOf('--port') + 2)).toEqual(['--port', port]);
    const health = get('HEALTHCHECK');
    expect(health).toHaveLength(1);
    expect(health[0]!.args).toContain(`http://127.0.0.1:${port}/healthz`);
  });

  it('copies only files that exist and that .dockerignore lets through', () => {
    const ignored = fs.readFileSync(path.join(ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter(Boolean);
    for (const copy of instructions.filter((i) => i.keyword === 'COPY' && !i.args.includes('--from='))) {
      const parts = copy.args.split(/\s+/).filter((p) => !p.startsWith('--'));
      for (const source of parts.slice(0, -1)) {
        expect(fs.existsSync(path.join(ROOT, source)), `line ${copy.line}: ${source}`).toBe(true);
        expect(ignored.some((pattern) => source === pattern || source.startsWith(pattern + '/')), `line ${copy.line}: ${source} is docker-ignored`).toBe(false);
      }
    }
  });

  it('runs a command line the CLI accepts', async () => {
    const entrypoint = JSON.parse(get('ENTRYPOINT')[0]!.args) as string[];
    const cmd = JSON.parse(get('CMD')[0]!.args) as string[];
    expect(entrypoint).toEqual(['pushctl']);
    const help = await runCli([...cmd, '--help']);
    expect(help.code, help.stderr).toBe(0);
  });

  describe('its HEALTHCHECK command', () => {
    let serve: ServeHandle;
    beforeAll(async () => {
      serve = await startServe();
    });
    afterAll(async () => {
      await serve.stop();
    });

    it('succeeds against a running server and fails when none answers', async () => {
      const health = get('HEALTHCHECK')[0]!;
      const argv = exec(health);
      expect(argv[0]).toBe('node');
      const port = new URL(serve.url).port;
      const probe = (p: string) => spawnSync(process.execPath, argv.slice(1).map((a) => a.replace(':8080/', `:${p}/`)), { timeout: 30_000 }).status;
      expect(probe(port)).toBe(0);
      await serve.stop();
      expect(probe(port)).toBe(1);
    });
  });
});

